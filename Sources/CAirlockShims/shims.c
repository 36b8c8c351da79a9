#define _GNU_SOURCE
#include "CAirlockShims.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int airlock_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int airlock_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = { .events = events, .data = { .u64 = data } };
    return epoll_ctl(epfd, op, fd, &ev);
}

int airlock_epoll_wait(int epfd, uint32_t *events, uint64_t *data, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) { events[i] = evs[i].events; data[i] = evs[i].data.u64; }
    return n;
}

int airlock_unshare(int flags) { return unshare(flags); }
int airlock_setns(int fd, int nstype) { return setns(fd, nstype); }
int airlock_close_range(unsigned int first, unsigned int last, unsigned int flags) {
    return (int)syscall(SYS_close_range, first, last, flags);
}
int airlock_pidfd_open(pid_t pid, unsigned int flags) { return (int)syscall(SYS_pidfd_open, pid, flags); }
int airlock_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }
int airlock_eventfd(unsigned int initval) { return eventfd(initval, EFD_CLOEXEC | EFD_NONBLOCK); }
int airlock_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }
int airlock_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
int airlock_open_exec_path(const char *path) { return open(path, O_PATH | O_CLOEXEC); }

void airlock_set_thread_name(const char *name) {
    char buf[16];
    strncpy(buf, name, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    pthread_setname_np(pthread_self(), buf);
}

int airlock_tcp_socket(int family) {
    return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
}

int airlock_bind_to_device(int fd, const char *name) {
    size_t len = strnlen(name, IFNAMSIZ);
    return setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, (socklen_t)len);
}

uint64_t airlock_heap_in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

// ---- Network namespaces (AirlockNet) ----
// Swift's Glibc lacks CLONE_NEWNET and the mount flags; and unshare(CLONE_NEWNET) must run on a
// thread that exists only for it (the namespace of a thread never goes back), so the thread lives here.
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

int airlock_netns_prepare_dir(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return errno;
    int made_mount = 0;
    // Same dance as `ip netns add`: MS_SHARED fails with EINVAL until dir is a mount point.
    while (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) {
        if (errno != EINVAL || made_mount) return errno;
        if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) != 0) return errno;
        made_mount = 1;
    }
    return 0;
}

struct airlock_netns_bind_job { const char *path; int err; };

static void *airlock_netns_bind_thread(void *arg) {
    struct airlock_netns_bind_job *job = arg;
    job->err = 0;
    if (unshare(CLONE_NEWNET) != 0) { job->err = errno; return NULL; }
    // thread-self, not self: /proc/self/ns/net is the main thread's namespace.
    if (mount("/proc/thread-self/ns/net", job->path, "none", MS_BIND, NULL) != 0) job->err = errno;
    return NULL;
}

int airlock_netns_bind_new(const char *path) {
    struct airlock_netns_bind_job job = { path, 0 };
    pthread_t tid;
    int rc = pthread_create(&tid, NULL, airlock_netns_bind_thread, &job);
    if (rc != 0) return rc;
    rc = pthread_join(tid, NULL);
    if (rc != 0) return rc;
    return job.err;
}

int airlock_netns_unmount(const char *path) { return umount2(path, MNT_DETACH) == 0 ? 0 : errno; }

int airlock_setns_net(int fd) { return setns(fd, CLONE_NEWNET) == 0 ? 0 : errno; }

int airlock_sysctl_write(const char *path, const char *value) {
    int fd;
    do { fd = open(path, O_WRONLY | O_CLOEXEC); } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    size_t len = strlen(value);
    ssize_t n;
    do { n = write(fd, value, len); } while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : ((size_t)n != len ? EIO : 0);
    if (close(fd) != 0 && err == 0 && errno != EINTR) err = errno;
    return err;
}

static void *airlock_netns_probe_thread(void *arg) {
    *(int *)arg = unshare(CLONE_NEWNET) == 0 ? 0 : errno;
    return NULL;
}

int airlock_netns_probe(void) {
    int err = 0;
    pthread_t tid;
    int rc = pthread_create(&tid, NULL, airlock_netns_probe_thread, &err);
    if (rc != 0) return rc;
    rc = pthread_join(tid, NULL);
    return rc != 0 ? rc : err;
}

