#define _GNU_SOURCE
#include "CAirlockShims.h"
#include <errno.h>

// Placeholder until the filter lands: refusing keeps every caller that asks for it from running
// without one.
int airlock_seccomp_install(void) { return EOPNOTSUPP; }
