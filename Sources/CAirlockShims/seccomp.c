// The agent syscall filter (issue 5): a classic BPF seccomp program installed by the command right
// before execve, after no_new_privs. The namespaces and the privilege drop already stop most
// escapes; the filter closes the routes they leave open and trims kernel surface the agent has no
// use for. Everything not listed is allowed. Why each group is denied:
//
//   - AF_VSOCK sockets reach the hypervisor host (and other guests) without any network interface,
//     so the network namespace does not cover them; AF_PACKET sockets would see and forge raw
//     frames on the namespace's links (they need CAP_NET_RAW, which a new user namespace gives).
//   - unshare, setns, clone with a CLONE_NEW* flag, clone3: a new user namespace regains every
//     capability inside it (mount, raw sockets, netfilter of its own namespaces), the start of most
//     container escapes. clone3 passes its flags in memory, which BPF cannot read, so it gets
//     ENOSYS and glibc falls back to clone, whose flags the filter checks.
//   - mount, umount2, pivot_root, chroot and the new mount API (open_tree, move_mount, fsopen,
//     fsconfig, fsmount, fspick, mount_setattr, open_tree_attr): the sandbox's mounts are final.
//   - io_uring_setup/enter/register: io_uring performs I/O without the syscalls seccomp sees, and is
//     a steady source of kernel bugs. ENOSYS, as on a kernel without io_uring, so runtimes that
//     probe for it (libuv, tokio) fall back to plain syscalls instead of failing.
//   - ioctl TIOCSTI and TIOCLINUX: keystroke injection into a terminal the agent shares.
//   - bpf, perf_event_open, userfaultfd, add_key, request_key, keyctl, kexec_*, *_module: kernel
//     attack surface (and, for keyrings, secrets of the same uid) an agent does not need.
//   - Other architectures' syscalls (i386 int 0x80, AArch32, x32): their numbers differ, so the
//     list above would not match them. A foreign `arch` kills the process; x32 calls get EPERM.
//
// Argument checks compare the low 32 bits only: socket's domain, ioctl's request and clone's flags
// are ints (clone: lower_32_bits(flags)) in the kernel, so the upper half cannot change the call.
#define _GNU_SOURCE
#include "CAirlockShims.h"
#include <errno.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__)
#define AIRLOCK_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AIRLOCK_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef AIRLOCK_AUDIT_ARCH

// Linux 6.15; same number on every architecture since the unified table (424 on), and older
// headers lack it.
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif

#define AIRLOCK_AF_PACKET 17
#define AIRLOCK_AF_VSOCK 40
// socket(AF_INET, SOCK_PACKET, …) is the old spelling of a packet socket; the type's low bits.
#define AIRLOCK_SOCK_PACKET 10
#define AIRLOCK_SOCK_TYPE_MASK 0xf
#define AIRLOCK_TIOCSTI 0x5412
#define AIRLOCK_TIOCLINUX 0x541C
// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
// CLONE_NEWNET, and CLONE_NEWTIME (0x80, which clone() itself reads as part of the exit signal).
#define AIRLOCK_CLONE_NEW_ANY (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | \
                               0x20000000 | 0x40000000 | 0x80)

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define AIRLOCK_ARG_LOW(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#else
#define AIRLOCK_ARG_LOW(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#endif

#define RET(action) BPF_STMT(BPF_RET | BPF_K, (action))
#define EPERM_ (SECCOMP_RET_ERRNO | EPERM)
#define ENOSYS_ (SECCOMP_RET_ERRNO | ENOSYS)
// Every check is a self-contained block that starts with the syscall number in A and either
// returns or falls through to the next block with A unchanged, so an #ifdef can drop any block.
// A block's first jump skips, when nr differs, exactly the instructions left in it: count them
// again when changing one (the tests fail every call otherwise, as an allowed call lands on a RET).
#define DENY(nr, action) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RET(action)
// nr with low-32-bit argument i equal to a or b: EPERM; nr otherwise: allowed.
#define DENY_ARG_EQ2(nr, i, a, b)                                   \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 5),                \
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, AIRLOCK_ARG_LOW(i)),         \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (a), 2, 0),                 \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (b), 1, 0),                 \
    RET(SECCOMP_RET_ALLOW), RET(EPERM_)