// ---- Signals (AirlockIO) ----
// signalfd and sigset_t macros are not usable from Swift's Glibc import.
#include <sys/signalfd.h>

int airlock_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int airlock_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n == (ssize_t)sizeof info) return (int)info.ssi_signo;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    return -1;
}
// ---- Agent process launch (AirlockAgent) ----
// Why C: between clone and execve only async-signal-safe calls are allowed (the caller is a
// multithreaded Swift process whose other threads may hold malloc or runtime locks), and clone3,
// CLONE_NEWPID, capset and close_range are not in Swift's Glibc. Credentials change through raw
// syscalls: glibc's setresuid wrappers broadcast to the threads of the parent process (nptl setxid),
// which do not exist in the child. The command is forked with _Fork, which runs no atfork handlers.
#include <linux/capability.h>
#include <poll.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#define AIRLOCK_P_PIDFD 3

// struct clone_args as of Linux 5.5 (linux/sched.h clashes with glibc's sched.h).
struct airlock_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

// What a failing child writes to the error pipe: one write of 8 bytes, atomic (< PIPE_BUF).
struct airlock_spawn_report { int stage; int err; };

// Reports the failed step and ends the process; the parent sees data instead of EOF.
__attribute__((noreturn))
static void airlock_spawn_fail(int errfd, int stage, int err) {
    struct airlock_spawn_report r = { stage, err };
    ssize_t n;
    do { n = write(errfd, &r, sizeof r); } while (n < 0 && errno == EINTR);
    _exit(127);
}

// The init's handler: never runs (the init keeps every signal blocked and takes them from a
// signalfd), but PID 1 of a PID namespace is sent only signals it has a handler for, and a
// SIGCHLD the caller set to SIG_IGN would make the kernel reap the command behind our back.
static void airlock_init_signal(int sig) { (void)sig; }

// Closes every descriptor except those in keep (n of them, -1 entries ignored; sorts keep).
// Returns 0 or an errno value.
static int airlock_close_all_but(int *keep, int n) {
    for (int i = 1; i < n; i++) {
        int v = keep[i], j = i;
        while (j > 0 && keep[j - 1] > v) { keep[j] = keep[j - 1]; j--; }
        keep[j] = v;
    }
    unsigned int next = 0;
    for (int i = 0; i < n; i++) {
        if (keep[i] < 0) continue;
        unsigned int k = (unsigned int)keep[i];
        if (k > next && syscall(SYS_close_range, next, k - 1, 0) != 0) return errno;
        if (k + 1 > next) next = k + 1;
    }
    if (syscall(SYS_close_range, next, ~0U, 0) != 0) return errno;
    return 0;
}

// Leaves the process with the agent's uid and gid, no supplementary groups, no capabilities in
// any set (bounding and ambient included) and no_new_privs. The bounding set goes first: dropping
// from it needs CAP_SETPCAP, which setresuid takes away.
static void airlock_drop_privileges(const struct airlock_spawn_spec *spec, int errfd) {
    if (syscall(SYS_setgroups, 0, NULL) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_SETGROUPS, errno);
    if (syscall(SYS_setresgid, spec->gid, spec->gid, spec->gid) != 0)
        airlock_spawn_fail(errfd, AIRLOCK_STAGE_SETRESGID, errno);
    for (unsigned long cap = 0; cap < 64 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_CAPBSET, errno);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        airlock_spawn_fail(errfd, AIRLOCK_STAGE_CAPBSET, errno);
    if (syscall(SYS_setresuid, spec->uid, spec->uid, spec->uid) != 0)
        airlock_spawn_fail(errfd, AIRLOCK_STAGE_SETRESUID, errno);
    // setresuid away from 0 clears permitted and effective, not inheritable; capset clears all
    // three, and is what keeps a uid-0 test run capability-free too.
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
    if (syscall(SYS_capset, &hdr, data) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_CAPSET, errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_NO_NEW_PRIVS, errno);
}

