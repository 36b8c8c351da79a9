import AirlockCore

/// Entry point for the `airlock` executable; parsing and commands live here so tests can call them.
public enum CLI {
    public static let version = "0.1.0"
    public static func main(_ args: [String]) -> Int32 {
        print("airlock \(version)")
        return 0
    }
}
