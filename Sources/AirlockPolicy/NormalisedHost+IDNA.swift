internal import Foundation

/// Internationalised names in exit requests. Rules are written in ASCII (`xn--` form), so a
/// request's Unicode name is turned into that form before it is matched, close to IDNA2008
/// (RFC 5890–5892) with the UTS #46 dot and case mapping in front:
/// 1. the ideographic and full-width full stops (U+3002, U+FF0E, U+FF61) become `.`;
/// 2. the text is lowercased (Unicode full case mapping) and put in NFC;
/// 3. each label still holding non-ASCII is checked and Punycode-encoded with `xn--` in front.
///
/// A label is refused unless every character is a letter (Ll, Lu, Lo, Lm), a non-spacing or
/// spacing mark (Mn, Mc), a decimal digit (Nd) or `-`: the base set of RFC 5892 §2.1, which
/// leaves out symbols, punctuation, spaces, controls, bidi overrides and zero-width joiners
/// (IDNA2008 allows ZWJ/ZWNJ only in contexts this reader does not check, so it refuses them).
/// It is also refused when it starts with a mark (RFC 5891 §4.2.3.2), starts or ends with `-`
/// (§4.2.3.1), starts with `xn--`, or changes under NFKC: compatibility characters such as
/// full-width letters and digits (`ｅｘａｍｐｌｅ`, `１２７`) or ligatures would otherwise become a
/// different name than the one a browser reads, and IDNA2008 disallows them too.
///
/// Not done: the bidi rule (RFC 5893) and the contextual rules; they protect readers of names
/// from look-alikes, while the exit only compares the ASCII form with rules. Unlike IDNA2003,
/// `ß` and final sigma are kept (`straße` → `xn--strae-oqa`), as IDNA2008 and browsers do.
extension NormalisedHost {
    /// The longest request host read at all, in UTF-8 bytes. A name's ASCII form has at most
    /// `maxNameLength` characters and each character of an NFC label adds at least one to it, in
    /// at most 4 bytes of UTF-8, so no acceptable host written in NFC is longer (decomposed text
    /// past the cap is refused). The cap bounds the work done on a hostile request before any
    /// Unicode processing.
    public static let maxRequestLength = 4 * maxNameLength

    /// `text` with its non-ASCII labels in `xn--` form (see the extension's contract); ASCII
    /// text is returned unchanged. The result still needs the ASCII checks (`normaliseName`).
    static func asciiForm(_ text: Substring) -> Result<String, PatternError> {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return .success(String(text)) }
        var mapped = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            mapped.append(s == "\u{3002}" || s == "\u{FF0E}" || s == "\u{FF61}" ? "." : s)
        }
        let folded = String(mapped).lowercased().precomposedStringWithCanonicalMapping
        var labels: [String] = []
        for label in folded.unicodeScalars.split(separator: ".", omittingEmptySubsequences: false) {
            let scalars = Array(label)
            guard !scalars.allSatisfy(\.isASCII) else {
                labels.append(String(String.UnicodeScalarView(scalars)))
                continue
            }
            switch encodeLabel(scalars, in: text) {
            case .success(let ascii): labels.append(ascii)
            case .failure(let e): return .failure(e)
            }
        }
        return .success(labels.joined(separator: "."))
    }

    /// One lowercased NFC label holding non-ASCII, checked and encoded as `xn--…`.
    private static func encodeLabel(_ scalars: [Unicode.Scalar], in text: Substring) -> Result<String, PatternError> {
        let label = String(String.UnicodeScalarView(scalars))
        if let bad = scalars.first(where: { !isLabelScalar($0) }) {
            let code = "U+" + String(bad.value, radix: 16, uppercase: true)
            return .failure(PatternError("host name \"\(text)\" has \(code) in label \"\(label)\"; a label may hold only letters, marks, digits and '-'"))
        }
        if isMark(scalars[0]) { return .failure(PatternError("host name label \"\(label)\" starts with a combining mark")) }
        if scalars.first == "-" || scalars.last == "-" {
            return .failure(PatternError("host name label \"\(label)\" starts or ends with '-'"))
        }
        if scalars.starts(with: Array("xn--".unicodeScalars)) {
            return .failure(PatternError("host name label \"\(label)\" starts with xn-- but is not ASCII"))
        }
        guard Array(label.precomposedStringWithCompatibilityMapping.unicodeScalars) == scalars else {
            return .failure(PatternError("host name label \"\(label)\" has compatibility characters (full-width or ligature forms); write the plain characters"))
        }
        guard let encoded = Punycode.encode(scalars) else {
            return .failure(PatternError("host name label \"\(label)\" is too long"))
        }
        return .success("xn--" + encoded)
    }

    private static func isLabelScalar(_ s: Unicode.Scalar) -> Bool {
        if s == "-" { return true }
        switch s.properties.generalCategory {
        case .lowercaseLetter, .uppercaseLetter, .otherLetter, .modifierLetter, .nonspacingMark, .spacingMark, .decimalNumber:
            return true
        default:
            return false
        }
    }

    private static func isMark(_ s: Unicode.Scalar) -> Bool {
        let c = s.properties.generalCategory
        return c == .nonspacingMark || c == .spacingMark
    }
}