// The command: pid 2 of the new PID namespace, already unprivileged and in the namespaces.
__attribute__((noreturn))
static void airlock_command_main(const struct airlock_spawn_spec *spec, int errfd) {
    // Back to default dispositions: execve resets handled signals but keeps ignored ones.
    // Errors are ignored: glibc refuses to touch its two internal signals.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
    }
    // As the agent user, so the agent must be allowed there.
    if (spec->cwd != NULL && chdir(spec->cwd) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_CHDIR, errno);
    if ((spec->flags & AIRLOCK_SPAWN_NEW_SESSION) && setsid() < 0)
        airlock_spawn_fail(errfd, AIRLOCK_STAGE_SETSID, errno);

    // The error pipe must survive the dup2 onto 0-2 below.
    if (errfd < 3) {
        int moved = fcntl(errfd, F_DUPFD_CLOEXEC, 3);
        if (moved < 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_STDIO, errno);
        errfd = moved;
    }
    if (spec->exec_fd >= 0 && spec->exec_fd < 3) airlock_spawn_fail(errfd, AIRLOCK_STAGE_INVALID, EBADF);
    // Sources below 3 that are not already in place move up first, so no dup2 clobbers a source
    // still to be used (e.g. stdout given as fd 0).
    int src[3];
    for (int i = 0; i < 3; i++) {
        src[i] = spec->stdio[i];
        if (src[i] < 0 && (src[i] = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
            airlock_spawn_fail(errfd, AIRLOCK_STAGE_STDIO, errno);
    }
    for (int i = 0; i < 3; i++) {
        if (src[i] < 3 && src[i] != i && (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0)
            airlock_spawn_fail(errfd, AIRLOCK_STAGE_STDIO, errno);
    }
    for (int i = 0; i < 3; i++) {
        int rc = src[i] == i ? fcntl(i, F_SETFD, 0) : dup2(src[i], i);
        if (rc < 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_STDIO, errno);
    }
    // Only 0, 1, 2 reach the command (invariant 8); the error pipe stays, close-on-exec, to report
    // an execve failure, and so does the binary to execute (close-on-exec too, gone after exec).
    int keep[5] = { 0, 1, 2, errfd, spec->exec_fd };
    int err = airlock_close_all_but(keep, 5);
    if (err != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_STDIO, err);

    if ((spec->flags & AIRLOCK_SPAWN_CONTROLLING_TTY) && ioctl(0, TIOCSCTTY, 0) != 0)
        airlock_spawn_fail(errfd, AIRLOCK_STAGE_TTY, errno);

    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_SIGNALS, errno);
    // Last: the filter denies calls the steps above may need.
    if (spec->flags & AIRLOCK_SPAWN_SECCOMP) {
        int serr = airlock_seccomp_install();
        if (serr != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_SECCOMP, serr);
    }
    if (spec->exec_fd >= 0) syscall(SYS_execveat, spec->exec_fd, "", spec->argv, spec->envp, AT_EMPTY_PATH);
    else execve(spec->path, spec->argv, spec->envp);
    airlock_spawn_fail(errfd, AIRLOCK_STAGE_EXECVE, errno);
}

// ---- The sandbox's mount namespace and bounds, run by the init ----
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <time.h>

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define AIRLOCK_OPEN_TREE_CLONE 1
#define AIRLOCK_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define AIRLOCK_MOUNT_ATTR_RDONLY 0x1
#define AIRLOCK_MOUNT_ATTR_NOSUID 0x2
#define AIRLOCK_MOUNT_ATTR_NODEV 0x4
// struct mount_attr (linux/mount.h clashes with glibc's sys/mount.h).
struct airlock_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };
#define AIRLOCK_MAX_MOUNTS 96
#define AIRLOCK_MAX_CGROUPS 8
#define AIRLOCK_MAX_WATCHES 8

static unsigned long airlock_ms_flags(unsigned int f) {
    return ((f & AIRLOCK_MOUNT_NOSUID) ? MS_NOSUID : 0) | ((f & AIRLOCK_MOUNT_NODEV) ? MS_NODEV : 0)
         | ((f & AIRLOCK_MOUNT_NOEXEC) ? MS_NOEXEC : 0) | ((f & AIRLOCK_MOUNT_RDONLY) ? MS_RDONLY : 0);
}

