#define _GNU_SOURCE
#include "CAirlockShims.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)  // Linux 4.13
#endif

int airlock_openpty(int *master, int *slave) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return errno;
    int err = 0;
    if (grantpt(m) != 0 || unlockpt(m) != 0) { err = errno; goto fail; }
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        char name[128];
        if (errno != EINVAL && errno != ENOTTY) { err = errno; goto fail; }
        if ((err = ptsname_r(m, name, sizeof name)) != 0) goto fail;
        if ((s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) { err = errno; goto fail; }
    }
    int flags = fcntl(m, F_GETFL);
    if (flags < 0 || fcntl(m, F_SETFL, flags | O_NONBLOCK) != 0) { err = errno; close(s); goto fail; }
    *master = m;
    *slave = s;
    return 0;
fail:
    close(m);
    return err;
}
