/// A namespace's identity: the device and inode of its nsfs file (`/proc/<pid>/ns/<type>`, a
/// descriptor on it, or a `/run/netns` bind mount), which is what `ip netns identify` and
/// `stat -L` compare. Two descriptors or processes share a namespace exactly when their
/// identities are equal. An identity is only stable while something holds the namespace open:
/// the kernel reuses the inode number of a namespace that is gone.
public struct NamespaceID: Hashable, Sendable, CustomStringConvertible {
    public let device: UInt64
    public let inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    public var description: String { "ns:[\(device):\(inode)]" }
}
