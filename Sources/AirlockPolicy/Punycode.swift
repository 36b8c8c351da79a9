/// The Punycode encoder of RFC 3492 (Bootstring with the parameters of §5), which turns one
/// internationalised DNS label into the ASCII that follows `xn--`.
///
/// Only encoding is needed: the exit matches and resolves the ASCII form, and a label a client
/// already wrote as `xn--…` is kept as written. Case annotations (RFC 3492 appendix A) are not
/// produced: basic code points are copied as given and digits are written in lowercase.
enum Punycode {
    // RFC 3492 §5: parameter values for Punycode.
    static let base: UInt32 = 36
    static let tMin: UInt32 = 1
    static let tMax: UInt32 = 26
    static let skew: UInt32 = 38
    static let damp: UInt32 = 700
    static let initialBias: UInt32 = 72
    static let initialN: UInt32 = 0x80
    static let delimiter = UInt8(ascii: "-")

    /// The Punycode form of `input` (RFC 3492 §6.3), without the `xn--` prefix; `nil` if a count
    /// would overflow 32 bits (§6.4), which needs far more input than any DNS label holds.
    static func encode(_ input: [Unicode.Scalar]) -> String? {
        let codes = input.map(\.value)
        var output: [UInt8] = codes.filter { $0 < initialN }.map { UInt8($0) }
        let basicCount = output.count
        if basicCount > 0 { output.append(delimiter) }

        var n = initialN
        var delta: UInt32 = 0
        var bias = initialBias
        var handled = basicCount
        while handled < codes.count {
            // The smallest code point not yet handled; every unhandled one is at least n.
            guard let m = codes.filter({ $0 >= n }).min() else { return nil }
            let (step, stepOverflow) = (m - n).multipliedReportingOverflow(by: UInt32(handled + 1))
            let (sum, sumOverflow) = delta.addingReportingOverflow(step)
            guard !stepOverflow, !sumOverflow else { return nil }
            delta = sum
            n = m
            for c in codes {
                if c < n {
                    guard delta < UInt32.max else { return nil }
                    delta += 1
                }
                guard c == n else { continue }
                // Write delta as a generalised variable-length integer (§3.3).
                var q = delta
                var k = base
                while true {
                    let t = threshold(k, bias: bias)
                    if q < t { break }
                    output.append(digit(t + (q - t) % (base - t)))
                    q = (q - t) / (base - t)
                    k += base
                }
                output.append(digit(q))
                bias = adapt(delta, pointCount: UInt32(handled + 1), first: handled == basicCount)
                delta = 0
                handled += 1
            }
            guard delta < UInt32.max, n < UInt32.max else { return nil }
            delta += 1
            n += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// t(k) of §6.3: tMin at or below the bias, tMax at or above bias + tMax, else k - bias.
    private static func threshold(_ k: UInt32, bias: UInt32) -> UInt32 {
        if k <= bias { return tMin }
        if k >= bias + tMax { return tMax }
        return k - bias
    }

    /// The bias adaptation function of §6.1.
    private static func adapt(_ delta: UInt32, pointCount: UInt32, first: Bool) -> UInt32 {
        var delta = first ? delta / damp : delta / 2
        delta += delta / pointCount
        var k: UInt32 = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }

    /// Digit values 0–25 are `a`–`z` and 26–35 are `0`–`9` (§5).
    private static func digit(_ d: UInt32) -> UInt8 {
        d < 26 ? UInt8(ascii: "a") + UInt8(d) : UInt8(ascii: "0") + UInt8(d - 26)
    }
}
