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

#endif