static int airlock_set_readonly(const char *target, int readonly) {
    struct airlock_mount_attr attr;
    memset(&attr, 0, sizeof attr);
    // Set-uid bits and device nodes count nowhere the agent can write or read (its /dev is made
    // after, from nodes of its own).
    attr.attr_set = AIRLOCK_MOUNT_ATTR_NOSUID | AIRLOCK_MOUNT_ATTR_NODEV;
    // A writable grant keeps the read-only flags its mounts have in the caller's view (a
    // read-only mount below the working directory stays one): the relay hands out no more
    // than the caller has. Only read-only is ever added.
    if (readonly) attr.attr_set |= AIRLOCK_MOUNT_ATTR_RDONLY;
    return (int)syscall(SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof attr);
}

// One step; 0 or -1 with errno. `tree` is the detached copy of a BIND step's descriptor.
static int airlock_mount_step(const struct airlock_mount_op *op, int tree) {
    switch (op->kind) {
    case AIRLOCK_MOUNT_TMPFS:
        return mount("tmpfs", op->target, "tmpfs", airlock_ms_flags(op->flags), op->data);
    case AIRLOCK_MOUNT_PROC:
        return mount("proc", op->target, "proc", airlock_ms_flags(op->flags), op->data);
    case AIRLOCK_MOUNT_SYSFS:
        return mount("sysfs", op->target, "sysfs", airlock_ms_flags(op->flags), NULL);
    case AIRLOCK_MOUNT_DEVPTS:
        return mount("devpts", op->target, "devpts", airlock_ms_flags(op->flags), op->data);
    case AIRLOCK_MOUNT_BIND:
        if (tree >= 0)
            return (int)syscall(SYS_move_mount, tree, "", AT_FDCWD, op->target, AIRLOCK_MOVE_MOUNT_F_EMPTY_PATH);
        if (op->source == NULL) { errno = EINVAL; return -1; }
        return mount(op->source, op->target, NULL, MS_BIND | MS_REC | airlock_ms_flags(op->flags), NULL);
    case AIRLOCK_MOUNT_READONLY: return airlock_set_readonly(op->target, 1);
    case AIRLOCK_MOUNT_WRITABLE: return airlock_set_readonly(op->target, 0);
    case AIRLOCK_MOUNT_MKDIR:
        return (mkdir(op->target, op->mode) == 0 || errno == EEXIST) ? 0 : -1;
    case AIRLOCK_MOUNT_FILE: {
        if (op->data == NULL) {  // a mount point: made when missing, an existing file left alone
            int fd = open(op->target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, op->mode);
            if (fd < 0) return errno == EEXIST ? 0 : -1;
            return close(fd);
        }
        int fd = open(op->target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, op->mode);
        if (fd < 0) return -1;
        size_t len = op->data ? strlen(op->data) : 0, off = 0;
        while (off < len) {
            ssize_t n = write(fd, op->data + off, len - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) { int e = n < 0 ? errno : EIO; close(fd); errno = e; return -1; }
            off += (size_t)n;
        }
        if (fchmod(fd, op->mode) != 0) { int e = errno; close(fd); errno = e; return -1; }
        return close(fd);
    }
    case AIRLOCK_MOUNT_SYMLINK:
        if (op->source == NULL) { errno = EINVAL; return -1; }
        return (symlink(op->source, op->target) == 0 || errno == EEXIST) ? 0 : -1;
    case AIRLOCK_MOUNT_MKNOD:
        if (mknod(op->target, S_IFCHR | (op->mode & 07777), (dev_t)op->device) != 0) return -1;
        return chmod(op->target, op->mode & 07777);  // mknod applies the umask
    default:
        errno = EINVAL;
        return -1;
    }
}

// The sandbox: a new mount namespace, private, built by the spec's steps. Sources given as
// descriptors are copied (open_tree) before the unshare: a mount of another namespace cannot be
// bound, a detached copy can be moved in.
static void airlock_build_mounts(const struct airlock_spawn_spec *spec, int errfd) {
    int trees[AIRLOCK_MAX_MOUNTS];
    for (int i = 0; i < spec->mount_count; i++) {
        const struct airlock_mount_op *op = &spec->mounts[i];
        trees[i] = -1;
        if (op->kind != AIRLOCK_MOUNT_BIND || op->source_fd < 0) continue;
        trees[i] = (int)syscall(SYS_open_tree, op->source_fd, "",
                                AIRLOCK_OPEN_TREE_CLONE | AT_RECURSIVE | AT_EMPTY_PATH | O_CLOEXEC);
        if (trees[i] < 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_MOUNT_BASE + i, errno);
    }
    if (unshare(CLONE_NEWNS) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_UNSHARE_MNT, errno);
    // Nothing done here may reach the host's namespace, nor the host's later mounts this one.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_UNSHARE_MNT, errno);
    for (int i = 0; i < spec->mount_count; i++) {
        if (airlock_mount_step(&spec->mounts[i], trees[i]) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_MOUNT_BASE + i, errno);
        if (trees[i] >= 0) { close(trees[i]); trees[i] = -1; }
    }
    // The cwd and root were copies of the host's; back to the root of this namespace.
    if (chdir("/") != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_CHDIR, errno);
}

