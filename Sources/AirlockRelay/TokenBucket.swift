/// A token bucket: `burst` tokens, refilled at `rate` per second. Time is passed in, so tests drive it.
public struct TokenBucket: Sendable {
    public let burst: Double
    public let rate: Double
    private var tokens: Double
    private var last: Double
    /// When tokens were last counted (seconds, the caller's clock).
    public var lastUpdate: Double { last }

    public init(burst: Int, rate: Double, now: Double) {
        self.burst = Double(burst); self.rate = rate; tokens = Double(burst); last = now
    }

    /// Takes one token if there is one.
    public mutating func take(now: Double) -> Bool {
        if now > last { tokens = min(burst, tokens + (now - last) * rate); last = now }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
