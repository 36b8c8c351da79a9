import Testing
@testable import AirlockAgent

struct AgentUserTests {
    /// A fake user database: only the names given exist.
    static func accounts(_ known: [String: (UInt32, UInt32)]) -> (String) throws(IdentityError) -> AgentUser {
        { (name: String) throws(IdentityError) -> AgentUser in
            guard let (uid, gid) = known[name] else { throw .missingAccount(name) }
            return try AgentUser(uid: uid, gid: gid, name: name)
        }
    }
    static var withAgent: (String) throws(IdentityError) -> AgentUser { accounts([AgentUser.agentAccount: (990, 990)]) }

    @Test func sudoUserWins() throws {
        let u = try AgentUser.resolve(sudoEnv: ["SUDO_UID": "1000", "SUDO_GID": "1001", "SUDO_USER": "ann"],
                                      account: Self.withAgent)
        #expect(u.uid == 1000 && u.gid == 1001 && u.name == "ann")
    }

    @Test func rootOrNoSudoFallsBackToTheSystemAccount() throws {
        for env in [[:], ["SUDO_UID": "0", "SUDO_GID": "0"], ["SUDO_UID": "0"]] {
            let u = try AgentUser.resolve(sudoEnv: env, account: Self.withAgent)
            #expect(u == (try AgentUser(uid: 990, gid: 990, name: "airlock-agent")), "\(env)")
        }
    }

    @Test func missingSystemAccountSaysWhatToRun() throws {
        let error = #expect(throws: IdentityError.self) {
            try AgentUser.resolve(sudoEnv: [:], account: Self.accounts([:]))
        }
        #expect(error == .missingAccount("airlock-agent"))
        let text = error?.description ?? ""
        #expect(text.contains("make deps"))
        #expect(text.contains("useradd --system --no-create-home --shell /usr/sbin/nologin airlock-agent"))
    }

    @Test func damagedSudoVariablesFailClosed() throws {
        let cases: [([String: String], IdentityError)] = [
            (["SUDO_UID": "abc", "SUDO_GID": "1"], .invalidSudoVariable(name: "SUDO_UID", value: "abc")),
            (["SUDO_UID": "-1", "SUDO_GID": "1"], .invalidSudoVariable(name: "SUDO_UID", value: "-1")),
            (["SUDO_UID": " 1000", "SUDO_GID": "1"], .invalidSudoVariable(name: "SUDO_UID", value: " 1000")),
            (["SUDO_UID": "4294967295", "SUDO_GID": "1"], .invalidSudoVariable(name: "SUDO_UID", value: "4294967295")),
            (["SUDO_UID": "99999999999", "SUDO_GID": "1"], .invalidSudoVariable(name: "SUDO_UID", value: "99999999999")),
            (["SUDO_UID": "1000"], .invalidSudoVariable(name: "SUDO_GID", value: "")),
            (["SUDO_UID": "1000", "SUDO_GID": "x"], .invalidSudoVariable(name: "SUDO_GID", value: "x")),
            (["SUDO_UID": "1000", "SUDO_GID": "0"], .root("SUDO_GID")),
        ]
        for (env, expected) in cases {
            #expect(throws: expected, "\(env)") { try AgentUser.resolve(sudoEnv: env, account: Self.withAgent) }
        }
    }

    @Test func neverRoot() throws {
        #expect(throws: IdentityError.self) { try AgentUser(uid: 0, gid: 5) }
        #expect(throws: IdentityError.self) { try AgentUser(uid: 5, gid: 0) }
        #expect(throws: IdentityError.root("user airlock-agent")) {
            try AgentUser.resolve(sudoEnv: [:], account: Self.accounts(["airlock-agent": (0, 0)]))
        }
        // The real database: root exists and is refused by name.
        #expect(throws: IdentityError.root("user root")) { try AgentUser.account(named: "root") }
    }

    @Test func realUserDatabase() throws {
        #expect(try AgentUser.account(named: "nobody") == (try AgentUser(uid: 65534, gid: 65534, name: "nobody")))
        let missing = "airlock-no-such-user-\(UInt32.random(in: 0...0xFFFF))"
        #expect(throws: IdentityError.missingAccount(missing)) { try AgentUser.account(named: missing) }
        #expect(try AgentUser.lookup(name: "root")! == (0, 0))
    }

    /// After `make deps` the system accounts exist; without them the error says how to make them.
    @Test func systemAccountsOnThisMachine() throws {
        for (name, resolve) in [(AgentUser.agentAccount, { () throws(IdentityError) in try AgentUser.resolve(sudoEnv: [:]) }),
                                (AgentUser.shimAccount, { () throws(IdentityError) in try AgentUser.shim() })] {
            if let (uid, gid) = try AgentUser.lookup(name: name) {
                #expect(try resolve() == (try AgentUser(uid: uid, gid: gid, name: name)))
            } else {
                #expect(throws: IdentityError.missingAccount(name)) { try resolve() }
            }
        }
    }
}