static int64_t airlock_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// The number after `key` at the start of a line of fd's content (from offset 0), or the file's
// first number when key is NULL. UINT64_MAX when it cannot be read.
static uint64_t airlock_read_counter(int fd, const char *key) {
    char buf[1024];
    ssize_t n;
    do { n = pread(fd, buf, sizeof buf - 1, 0); } while (n < 0 && errno == EINTR);
    if (n <= 0) return UINT64_MAX;
    buf[n] = 0;
    const char *p = buf;
    if (key != NULL) {
        size_t klen = strlen(key);
        for (;;) {
            if (strncmp(p, key, klen) == 0 && (p[klen] == ' ' || p[klen] == '\t')) { p += klen; break; }
            p = strchr(p, '\n');
            if (p == NULL) return UINT64_MAX;
            p++;
        }
    }
    while (*p == ' ' || *p == '\t') p++;
    if (*p < '0' || *p > '9') return UINT64_MAX;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

// A bound was hit: say which through the lifeline, then kill everything in the run.
__attribute__((noreturn))
static void airlock_limit_kill(const struct airlock_spawn_spec *spec, int reason) {
    if (spec->life_fd >= 0 && (spec->flags & AIRLOCK_SPAWN_LIFE_SIGNALS)) {
        struct airlock_limit_report r = { AIRLOCK_LIMIT_REPORT_MAGIC, reason };
        (void)send(spec->life_fd, &r, sizeof r, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (spec->kill_fd >= 0) { ssize_t n = write(spec->kill_fd, "1", 1); (void)n; }
    kill(-1, SIGKILL);  // pid 1 of the namespace: everyone else in it
    _exit(137);
}

// Kills the tree (through airlock_limit_kill) when a watched counter reached its bound.
static void airlock_check_watches(const struct airlock_spawn_spec *spec) {
    for (int i = 0; i < spec->watch_count; i++) {
        uint64_t v = airlock_read_counter(spec->watches[i].fd, spec->watches[i].key);
        if (v != UINT64_MAX && v >= spec->watches[i].bound) airlock_limit_kill(spec, spec->watches[i].reason);
    }
}

// Overwrites this process's argument strings (its copy of the launcher's: COW after the fork)
// with `name`, as setproctitle does: /proc/PID/cmdline then shows only that. Best effort.
static void airlock_rename_cmdline(const char *name) {
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    char *p = strrchr(buf, ')');  // the name may hold spaces; fields go on after its ')'
    if (p == NULL) return;
    // Fields 48 and 49 (1-based) are arg_start and arg_end; the one after ')' is field 3.
    unsigned long v[2] = { 0, 0 };
    int field = 2;
    for (p++; *p && field < 49; ) {
        while (*p == ' ') p++;
        field++;
        unsigned long x = 0;
        while (*p >= '0' && *p <= '9') x = x * 10 + (unsigned long)(*p++ - '0');
        while (*p && *p != ' ') p++;
        if (field == 48) v[0] = x;
        if (field == 49) v[1] = x;
    }
    if (v[0] == 0 || v[1] <= v[0]) return;
    size_t len = v[1] - v[0], k = strlen(name);
    char *args = (char *)v[0];
    memset(args, 0, len);
    memcpy(args, name, k < len ? k : len - 1);
}

// The init: pid 1 of the new PID namespace. Starts with every signal blocked (the parent blocked
// them around clone3) and keeps them blocked.
__attribute__((noreturn))
static void airlock_init_main(const struct airlock_spawn_spec *spec, int errfd) {
    if (spec->mount_count > AIRLOCK_MAX_MOUNTS || spec->cgroup_count > AIRLOCK_MAX_CGROUPS
        || spec->watch_count > AIRLOCK_MAX_WATCHES || spec->mount_count < 0 || spec->cgroup_count < 0 || spec->watch_count < 0)
        airlock_spawn_fail(errfd, AIRLOCK_STAGE_INVALID, E2BIG);
    // Whatever the caller had open (sockets, other agents' pipes, even close-on-exec ones: the init
    // never execs) would otherwise live as long as the agent.
    int keep[10 + AIRLOCK_MAX_MOUNTS + AIRLOCK_MAX_CGROUPS + AIRLOCK_MAX_WATCHES];
    int nkeep = 0;
    const int fixed[10] = { errfd, spec->netns_fd, spec->mntns_fd, spec->stdio[0], spec->stdio[1], spec->stdio[2],
                            spec->cwd_fd, spec->exec_fd, spec->life_fd, spec->kill_fd };
    for (int i = 0; i < 10; i++) keep[nkeep++] = fixed[i];
    for (int i = 0; i < spec->mount_count; i++) keep[nkeep++] = spec->mounts[i].source_fd;
    for (int i = 0; i < spec->cgroup_count; i++) keep[nkeep++] = spec->cgroup_fds[i];
    for (int i = 0; i < spec->watch_count; i++) keep[nkeep++] = spec->watches[i].fd;
    int err = airlock_close_all_but(keep, nkeep);
    if (err != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_CLOSE_FDS, err);
    const int64_t started = airlock_now_ms();

    // A clone of the launcher without exec: its name, and (root may, before the privilege drop)
    // its command line, would be the launcher's, with the paths of its key and policy.
    prctl(PR_SET_NAME, "airlock-init", 0, 0, 0);
    airlock_rename_cmdline("airlock-init");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = airlock_init_signal;
    sigemptyset(&sa.sa_mask);
    const int handled[4] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
    sigset_t waitset;
    sigemptyset(&waitset);
    for (int i = 0; i < 4; i++) {
        if (sigaction(handled[i], &sa, NULL) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_SIGNALS, errno);
        sigaddset(&waitset, handled[i]);
    }

    // The run's cgroups first, so that everything after, the command included, is counted.
    for (int i = 0; i < spec->cgroup_count; i++) {
        ssize_t n;
        do { n = write(spec->cgroup_fds[i], "0", 1); } while (n < 0 && errno == EINTR);
        if (n != 1) airlock_spawn_fail(errfd, AIRLOCK_STAGE_CGROUP, n < 0 ? errno : EIO);
    }
    // Namespaces and privileges here, not in the command, so that nothing in the new PID
    // namespace is privileged or outside the agent's network namespace.
    if (setns(spec->netns_fd, CLONE_NEWNET) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_SETNS_NET, errno);
    if (spec->mntns_fd >= 0 && setns(spec->mntns_fd, CLONE_NEWNS) != 0)
        airlock_spawn_fail(errfd, AIRLOCK_STAGE_SETNS_MNT, errno);
    if (spec->mount_count > 0) {
        // The command enters its working directory by path, inside the sandbox: a directory
        // descriptor from outside would lead back to the host's writable mounts.
        airlock_build_mounts(spec, errfd);
    } else if (spec->cwd_fd >= 0 && fchdir(spec->cwd_fd) != 0) {
        airlock_spawn_fail(errfd, AIRLOCK_STAGE_CHDIR, errno);
    }
    airlock_drop_privileges(spec, errfd);

    const int life = spec->life_fd;
    if (life < 0) {
        // After the credential change, which clears it. Fires when the spawning *thread* exits.
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_PDEATHSIG, errno);
        // If the parent died before the prctl, nothing will fire: its end of the error pipe is then
        // closed, which poll reports as POLLERR on ours. (getppid cannot tell: it is 0 across the
        // PID namespace boundary either way.)
        struct pollfd pfd = { errfd, POLLOUT, 0 };
        if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR)) _exit(127);
    }

    // Every signal stays blocked; the handled ones arrive here. (The command closes its copy.)
    int sfd = signalfd(-1, &waitset, SFD_CLOEXEC);
    if (sfd < 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_SIGNALS, errno);

    pid_t command = _Fork();
    if (command < 0) airlock_spawn_fail(errfd, AIRLOCK_STAGE_FORK, errno);
    if (command == 0) airlock_command_main(spec, errfd);

    // The init holds nothing but these: its copy of the error pipe would hide the command's
    // exec from the parent, and inherited pipes would hide EOF from their readers.
    int held[2 + 1 + AIRLOCK_MAX_WATCHES] = { sfd, life, spec->kill_fd };
    int nheld = 3;
    for (int i = 0; i < spec->watch_count; i++) held[nheld++] = spec->watches[i].fd;
    if (airlock_close_all_but(held, nheld) != 0) _exit(127);
    const int relays = (spec->flags & AIRLOCK_SPAWN_LIFE_SIGNALS) != 0;
    const int64_t deadline = spec->timeout_ms > 0 ? started + spec->timeout_ms : 0;

    for (;;) {
        // Bounds first: a tree that hit one is killed even while signals keep arriving.
        airlock_check_watches(spec);
        int timeout = -1;
        if (spec->watch_count > 0) timeout = AIRLOCK_WATCH_INTERVAL_MS;
        if (deadline > 0) {
            int64_t left = deadline - airlock_now_ms();
            if (left <= 0) airlock_limit_kill(spec, AIRLOCK_LIMIT_TIMEOUT);
            if (timeout < 0 || left < timeout) timeout = (int)left;
        }
        struct pollfd p[2] = { { sfd, POLLIN, 0 }, { life, (short)(relays ? POLLIN : 0), 0 } };
        if (poll(p, life >= 0 ? 2 : 1, timeout) <= 0) continue;
        if (p[1].revents & POLLIN) {
            unsigned char msg[16];
            ssize_t n = recv(life, msg, sizeof msg, MSG_DONTWAIT);
            if (n == 0) _exit(137);  // the launcher is gone: so is everything here
            if (n == 1 && (msg[0] == SIGINT || msg[0] == SIGTERM || msg[0] == SIGHUP)) kill(command, msg[0]);
        } else if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            _exit(137);
        }
        if (!(p[0].revents & POLLIN)) continue;
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) continue;
        if (si.ssi_signo != SIGCHLD) { kill(command, (int)si.ssi_signo); continue; }
        for (;;) {
            int status;
            pid_t r = waitpid(-1, &status, WNOHANG);
            if (r <= 0) break;
            if (r == command) {
                // A command the OOM killer took, or one that gave up when a fork failed, ended
                // because of a bound: say so, rather than pass on its status.
                airlock_check_watches(spec);
                int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                if (relays) (void)send(life, &code, sizeof code, MSG_NOSIGNAL | MSG_DONTWAIT);
                // Exiting makes the kernel kill everything left in the namespace.
                _exit(code);
            }
        }
    }
}