// nr with any bit of `mask` in low-32-bit argument i: EPERM; nr otherwise: allowed.
#define DENY_ARG_ANY(nr, i, mask)                                   \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4),                \
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, AIRLOCK_ARG_LOW(i)),         \
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (mask), 1, 0),             \
    RET(SECCOMP_RET_ALLOW), RET(EPERM_)

static const struct sock_filter airlock_filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AIRLOCK_AUDIT_ARCH, 1, 0),
    RET(SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, __X32_SYSCALL_BIT, 0, 1), RET(EPERM_),
#endif
    // Sockets that leave the network namespace. SOCK_PACKET first: this block falls through
    // (with nr back in A) to the domain check when the type is another.
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 5),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, AIRLOCK_ARG_LOW(1)),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, AIRLOCK_SOCK_TYPE_MASK),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AIRLOCK_SOCK_PACKET, 0, 1),
    RET(EPERM_),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    DENY_ARG_EQ2(__NR_socket, 0, AIRLOCK_AF_VSOCK, AIRLOCK_AF_PACKET),
    DENY_ARG_EQ2(__NR_socketpair, 0, AIRLOCK_AF_VSOCK, AIRLOCK_AF_PACKET),
    // Namespaces.
    DENY_ARG_ANY(__NR_clone, 0, AIRLOCK_CLONE_NEW_ANY),
    DENY(__NR_clone3, ENOSYS_),
    DENY(__NR_unshare, EPERM_),
    DENY(__NR_setns, EPERM_),
    // Mounts.
    DENY(__NR_mount, EPERM_),
    DENY(__NR_umount2, EPERM_),
    DENY(__NR_pivot_root, EPERM_),
    DENY(__NR_chroot, EPERM_),
    DENY(__NR_open_tree, EPERM_),
    DENY(__NR_open_tree_attr, EPERM_),
    DENY(__NR_move_mount, EPERM_),
    DENY(__NR_fsopen, EPERM_),
    DENY(__NR_fsconfig, EPERM_),
    DENY(__NR_fsmount, EPERM_),
    DENY(__NR_fspick, EPERM_),
    DENY(__NR_mount_setattr, EPERM_),
    // io_uring.
    DENY(__NR_io_uring_setup, ENOSYS_),
    DENY(__NR_io_uring_enter, ENOSYS_),
    DENY(__NR_io_uring_register, ENOSYS_),
    // Terminal injection.
    DENY_ARG_EQ2(__NR_ioctl, 1, AIRLOCK_TIOCSTI, AIRLOCK_TIOCLINUX),
    // Kernel surface.
    DENY(__NR_bpf, EPERM_),
    DENY(__NR_perf_event_open, EPERM_),
    DENY(__NR_userfaultfd, EPERM_),
    DENY(__NR_add_key, EPERM_),
    DENY(__NR_request_key, EPERM_),
    DENY(__NR_keyctl, EPERM_),
    DENY(__NR_kexec_load, EPERM_),
#ifdef __NR_kexec_file_load
    DENY(__NR_kexec_file_load, EPERM_),
#endif
#ifdef __NR_init_module
    DENY(__NR_init_module, EPERM_),
#endif
    DENY(__NR_finit_module, EPERM_),
    DENY(__NR_delete_module, EPERM_),
    RET(SECCOMP_RET_ALLOW),
};

int airlock_seccomp_install(void) {
    struct sock_fprog prog = {
        .len = (unsigned short)(sizeof airlock_filter / sizeof airlock_filter[0]),
        .filter = (struct sock_filter *)airlock_filter,
    };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0) return 0;
    if (errno != ENOSYS) return errno;
    // Kernels before 3.17 have no seccomp(2).
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0) return 0;
    return errno;
}

#else

// Syscall numbers and the audit arch are per architecture: on one this filter does not know,
// refuse to start the command rather than run it unfiltered.
int airlock_seccomp_install(void) { return EOPNOTSUPP; }

#endif
