import AirlockCore
@testable import AirlockPolicy

/// Fixed identities for tests (well-formed Ed25519 identity peer IDs).
enum IDs {
    static let reviewer = try! PeerID("12D3KooWJ1eukycpR36KBhsdgVzTixpvmECV6YTZJSoct1f4Z1gc")
    static let ollama = try! PeerID("12D3KooWHFmLe1qnPUWizb7BGJbvd6Tvk5nWfxtX8ZcRb6dqFuEf")
    static let gitMirror = try! PeerID("12D3KooWHFCUunzf9KhbNBPKGwtqqVEqnDe5WQmseQia1unfAJMx")
    static let lab = try! PeerID("12D3KooWDg48RahEt2ZrFjyfWgHevyoka6pU2t3ZExUTrz1Ya4B6")
    static let ciRunner = try! PeerID("12D3KooWDbziXbf1h1YrET6sKLWVwv1MkCVyZyzy6rb6NAiKZd6g")
    static let runA = try! PeerID("12D3KooWPKr3Nnv8mWTqo6thYnhsyCa6uyHRgYVr62Mt7aUpmCVc")
    static let runB = try! PeerID("12D3KooWQDSsf24ibJdHPDQmjNy8adxmF2xuLrJTYXSpsfrmpPUn")
    static let stranger = try! PeerID("12D3KooWDGRPrwY6qE66hwpi2bH2G1Fn6xqkqH4G9RcPBW51BFYy")
}

/// The problems `Policy.parse` reports for `text`, as printed; empty if it loads.
func problems(_ text: String, file: String = "p.json") -> [String] {
    do {
        _ = try Policy.parse(text: text, file: file)
        return []
    } catch {
        return error.problems.map(\.description)
    }
}

/// Line and column (1-based, in Unicode scalars) where `marker` first occurs in `text`, found
/// independently of the parser so tests state positions by content.
func position(of marker: String, in text: String, occurrence: Int = 1) -> String {
    var seen = 0
    var line = 1, column = 1
    let scalars = Array(text.unicodeScalars)
    let m = Array(marker.unicodeScalars)
    for i in scalars.indices {
        if scalars[i...].starts(with: m) {
            seen += 1
            if seen == occurrence { return "\(line):\(column)" }
        }
        if scalars[i] == "\n" { line += 1; column = 1 } else { column += 1 }
    }
    fatalError("marker \(marker) not found")
}

/// The example policy shipped in Relay/, found from this file.
func examplePolicyPath() -> String { packageRoot() + "/Relay/policy.example.json" }

/// The package root, from this file's path (…/Tests/AirlockPolicyTests/PolicyTestSupport.swift).
func packageRoot() -> String {
    "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
}
