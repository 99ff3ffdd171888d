#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H

// hiredis 0.14.1 (Debian bookworm): RESP2 only, no redisOptions, no TLS.
#include <hiredis/hiredis.h>

// Two Linux calls that Swift's Glibc module does not export, needed by the connection
// threads of RedisClient (the only user of this module).
#if defined(__linux__)
#include <sys/eventfd.h>

/// A non-blocking, close-on-exec eventfd used to wake a thread blocked in poll().
static inline int chiredis_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// pthread_setname_np is a GNU extension hidden without _GNU_SOURCE; declared here so
/// connection threads show their role in `top -H` and debuggers.
extern int pthread_setname_np(unsigned long thread, const char *name);
static inline void chiredis_set_thread_name(const char *name) {
    extern unsigned long pthread_self(void);
    (void)pthread_setname_np(pthread_self(), name);
}
#endif

#endif
