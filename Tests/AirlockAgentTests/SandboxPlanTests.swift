import Testing
@testable import AirlockAgent

/// The mount steps a sandbox is built from (SandboxPlan); the privileged tests in
/// AirlockCLITests/SandboxMountTests.swift check what the agent then sees.
struct SandboxPlanTests {
    static func grant(_ path: String, _ writable: Bool, fd: Int32 = 9, dir: Bool = true) -> SandboxPlan.Grant {
        SandboxPlan.Grant(path: path, descriptor: fd, writable: writable, isDirectory: dir)
    }

    @Test func everythingIsReadOnlyFirstThenTheFreshMountsThenTheGrants() throws {
        let plan = try SandboxPlan(workdir: Self.grant("/home/u/src", true, fd: 3), grants: [], resolvConfPath: "/etc/resolv.conf")
        let steps = plan.steps
        #expect(steps.first == MountStep(.readOnly, "/"))
        let order = steps.map(\.description)
        let at = { (d: String) in order.firstIndex(of: d) ?? -1 }
        #expect(at("tmpfs on /dev") > 0 && at("proc on /proc") > at("tmpfs on /dev"))
        #expect(at("tmpfs on /tmp") > 0 && at("tmpfs on /run") > 0)
        #expect(at("bind descriptor 3 on /home/u/src") > at("tmpfs on /run"))
        #expect(steps.last == MountStep(.bind, "/etc/resolv.conf", source: "/run/airlock/resolv.conf"), "the stub last: no grant covers it")
        #expect(steps.contains(MountStep(.writable, "/home/u/src")))
        #expect(plan.workingDirectory == "/home/u/src")
        // The stub's file, bound over the host's resolv.conf.
        #expect(steps.contains(MountStep(.bind, "/etc/resolv.conf", source: "/run/airlock/resolv.conf")))
        #expect(steps.contains { $0.kind == .file && $0.target == "/run/airlock/resolv.conf" && $0.data?.contains("nameserver 127.0.0.1\n") == true })
        // Device nodes only from the safe list; the tmpfs under /dev allows devices but not exec.
        #expect(steps.filter { $0.kind == .mknod }.map(\.target) == ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"])
        #expect(steps.first { $0.description == "tmpfs on /dev" }?.flags == [.nosuid, .noexec])
        #expect(steps.filter { $0.kind == .tmpfs && $0.target != "/dev" }.allSatisfy { $0.flags.contains(.nodev) && $0.flags.contains(.nosuid) })
    }

    @Test func aGrantUnderAFreshTmpfsGetsItsPathMadeFirst() throws {
        let plan = try SandboxPlan(workdir: Self.grant("/tmp/a/b", true, fd: 3),
                                   grants: [Self.grant("/tmp/a/b/notes.txt", false, fd: 4, dir: false)], resolvConfPath: nil)
        let tail = plan.steps.drop { $0.target != "/tmp/a" }.prefix(6).map(\.description)
        #expect(tail == ["mkdir /tmp/a", "mkdir /tmp/a/b", "bind descriptor 3 on /tmp/a/b", "writable /tmp/a/b",
                         "bind descriptor 4 on /tmp/a/b/notes.txt", "read-only /tmp/a/b/notes.txt"])
        #expect(!plan.steps.contains { $0.target == "/etc/resolv.conf" }, "no resolv.conf on the host: none bound")
    }

    @Test func nothingIsMadeInsideAnEarlierGrantWhichIsTheRealTree() throws {
        let plan = try SandboxPlan(workdir: Self.grant("/srv/w", true, fd: 3),
                                   grants: [Self.grant("/srv/w/notes.txt", false, fd: 4, dir: false)], resolvConfPath: nil)
        let after = plan.steps.drop { $0.target != "/srv/w" }.prefix(while: { $0.target.hasPrefix("/srv") }).map(\.description)
        #expect(after == ["bind descriptor 3 on /srv/w", "writable /srv/w", "bind descriptor 4 on /srv/w/notes.txt", "read-only /srv/w/notes.txt"])
    }

    @Test func parentsAreBoundBeforeChildrenWhateverTheOrderGiven() throws {
        let plan = try SandboxPlan(workdir: Self.grant("/srv/p", true, fd: 3),
                                   grants: [Self.grant("/srv/p/.git/hooks", false, fd: 5), Self.grant("/srv", false, fd: 4)], resolvConfPath: nil)
        let binds = plan.steps.filter { $0.kind == .bind && $0.sourceDescriptor != nil }.map(\.target)
        #expect(binds == ["/srv", "/srv/p", "/srv/p/.git/hooks"])
    }

    @Test func theStubComesAfterTheGrantsSoNoneCoversIt() throws {
        let plan = try SandboxPlan(workdir: Self.grant("/w", true), grants: [Self.grant("/etc", false, fd: 7)], resolvConfPath: "/etc/resolv.conf")
        let d = plan.steps.map(\.description)
        #expect(d.lastIndex(of: "bind /run/airlock/resolv.conf on /etc/resolv.conf")! > d.firstIndex(of: "bind descriptor 7 on /etc")!)
        #expect(d.contains("sysfs on /sys"))
    }

    @Test func resolvConfInRunIsWrittenInPlace() throws {
        let plan = try SandboxPlan(workdir: Self.grant("/w", true), grants: [], resolvConfPath: "/run/systemd/resolve/stub-resolv.conf")
        let d = plan.steps.map(\.description)
        #expect(d.contains("mkdir /run/systemd") && d.contains("mkdir /run/systemd/resolve"))
        #expect(d.contains("write /run/systemd/resolve/stub-resolv.conf"))
        #expect(!plan.steps.contains { $0.kind == .bind && $0.source != nil })
    }

    @Test func pathsNearHostSocketsAndDevicesAndAWritableRootAreRefused() {
        for (path, writable) in [("/run", true), ("/run/user/1000", false), ("/proc/self", false), ("/sys/fs", false),
                                 ("/dev/shm", true), ("/", true), ("relative", true), ("/gone (deleted)", true),
                                 // Binding these, or what holds them, brings the host's sockets back.
                                 ("/tmp", true), ("/var/tmp", false), ("/var", false), ("/", false)] {
            #expect(throws: SandboxError.self, "\(path)") {
                _ = try SandboxPlan(workdir: Self.grant("/w", true), grants: [Self.grant(path, writable)], resolvConfPath: nil)
            }
        }
        #expect(throws: SandboxError("/w/x is given both writable and read-only")) {
            _ = try SandboxPlan(workdir: Self.grant("/w", true), grants: [Self.grant("/w/x", true), Self.grant("/w/x", false)], resolvConfPath: nil)
        }
        // Below /tmp is the caller's choice, and /runner is not /run.
        #expect(throws: Never.self) {
            _ = try SandboxPlan(workdir: Self.grant("/runner", true), grants: [Self.grant("/tmp/mine", false), Self.grant("/var/lib/x", true)], resolvConfPath: nil)
        }
    }
}
