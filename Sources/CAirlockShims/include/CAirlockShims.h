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
/// pipe2(2) (O_CLOEXEC, O_NONBLOCK in `flags`).
int airlock_pipe2(int fds[2], int flags);
/// An O_PATH | O_CLOEXEC descriptor on `path`, for execveat(AT_EMPTY_PATH) by a user who may run
/// the file but not traverse the directories above it. -1 with errno.
int airlock_open_exec_path(const char *path);

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

// ---- Agent process launch (AirlockAgent) ----
// Why C: everything between clone and execve must be async-signal-safe (no allocation, no locks,
// no Swift runtime), and clone3, CLONE_NEWPID, setns, capset and close_range are not in Swift's
// Glibc module. The tree made by `airlock_spawn` (design §2 invariants 2, 8, 10; §5):
//
//   caller thread ──clone3(CLONE_NEWPID|CLONE_PIDFD)──▶ init (pid 1 in a new PID namespace)
//                                                        └─fork──▶ command (pid 2), execve
//
// The init enters the namespaces, drops every privilege (so nothing in the new PID namespace is
// privileged), forks the command, reaps every orphan, forwards SIGTERM/SIGINT/SIGHUP to the
// command and exits with its status (128+N when signal N killed it). When the init dies the
// kernel kills everything else in its PID namespace.
//
// What ends the tree besides the command's exit: without a lifeline, the death of the spawning
// thread (PR_SET_PDEATHSIG(SIGKILL)); with a lifeline (`life_fd`, one end of a socket pair whose
// other end the launcher holds), the launcher closing its end, whoever else dies. Through a
// lifeline with AIRLOCK_SPAWN_LIFE_SIGNALS the launcher also sends signals to forward (one byte
// per message: SIGINT, SIGTERM or SIGHUP), and the init reports the command's status (an int,
// the init's own exit code) as its last message. Without that flag the init only watches for the
// launcher to go.

/// Flags for `airlock_spawn_spec.flags`.
#define AIRLOCK_SPAWN_NEW_SESSION 0x1u
/// Lets uid 0 or gid 0 through; for tests of the refusal only. Never set by product code.
#define AIRLOCK_SPAWN_ALLOW_ROOT 0x2u
/// The lifeline carries signals in and the exit status out (see above).
#define AIRLOCK_SPAWN_LIFE_SIGNALS 0x4u
/// The command runs under the agent syscall filter (`airlock_seccomp_install`), installed right
/// before execve; when the kernel refuses the filter the command does not run.
#define AIRLOCK_SPAWN_SECCOMP 0x8u
/// After setsid, stdin (a terminal: the pty `airlock run` relays) becomes the command's
/// controlling terminal (TIOCSCTTY), so job control and ^C work inside.
#define AIRLOCK_SPAWN_CONTROLLING_TTY 0x10u

/// The step that failed, written by the child to the error pipe with its errno.
enum airlock_spawn_stage {
    AIRLOCK_STAGE_NONE = 0,
    AIRLOCK_STAGE_INVALID,      // the spec itself (no namespace fd, uid 0 without the flag)
    AIRLOCK_STAGE_PIPE,         // pipe2 for the error pipe
    AIRLOCK_STAGE_CLONE,        // clone3 of the init
    AIRLOCK_STAGE_READ,         // the parent reading the error pipe
    AIRLOCK_STAGE_CLOSE_FDS,    // the init closing what it inherited
    AIRLOCK_STAGE_SIGNALS,      // signal handlers and mask
    AIRLOCK_STAGE_SETNS_NET,
    AIRLOCK_STAGE_SETNS_MNT,
    AIRLOCK_STAGE_SETGROUPS,
    AIRLOCK_STAGE_SETRESGID,
    AIRLOCK_STAGE_CAPBSET,      // dropping the capability bounding set
    AIRLOCK_STAGE_SETRESUID,
    AIRLOCK_STAGE_CAPSET,
    AIRLOCK_STAGE_NO_NEW_PRIVS,
    AIRLOCK_STAGE_PDEATHSIG,
    AIRLOCK_STAGE_FORK,         // the init forking the command
    AIRLOCK_STAGE_CHDIR,
    AIRLOCK_STAGE_SETSID,
    AIRLOCK_STAGE_STDIO,        // opening /dev/null, dup2 onto 0, 1, 2
    AIRLOCK_STAGE_EXECVE,
    AIRLOCK_STAGE_SECCOMP,      // installing the syscall filter
    AIRLOCK_STAGE_TTY,          // TIOCSCTTY on stdin
    AIRLOCK_STAGE_CGROUP,       // the init joining the run's cgroups
    AIRLOCK_STAGE_UNSHARE_MNT,  // the init's new mount namespace
};
/// Mount step i of `airlock_spawn_spec.mounts` failed: the stage is this plus i.
#define AIRLOCK_STAGE_MOUNT_BASE 1000

