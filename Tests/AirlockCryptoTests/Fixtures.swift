import Foundation
import AirlockCore

/// Test helpers: fixture files (found from this file's path) and hex.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }
}

/// Hex to bytes for literals in tests; traps on a typo in the test itself.
func hex(_ s: String) -> [UInt8] {
    guard let b = Hex.decode(s) else { preconditionFailure("bad hex literal in test: \(s)") }
    return b
}
