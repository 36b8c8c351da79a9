#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import AirlockCore

/// Why a name did not resolve. `reason` is a stable token (`no-such-name`, `no-address`,
/// `resolver-busy`, `dns-off`, `dns-failure`) the exit passes on to the agent.
public struct ResolveError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public let text: String
    public init(_ reason: String, _ text: String) {
        self.reason = reason
        self.text = text
    }
    public var description: String { "\(reason): \(text)" }
}

/// Turns a normalised name into addresses for an exit (design §2 invariant 6: names are resolved
/// by the exit, after the policy matched the name, never inside an agent's namespace).
///
/// Implementations call `completion` exactly once, on any thread; the exit hops back to its loop.
public protocol NameResolver: AnyObject, Sendable {
    func resolve(_ name: String, _ completion: @escaping @Sendable (Result<[IPAddress], ResolveError>) -> Void)
}

/// The exit's resolver: a static hosts map first (`--hosts FILE`), then, unless turned off
/// (`--no-system-dns`), the system's resolver (`getaddrinfo`, which follows
/// `/etc/nsswitch.conf`), run on a few worker threads of its own so the loop never blocks.
///
/// Bounded: at most `workers` lookups run at once (threads started on the first lookup) and at
/// most `maxQueued` wait; more are refused at once as `resolver-busy`. A lookup cannot be cancelled (getaddrinfo has no cancel), so the
/// exit bounds its wait with its own timer and drops a late answer.
public final class ExitResolver: NameResolver, @unchecked Sendable {  // the limits are immutable; the hosts map and jobs are behind mutexes
    private let hostsMap: Mutex<HostsFile?>
    /// The hosts map consulted first (`replaceHosts` swaps it, on reload).
    public var hosts: HostsFile? { hostsMap.withLock { $0 } }
    public let systemDNS: Bool
    public let workers: Int
    public let maxQueued: Int

    private struct Job {
        let name: String
        let completion: @Sendable (Result<[IPAddress], ResolveError>) -> Void
    }
    private struct State {
        var queue: [Job] = []
        var started = false
    }
    private let state = Mutex(State())
    /// Counts queued jobs: each worker takes one per signal.
    private let queued = DispatchSemaphore(value: 0)

    public init(hosts: HostsFile?, systemDNS: Bool, workers: Int = 4, maxQueued: Int = 256) {
        hostsMap = Mutex(hosts)
        self.systemDNS = systemDNS
        self.workers = max(1, workers)
        self.maxQueued = maxQueued
    }

    /// Uses `hosts` from now on (lookups already running keep the answer they got).
    public func replaceHosts(_ hosts: HostsFile?) { hostsMap.withLock { $0 = hosts } }

    public func resolve(_ name: String, _ completion: @escaping @Sendable (Result<[IPAddress], ResolveError>) -> Void) {
        if let addresses = hosts?.lookup(name) {
            completion(.success(addresses))
            return
        }
        guard systemDNS else {
            completion(.failure(ResolveError("dns-off", "\(name) is not in the exit's hosts file and system DNS is off")))
            return
        }
        let outcome = state.withLock { s -> (accepted: Bool, start: Bool) in
            guard s.queue.count < maxQueued else { return (false, false) }
            s.queue.append(Job(name: name, completion: completion))
            defer { s.started = true }
            return (true, !s.started)
        }
        guard outcome.accepted else {
            completion(.failure(ResolveError("resolver-busy", "\(maxQueued) lookups are already waiting")))
            return
        }
        if outcome.start, (0..<workers).filter({ _ in startWorker() }).isEmpty {
            // No thread at all: nothing would ever answer. Fail what waits; the next call tries again.
            let stranded = state.withLock { s -> [Job] in
                s.started = false
                defer { s.queue.removeAll() }
                return s.queue
            }
            for j in stranded { j.completion(.failure(ResolveError("resolver-busy", "cannot start a resolver thread"))) }
            return
        }
        queued.signal()
    }

    /// One detached worker thread; the workers live as long as the process (an exit resolves
    /// for as long as it runs).
    private func startWorker() -> Bool {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        let box = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, &attr, { raw in
            Unmanaged<ExitResolver>.fromOpaque(raw!).takeRetainedValue().work()
        }, box)
        if rc != 0 { Unmanaged<ExitResolver>.fromOpaque(box).release() }
        return rc == 0
    }

    private func work() -> Never {
        while true {
            queued.wait()
            guard let job = state.withLock({ s -> Job? in s.queue.isEmpty ? nil : s.queue.removeFirst() }) else { continue }
            job.completion(ExitResolver.systemLookup(job.name))
        }
    }

    /// `getaddrinfo` for TCP, both families, addresses in the order the system gave them,
    /// duplicates and IPv4-mapped forms folded.
    static func systemLookup(_ name: String) -> Result<[IPAddress], ResolveError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, nil, &hints, &list)
        guard rc == 0 else {
            let text = String(cString: gai_strerror(rc))
            switch rc {
            // EAI_NODATA (-5, a GNU extension Swift's Glibc does not import): the name has no address.
            case EAI_NONAME: return .failure(ResolveError("no-such-name", "\(name): \(text)"))
            case -5: return .failure(ResolveError("no-address", "\(name): \(text)"))
            default: return .failure(ResolveError("dns-failure", "\(name): \(text)"))
            }
        }
        defer { freeaddrinfo(list) }
        var out: [IPAddress] = []
        var p = list
        while let ai = p {
            if let sa = ai.pointee.ai_addr, let ip = address(sa, family: ai.pointee.ai_family) {
                let a = ip.mappedIPv4 ?? ip
                if !out.contains(a) { out.append(a) }
            }
            p = ai.pointee.ai_next
        }
        return out.isEmpty ? .failure(ResolveError("no-address", "\(name) has no IPv4 or IPv6 address")) : .success(out)
    }

    private static func address(_ sa: UnsafeMutablePointer<sockaddr>, family: Int32) -> IPAddress? {
        switch family {
        case AF_INET:
            return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                withUnsafeBytes(of: p.pointee.sin_addr) { IPAddress(bytes: $0) }
            }
        case AF_INET6:
            return sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                withUnsafeBytes(of: p.pointee.sin6_addr) { IPAddress(bytes: $0) }
            }
        default:
            return nil
        }
    }
}