pid_t airlock_spawn(const struct airlock_spawn_spec *spec, int *pidfd_out,
                    int *error_stage, int *error_errno) {
    *pidfd_out = -1;
    *error_stage = AIRLOCK_STAGE_NONE;
    *error_errno = 0;
    if (spec == NULL || spec->path == NULL || spec->argv == NULL || spec->envp == NULL || spec->netns_fd < 0) {
        *error_stage = AIRLOCK_STAGE_INVALID; *error_errno = EINVAL;
        return -1;
    }
    if ((spec->uid == 0 || spec->gid == 0) && !(spec->flags & AIRLOCK_SPAWN_ALLOW_ROOT)) {
        *error_stage = AIRLOCK_STAGE_INVALID; *error_errno = EPERM;
        return -1;
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        *error_stage = AIRLOCK_STAGE_PIPE; *error_errno = errno;
        return -1;
    }
    // No handler of ours may run in the child before it has set its own dispositions.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    struct airlock_clone_args args;
    memset(&args, 0, sizeof args);
    // Its own IPC namespace too: SysV IPC and POSIX message queues are per namespace, so the
    // tree can neither reach the host's nor leave its own behind (they go with the namespace).
    args.flags = CLONE_NEWPID | CLONE_NEWIPC | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) airlock_init_main(spec, pipefd[1]);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        *error_stage = AIRLOCK_STAGE_CLONE; *error_errno = clone_errno;
        return -1;
    }

    // EOF with no data: the command's copy closed on a successful execve.
    struct airlock_spawn_report report = { 0, 0 };
    size_t got = 0;
    int read_errno = 0;
    while (got < sizeof report) {
        ssize_t n = read(pipefd[0], (char *)&report + got, sizeof report - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { read_errno = errno; break; }
        if (n == 0) break;
        got += (size_t)n;
    }
    close(pipefd[0]);
    if (got == 0 && read_errno == 0) {
        *pidfd_out = pidfd;
        return (pid_t)pid;
    }
    // The init ends by itself after a failure; SIGKILL covers a failed read. Reap it either way.
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    siginfo_t si;
    while (waitid((idtype_t)AIRLOCK_P_PIDFD, (id_t)pidfd, &si, WEXITED) != 0 && errno == EINTR) {}
    close(pidfd);
    if (got == sizeof report) {
        *error_stage = report.stage; *error_errno = report.err;
    } else {
        *error_stage = AIRLOCK_STAGE_READ; *error_errno = read_errno != 0 ? read_errno : EIO;
    }
    return -1;
}