/// One step of building the agent's mount namespace (the sandbox). The init runs them in order,
/// as root, in a fresh mount namespace whose mounts are already private; Swift (SandboxPlan)
/// decides what they are.
enum airlock_mount_kind {
    AIRLOCK_MOUNT_TMPFS = 1,    // a tmpfs at `target`, `data` its options ("mode=0755,size=…")
    AIRLOCK_MOUNT_PROC,         // a proc of the init's (new) PID namespace at `target`
    AIRLOCK_MOUNT_DEVPTS,       // a new devpts instance at `target` (`data` its options)
    AIRLOCK_MOUNT_BIND,         // recursive bind of `source` (or /proc/self/fd/`source_fd`) onto `target`
    AIRLOCK_MOUNT_READONLY,     // the mount tree at `target` becomes read-only (recursive), and
                                // nosuid and nodev, as every tree the agent sees
    AIRLOCK_MOUNT_WRITABLE,     // the mount tree at `target` becomes writable again (recursive),
                                // staying nosuid and nodev
    AIRLOCK_MOUNT_MKDIR,        // mkdir `target` with `mode`; one that exists is fine
    AIRLOCK_MOUNT_FILE,         // creates `target` (`mode`) holding `data`, truncating it; with no
                                // `data`, creates it empty only when missing (a mount point)
    AIRLOCK_MOUNT_SYMLINK,      // symlink `source` at `target`
    AIRLOCK_MOUNT_MKNOD,        // character device `device` at `target`, `mode` its permissions
    AIRLOCK_MOUNT_SYSFS,        // a sysfs of the init's network namespace at `target`
};
/// AIRLOCK_MOUNT_* flags for tmpfs, proc, devpts and bind steps.
#define AIRLOCK_MOUNT_NOSUID 0x1u
#define AIRLOCK_MOUNT_NODEV 0x2u
#define AIRLOCK_MOUNT_NOEXEC 0x4u
#define AIRLOCK_MOUNT_RDONLY 0x8u
struct airlock_mount_op {
    int kind;                  ///< enum airlock_mount_kind
    const char *source;        ///< BIND, SYMLINK; NULL for BIND from `source_fd`
    int source_fd;             ///< BIND: an O_PATH descriptor to bind from, or -1
    const char *target;        ///< absolute, in the new mount namespace
    const char *data;          ///< TMPFS/DEVPTS options, FILE content; may be NULL
    unsigned int mode;         ///< MKDIR, FILE, MKNOD
    unsigned int flags;        ///< AIRLOCK_MOUNT_NOSUID | NODEV | NOEXEC
    unsigned long device;      ///< MKNOD: makedev(major, minor)
};

