// C shims for what Swift cannot call directly on Linux. Every symbol is prefixed `airlock_`.
// Each group says why it exists.
#ifndef AIRLOCK_SHIMS_H
#define AIRLOCK_SHIMS_H

#include <stdint.h>
#include <sys/types.h>

// epoll_event is packed on x86_64, which Swift imports poorly; these wrappers take plain fields.
int airlock_epoll_create(void);
int airlock_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Waits for events; fills parallel arrays. Returns the count, or -1 with errno.
int airlock_epoll_wait(int epfd, uint32_t *events, uint64_t *data, int max, int timeout_ms);

// _GNU_SOURCE calls not exported by Swift's Glibc module.
int airlock_unshare(int flags);
int airlock_setns(int fd, int nstype);
int airlock_close_range(unsigned int first, unsigned int last, unsigned int flags);
int airlock_pidfd_open(pid_t pid, unsigned int flags);
int airlock_pidfd_send_signal(int pidfd, int sig);
int airlock_eventfd(unsigned int initval);
int airlock_accept4(int fd, int flags);

// Thread naming for the event-loop threads (pthread_setname_np is _GNU_SOURCE), so `top -H` and
// stack dumps show which loop is busy. Names longer than 15 bytes are truncated.
void airlock_set_thread_name(const char *name);

// Socket calls that are _GNU_SOURCE-only or take flags Swift's Glibc does not export.
/// Non-blocking, close-on-exec TCP socket in one call (no window where a fork could inherit it).
int airlock_tcp_socket(int family);
/// Binds a socket to a network device (SO_BINDTODEVICE); an empty name unbinds.
int airlock_bind_to_device(int fd, const char *name);

// Heap bytes in use (mallinfo2().uordblks; malloc.h is not in Swift's Glibc module), for the
// memory-per-connection figures in metrics, the benchmark and tests.
uint64_t airlock_heap_in_use(void);
// Network namespaces (AirlockNet). Swift's Glibc module exposes neither CLONE_NEWNET nor the
// mount(2) flags, and the unshare must happen on a thread that does nothing else. Each returns 0 or
// an errno value (never -1), so callers need not read errno across threads.

/// Makes `dir` (created 0755 if missing) a shared mount point, as `ip netns add` does, so that
/// unmounting a namespace file propagates to every mount namespace.
int airlock_netns_prepare_dir(const char *dir);
/// Starts a dedicated pthread that unshares a fresh network namespace and bind-mounts its
/// `/proc/thread-self/ns/net` onto `path` (an existing empty file); the thread then exits.
int airlock_netns_bind_new(const char *path);
/// Detaches the bind mount at `path` (umount2 MNT_DETACH).
int airlock_netns_unmount(const char *path);
/// Moves the calling thread into the network namespace `fd` refers to.
int airlock_setns_net(int fd);
/// Writes `value` to a /proc/sys file in a single write(2) at offset 0, as sysctl files require.
int airlock_sysctl_write(const char *path, const char *value);
/// Tells whether this process may create network namespaces: a throwaway thread unshares one,
/// which the kernel frees when the thread exits.
int airlock_netns_probe(void);

#endif

// ---- Signals (AirlockIO) ----
/// Blocks `signals` in the calling thread (threads started later inherit the mask) and returns a
/// non-blocking, close-on-exec signalfd for them, so signals arrive as loop events instead of
/// interrupting arbitrary code. Returns -1 with errno on failure.
int airlock_signalfd(const int *signals, int count);
/// Reads one pending signal from a signalfd: its number, 0 when none is pending, -1 on error.
int airlock_signalfd_read(int fd);