int airlock_pidfd_wait(int pidfd, int nohang, int *state, int *value) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int rc;
    do {
        rc = waitid((idtype_t)AIRLOCK_P_PIDFD, (id_t)pidfd, &si, WEXITED | (nohang ? WNOHANG : 0));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return errno;
    if (si.si_pid == 0) { *state = AIRLOCK_WAIT_RUNNING; *value = 0; return 0; }
    *state = si.si_code == CLD_EXITED ? AIRLOCK_WAIT_EXITED : AIRLOCK_WAIT_SIGNALED;
    *value = si.si_status;
    return 0;
}

// ---- Control socket (AirlockIO) ----
// Ancillary data (SCM_RIGHTS), struct ucred and sockaddr_un are awkward or unavailable in Swift.
#include <stddef.h>
#include <sys/un.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

int airlock_seqpacket_socket(int nonblocking) {
    return socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
}

static int airlock_unix_address(struct sockaddr_un *sa, const char *path) {
    size_t len = strlen(path);
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (len == 0 || len >= sizeof sa->sun_path) { errno = ENAMETOOLONG; return -1; }
    memcpy(sa->sun_path, path, len + 1);
    return 0;
}

int airlock_unix_bind(int fd, const char *path) {
    struct sockaddr_un sa;
    if (airlock_unix_address(&sa, path) != 0) return -1;
    return bind(fd, (struct sockaddr *)&sa, sizeof sa);
}