/// A cgroup bound the init watches (every AIRLOCK_WATCH_INTERVAL_MS): it reads `fd` from offset
/// 0, finds the number after `key` (a "key value" line; NULL: the file is one number), and when
/// it reaches `bound` reports `reason` through the lifeline and kills the tree.
#define AIRLOCK_WATCH_INTERVAL_MS 100
struct airlock_limit_watch {
    int fd;
    const char *key;
    uint64_t bound;
    int reason;                ///< AIRLOCK_LIMIT_*
};
/// Why the init killed the tree; sent through a lifeline with AIRLOCK_SPAWN_LIFE_SIGNALS as a
/// `struct airlock_limit_report` (8 bytes) before the status.
enum airlock_limit_reason {
    AIRLOCK_LIMIT_TIMEOUT = 1,
    AIRLOCK_LIMIT_PIDS,
    AIRLOCK_LIMIT_MEMORY,
    AIRLOCK_LIMIT_CPU,
};
#define AIRLOCK_LIMIT_REPORT_MAGIC 0x4c494d54  /* "LIMT" */
struct airlock_limit_report { int32_t magic; int32_t reason; };

/// What to run and how. Every pointer and descriptor is borrowed for the duration of the call.
struct airlock_spawn_spec {
    const char *path;          ///< absolute path, already looked up in PATH by the caller
    char *const *argv;         ///< NULL-terminated
    char *const *envp;         ///< NULL-terminated
    const char *cwd;           ///< entered as the agent user; NULL keeps the caller's
    int cwd_fd;                ///< a directory to enter (fchdir, before the privilege drop:
                               ///< the caller proved access by opening it), or -1
    int exec_fd;               ///< when >= 0, execveat(exec_fd, "", AT_EMPTY_PATH) instead of
                               ///< `path` (a binary the agent user may run but not reach by path)
    int netns_fd;              ///< required: the agent's network namespace
    int mntns_fd;              ///< a mount namespace to enter, or -1
    int life_fd;               ///< the lifeline (see above), or -1 for PR_SET_PDEATHSIG
    int stdio[3];              ///< become 0, 1, 2 of the command; -1 means /dev/null
    uid_t uid;
    gid_t gid;
    unsigned int flags;        ///< AIRLOCK_SPAWN_*
    /// The sandbox: with mount_count > 0 the init unshares a mount namespace and runs these
    /// steps before the privilege drop (then `cwd`, entered by the command, is a path there).
    const struct airlock_mount_op *mounts;
    int mount_count;
    /// cgroup.procs files (open for writing) the init joins, as root, before it forks.
    const int *cgroup_fds;
    int cgroup_count;
    /// cgroup.kill of the run's v2 cgroup (open for writing) or -1: how the init kills the tree
    /// when a bound is hit; without it, kill(-1) inside the PID namespace.
    int kill_fd;
    const struct airlock_limit_watch *watches;
    int watch_count;
    /// When > 0, the tree is killed (AIRLOCK_LIMIT_TIMEOUT) this long after the init started.
    int64_t timeout_ms;
};

/// Installs the agent syscall filter on the calling thread (seccomp, after no_new_privs; see
/// seccomp.c for what it denies). Async-signal-safe. Returns 0 or an errno value; EOPNOTSUPP on
/// architectures the filter does not know.
int airlock_seccomp_install(void);

/// Starts `spec` as described above and returns the init's pid (in the caller's PID namespace),
/// with `*pidfd_out` a close-on-exec pidfd for it (from clone3, so no pid-reuse window). Returns
/// only after the command has called execve successfully, or -1 when any step failed, with
/// `*error_stage` and `*error_errno` saying which and why; then nothing is left running.
///
/// PR_SET_PDEATHSIG fires when the calling *thread* exits, not the process: call this from a
/// thread that lives as long as the agent should (AirlockAgent uses one dedicated thread).
/// Blocks every signal on the calling thread during the clone and restores the mask after.
pid_t airlock_spawn(const struct airlock_spawn_spec *spec, int *pidfd_out,
                    int *error_stage, int *error_errno);

