internal import CNetlink

/// A failed libnl call: the `NLE_*` code, libnl's own text for it (`nl_geterror`) and context.
public struct NetlinkError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The libnl error code, positive (`NLE_EXIST` is 6); libnl returns it negated.
    public let code: Int32
    /// `nl_geterror(code)`.
    public let message: String
    /// The operation and object (`add veth alt1h0`).
    public let context: String

    public init(code: Int32, message: String, context: String) {
        self.code = code; self.message = message; self.context = context
    }

    /// Builds the error from a libnl return value (negative or positive code).
    init(returned rc: Int32, _ context: String) {
        let c = rc < 0 ? -rc : rc
        self.init(code: c, message: String(cString: nl_geterror(c)), context: context)
    }

    // The codes callers branch on (libnl-3 <netlink/errno.h>).
    public static let NLE_EXIST: Int32 = 6
    public static let NLE_INVAL: Int32 = 7
    public static let NLE_OBJ_NOTFOUND: Int32 = 12
    public static let NLE_PERM: Int32 = 28
    public static let NLE_NODEV: Int32 = 31

    /// True for "no such object" and "no such device".
    public var isNotFound: Bool { code == Self.NLE_OBJ_NOTFOUND || code == Self.NLE_NODEV }

    /// The symbolic name (`NLE_EXIST`), from libnl's table.
    public var name: String {
        let names = ["NLE_SUCCESS", "NLE_FAILURE", "NLE_INTR", "NLE_BAD_SOCK", "NLE_AGAIN", "NLE_NOMEM",
                     "NLE_EXIST", "NLE_INVAL", "NLE_RANGE", "NLE_MSGSIZE", "NLE_OPNOTSUPP",
                     "NLE_AF_NOSUPPORT", "NLE_OBJ_NOTFOUND", "NLE_NOATTR", "NLE_MISSING_ATTR",
                     "NLE_AF_MISMATCH", "NLE_SEQ_MISMATCH", "NLE_MSG_OVERFLOW", "NLE_MSG_TRUNC",
                     "NLE_NOADDR", "NLE_SRCRT_NOSUPPORT", "NLE_MSG_TOOSHORT", "NLE_MSGTYPE_NOSUPPORT",
                     "NLE_OBJ_MISMATCH", "NLE_NOCACHE", "NLE_BUSY", "NLE_PROTO_MISMATCH",
                     "NLE_NOACCESS", "NLE_PERM", "NLE_PKTLOC_FILE", "NLE_PARSE_ERR", "NLE_NODEV",
                     "NLE_IMMUTABLE", "NLE_DUMP_INTR", "NLE_ATTRSIZE"]
        return code >= 0 && Int(code) < names.count ? names[Int(code)] : "NLE \(code)"
    }

    public var description: String { "netlink \(context): \(name) (\(message))" }
}
