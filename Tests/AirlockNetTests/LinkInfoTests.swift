import Testing
@testable import AirlockNet

@Suite struct LinkInfoTests {
    @Test func acceptsKernelStyleNames() throws {
        for name in ["lo", "eth0", "alt1234567890ab", "veth-a_b.c", "x"] {
            try LinkInfo.validate(name: name)
        }
    }

    @Test func rejectsNamesTheKernelWouldRefuse() {
        for name in ["", "alt1234567890abc", ".", "..", "a/b", "a:b", "a b", "a\tb", "a\u{7f}", "é"] {
            #expect(throws: NetError.self, "\(name)") { try LinkInfo.validate(name: name) }
        }
    }

    @Test func namespaceNamesAreOnePathComponent() throws {
        try NetworkNamespace.validate(name: "airlock-hub")
        for name in ["", ".", "..", "a/b", "../x", "a\0b", String(repeating: "n", count: 256)] {
            #expect(throws: NetError.self) { try NetworkNamespace.validate(name: name) }
        }
    }

    @Test func sysctlKeysStayUnderProcSysNet() throws {
        #expect(try NetworkNamespace.sysctlPath("ipv4/ip_forward") == "/proc/sys/net/ipv4/ip_forward")
        for key in ["", "/ipv4/ip_forward", "ipv4//x", "../kernel/x", "ipv4/../../kernel", "ipv4/conf/."] {
            #expect(throws: NetError.self, "\(key)") { try NetworkNamespace.sysctlPath(key) }
        }
    }

    @Test func errorsDescribeThemselves() {
        let nl = NetlinkError(returned: -6, "add veth x")
        #expect(nl.code == NetlinkError.NLE_EXIST && nl.name == "NLE_EXIST")
        #expect(NetError.netlink(nl).isExists && !NetError.netlink(nl).isNotFound)
        #expect(nl.description.contains("add veth x") && nl.description.contains("NLE_EXIST"))
        #expect(!nl.message.isEmpty)
        #expect(NetlinkError(returned: -31, "x").isNotFound && NetlinkError(returned: 12, "x").isNotFound)
        #expect(NetlinkError(returned: -999, "x").name == "NLE 999")
        let sys = SyscallError(code: SyscallError.EPERM, call: "setns", context: "hub")
        #expect(sys.name == "EPERM" && sys.description.hasPrefix("setns hub: EPERM ("))
        #expect(NetError.system(SyscallError(code: SyscallError.ENOENT, call: "open", context: "x")).isNotFound)
        #expect(NetError.timedOut("link x gone", milliseconds: 5).description == "timed out after 5 ms waiting for link x gone")
    }
}