/// Waits for the process behind `pidfd` (waitid P_PIDFD, WEXITED, EINTR retried) and reaps it.
/// Returns 0 with `*state` AIRLOCK_WAIT_EXITED and the exit code in `*value`, or
/// AIRLOCK_WAIT_SIGNALED and the signal number; with `nohang` set, AIRLOCK_WAIT_RUNNING while it
/// still runs. Returns an errno value on failure. Why C: P_PIDFD is missing from Swift's Glibc and
/// siginfo_t's union is awkward there.
#define AIRLOCK_WAIT_RUNNING 0
#define AIRLOCK_WAIT_EXITED 1
#define AIRLOCK_WAIT_SIGNALED 2
int airlock_pidfd_wait(int pidfd, int nohang, int *state, int *value);

// ---- Signals (AirlockIO) ----
/// Blocks `signals` in the calling thread (threads started later inherit the mask) and returns a
/// non-blocking, close-on-exec signalfd for them, so signals arrive as loop events instead of
/// interrupting arbitrary code. Returns -1 with errno on failure.
int airlock_signalfd(const int *signals, int count);
/// Reads one pending signal from a signalfd: its number, 0 when none is pending, -1 on error.
int airlock_signalfd_read(int fd);

// ---- Control socket (AirlockIO) ----
// SCM_RIGHTS needs the CMSG_* macros, SO_PEERCRED needs `struct ucred` (_GNU_SOURCE), and
// sockaddr_un's fixed char array imports as a 108-element tuple: none is usable from Swift.

/// Upper bound on descriptors in one control message; the receive buffer holds exactly this many,
/// so a message carrying more arrives with its excess already dropped by the kernel (and flagged).
#define AIRLOCK_CONTROL_MAX_FDS 40
/// The kernel's own limit on descriptors per message (SCM_MAX_FD); sending accepts up to this so
/// tests can play a peer that breaks the protocol's smaller cap.
#define AIRLOCK_SCM_MAX_FD 253
/// A close-on-exec AF_UNIX SOCK_SEQPACKET socket (non-blocking when `nonblocking`), in one call.
int airlock_seqpacket_socket(int nonblocking);
/// bind(2) / connect(2) to a filesystem path; -1 with ENAMETOOLONG when it does not fit sun_path.
int airlock_unix_bind(int fd, const char *path);
int airlock_unix_connect(int fd, const char *path);
/// sendmsg(2) of one message with `nfds` (≤ AIRLOCK_SCM_MAX_FD) descriptors as SCM_RIGHTS (none
/// when 0), MSG_NOSIGNAL plus `flags`. Returns the bytes sent or -1 with errno.
long airlock_send_with_fds(int fd, const void *buf, unsigned long len, const int *fds, int nfds, int flags);
/// recvmsg(2) of one message with MSG_CMSG_CLOEXEC plus `flags`. Stores up to
/// AIRLOCK_CONTROL_MAX_FDS received descriptors in `fds` and their count in `*nfds`, and sets
/// `*truncated` when the payload (MSG_TRUNC) or the descriptors (MSG_CTRUNC) did not fit. Returns
/// the bytes received (0: end of stream or an empty message) or -1 with errno (nothing received).
long airlock_recv_with_fds(int fd, void *buf, unsigned long len, int *fds, int *nfds, int *truncated, int flags);
/// SO_PEERCRED: the peer's pid, uid and gid as of connect(2). 0 or -1 with errno.
int airlock_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid);
/// SO_PEERPIDFD (Linux 6.5+): a close-on-exec pidfd for the peer process as of connect(2), so a
/// recycled pid cannot be mistaken for the caller. -1 with errno (ENOPROTOOPT on older kernels).
int airlock_peer_pidfd(int fd);

// ---- Terminals (AirlockIO) ----
// posix_openpt, grantpt, unlockpt and ptsname_r need _XOPEN_SOURCE or _GNU_SOURCE, which Swift's
// Glibc module does not define; TIOCGPTPEER is not exported either. See terminal.c.

/// A new pty pair for `airlock run`'s agent: both ends O_NOCTTY (neither may become the caller's
/// controlling terminal) and close-on-exec, the master non-blocking. The slave is opened through
/// the master (TIOCGPTPEER) where the kernel has it, so no path is resolved. 0 or an errno value.
int airlock_openpty(int *master, int *slave);

#endif