int airlock_unix_connect(int fd, const char *path) {
    struct sockaddr_un sa;
    if (airlock_unix_address(&sa, path) != 0) return -1;
    return connect(fd, (struct sockaddr *)&sa, sizeof sa);
}

long airlock_send_with_fds(int fd, const void *buf, unsigned long len, const int *fds, int nfds, int flags) {
    if (nfds < 0 || nfds > AIRLOCK_SCM_MAX_FD) { errno = EINVAL; return -1; }
    union { struct cmsghdr align; char bytes[CMSG_SPACE(sizeof(int) * AIRLOCK_SCM_MAX_FD)]; } control;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do { n = sendmsg(fd, &msg, MSG_NOSIGNAL | flags); } while (n < 0 && errno == EINTR);
    return (long)n;
}

long airlock_recv_with_fds(int fd, void *buf, unsigned long len, int *fds, int *nfds, int *truncated, int flags) {
    union { struct cmsghdr align; char bytes[CMSG_SPACE(sizeof(int) * AIRLOCK_CONTROL_MAX_FDS)]; } control;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                          .msg_controllen = sizeof control.bytes };
    *nfds = 0;
    *truncated = 0;
    ssize_t n;
    do { n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | flags); } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < count; i++) {
            int received;
            memcpy(&received, data + i * sizeof(int), sizeof(int));
            // The buffer holds AIRLOCK_CONTROL_MAX_FDS, so this cannot overflow; stay safe anyway.
            if (*nfds < AIRLOCK_CONTROL_MAX_FDS) fds[(*nfds)++] = received;
            else { close(received); *truncated = 1; }
        }
    }
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) *truncated = 1;
    return (long)n;
}

int airlock_peer_credentials(int fd, int *pid, unsigned int *uid, unsigned int *gid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int airlock_peer_pidfd(int fd) {
    int pidfd = -1;
    socklen_t len = sizeof pidfd;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) return -1;
    return pidfd;
}
