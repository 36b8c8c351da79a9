/// Canonical JSON, the form `airlock allow` and `airlock deny` write back: fields in schema
/// order, entries sorted by name, rules and destinations in their order, two-space indent.
/// Defaults are written out (`"identity": "per-run"`) so the file shows what applies; empty
/// limits and absent notes are left out. `parse(canonicalJSON())` gives back an equal policy.
extension Policy {
    public func canonicalJSON() -> String {
        typealias V = JSONWriter.Value
        func withNote(_ members: [(String, V)], _ note: String?) -> V {
            .object(members + (note.map { [("note", V.string($0))] } ?? []))
        }
        func limits(_ l: Limits) -> [(String, V)] {
            guard !l.isEmpty else { return [] }
            var m: [(String, V)] = []
            if let v = l.circuitSeconds { m.append(("circuit_seconds", .integer(UInt64(v)))) }
            if let v = l.circuitBytes { m.append(("circuit_bytes", .integer(v))) }
            if let v = l.maxCircuits { m.append(("max_circuits", .integer(UInt64(v)))) }
            if let v = l.killAfterDenials { m.append(("kill_after_denials", .integer(UInt64(v)))) }
            return [("limits", .object(m))]
        }
        let document: V = .object([
            ("version", .integer(UInt64(version))),
            ("agents", .object(agents.map { a in
                (a.name, withNote([("uid", .integer(UInt64(a.uid))), ("identity", .string(a.identity.description))] + limits(a.limits), a.note))
            })),
            ("services", .object(services.map { ($0.name, withNote([("peer", .string($0.peer.description))], $0.note)) })),
            ("exits", .object(exits.map { ($0.name, withNote([("peer", .string($0.location.description))], $0.note)) })),
            ("peers", .object(peers.map { ($0.name, withNote([("peer", .string($0.peer.description))], $0.note)) })),
            ("rules", .array(rules.map { r in
                var m: [(String, V)] = [("from", .string(r.from)), ("to", .string(r.to))]
                if !r.destinations.isEmpty { m.append(("destinations", .array(r.destinations.map { .string($0.description) }))) }
                return withNote(m + limits(r.limits), r.note)
            })),
        ])
        return JSONWriter.write(document)
    }
}
