/// A Noise handshake pattern (Noise rev 34 §7): pre-message tokens for each side and the
/// message token lists, which alternate initiator → responder starting with the initiator.
struct NoisePattern: Sendable, Equatable {
    enum Token: String, Sendable { case e, s, ee, es, se, ss }

    let name: String
    let initiatorPreMessage: [Token]
    let responderPreMessage: [Token]
    let messages: [[Token]]

    /// One-way patterns (N, K, X) have a single handshake message and only initiator→responder traffic.
    var isOneWay: Bool { messages.count == 1 }

    /// The suffix every protocol name we support ends with: DH, cipher and hash are fixed (wire.md §2.1).
    static let suiteSuffix = "_25519_ChaChaPoly_SHA256"

    /// Looks up `Noise_<pattern>_25519_ChaChaPoly_SHA256`; nil for another suite or an unknown pattern.
    static func forProtocolName(_ protocolName: String) -> NoisePattern? {
        guard protocolName.hasPrefix("Noise_"), protocolName.hasSuffix(suiteSuffix) else { return nil }
        let core = protocolName.dropFirst("Noise_".count).dropLast(suiteSuffix.count)
        return named(String(core))
    }

    static func named(_ name: String) -> NoisePattern? {
        guard let (ipre, rpre, msgs) = table[name] else { return nil }
        func tokens(_ s: String) -> [Token] {
            s.split(separator: ",").map { Token(rawValue: $0.trimmingSpaces)! }
        }
        return NoisePattern(name: name, initiatorPreMessage: tokens(ipre), responderPreMessage: tokens(rpre),
                            messages: msgs.map(tokens))
    }

    /// Noise rev 34 §7.4 (one-way), §7.5 (interactive fundamental) and §7.6 (deferred) patterns:
    /// (initiator pre-message, responder pre-message, messages).
    static let table: [String: (String, String, [String])] = [
        "N": ("", "s", ["e, es"]),
        "K": ("s", "s", ["e, es, ss"]),
        "X": ("", "s", ["e, es, s, ss"]),

        "NN": ("", "", ["e", "e, ee"]),
        "NK": ("", "s", ["e, es", "e, ee"]),
        "NX": ("", "", ["e", "e, ee, s, es"]),
        "KN": ("s", "", ["e", "e, ee, se"]),
        "KK": ("s", "s", ["e, es, ss", "e, ee, se"]),
        "KX": ("s", "", ["e", "e, ee, se, s, es"]),
        "XN": ("", "", ["e", "e, ee", "s, se"]),
        "XK": ("", "s", ["e, es", "e, ee", "s, se"]),
        "XX": ("", "", ["e", "e, ee, s, es", "s, se"]),
        "IN": ("", "", ["e, s", "e, ee, se"]),
        "IK": ("", "s", ["e, es, s, ss", "e, ee, se"]),
        "IX": ("", "", ["e, s", "e, ee, se, s, es"]),

        "NK1": ("", "s", ["e", "e, ee, es"]),
        "NX1": ("", "", ["e", "e, ee, s", "es"]),
        "X1N": ("", "", ["e", "e, ee", "s", "se"]),
        "X1K": ("", "s", ["e, es", "e, ee", "s", "se"]),
        "XK1": ("", "s", ["e", "e, ee, es", "s, se"]),
        "X1K1": ("", "s", ["e", "e, ee, es", "s", "se"]),
        "X1X": ("", "", ["e", "e, ee, s, es", "s", "se"]),
        "XX1": ("", "", ["e", "e, ee, s", "es, s, se"]),
        "X1X1": ("", "", ["e", "e, ee, s", "es, s", "se"]),
        "K1N": ("s", "", ["e", "e, ee", "se"]),
        "K1K": ("s", "s", ["e, es", "e, ee", "se"]),
        "KK1": ("s", "s", ["e", "e, ee, se, es"]),
        "K1K1": ("s", "s", ["e", "e, ee, es", "se"]),
        "K1X": ("s", "", ["e", "e, ee, s, es", "se"]),
        "KX1": ("s", "", ["e", "e, ee, se, s", "es"]),
        "K1X1": ("s", "", ["e", "e, ee, s", "se, es"]),
        "I1N": ("", "", ["e, s", "e, ee", "se"]),
        "I1K": ("", "s", ["e, es, s", "e, ee", "se"]),
        "IK1": ("", "s", ["e, s", "e, ee, se, es"]),
        "I1K1": ("", "s", ["e, s", "e, ee, es", "se"]),
        "I1X": ("", "", ["e, s", "e, ee, s, es", "se"]),
        "IX1": ("", "", ["e, s", "e, ee, se, s", "es"]),
        "I1X1": ("", "", ["e, s", "e, ee, s", "se, es"]),
    ]

    static func == (a: NoisePattern, b: NoisePattern) -> Bool { a.name == b.name }
}

private extension Substring {
    var trimmingSpaces: String { String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed()) }
}
