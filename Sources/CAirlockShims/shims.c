#define _GNU_SOURCE
#include "CAirlockShims.h"
#include <errno.h>
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
