import Foundation
import AirlockCore

/// Loads known-answer vectors from Tests/Fixtures (copied from the wire digest; never read elsewhere).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The fixture file `name` as a string dictionary (numbers come back as their text).
    static func load(_ name: String) throws -> [String: String] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        return object.mapValues { "\($0)" }
    }
}

/// Hex to bytes for test literals; traps on a typo in the test itself.
func hex(_ s: String) -> [UInt8] {
    let clean = s.filter { !$0.isWhitespace }
    guard let bytes = Hex.decode(clean) else { preconditionFailure("bad hex in test: \(s)") }
    return bytes
}
