// Fault injection for integration tests, loaded into a real vaultd with LD_PRELOAD.
//
// Why not libfaketime: preloaded into our Swift binaries it loses their argv (30 of 30 runs of
// `vaultctl key hash --help` printed the top-level help), so a daemon would start without its
// configuration. This library fakes only what the tests need, and only while a file says so:
//
//   FAULT_WALL_CLOCK_OFFSET_FILE  a file holding whole seconds added to CLOCK_REALTIME
//                                 (clock_gettime, gettimeofday, time); read on every call, so a
//                                 test steps the wall clock by rewriting it. CLOCK_MONOTONIC and
//                                 CLOCK_BOOTTIME are never touched: that is the point.
//   FAULT_ACCEPT_EMFILE_FILE      while this file exists, accept()/accept4() on TCP listening
//                                 sockets fail with EMFILE (Unix sockets are left alone);
//   FAULT_ACCEPT_COUNT_FILE       each such failure rewrites this file with the running count.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long wall_clock_offset(void) {
    const char *path = getenv("FAULT_WALL_CLOCK_OFFSET_FILE");
    if (!path) return 0;
    int saved = errno;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long offset = 0;
    if (fd >= 0) {
        char text[32] = {0};
        ssize_t n = read(fd, text, sizeof text - 1);
        if (n > 0) offset = strtol(text, NULL, 10);
        close(fd);
    }
    errno = saved;
    return offset;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
    int result = real(clock, ts);
    if (result == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) ts->tv_sec += wall_clock_offset();
    return result;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    static int (*real)(struct timeval *restrict, void *restrict);
    if (!real) real = dlsym(RTLD_NEXT, "gettimeofday");
    int result = real(tv, tz);
    if (result == 0 && tv) tv->tv_sec += wall_clock_offset();
    return result;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}

static int accept_fault(int listener) {
    const char *flag = getenv("FAULT_ACCEPT_EMFILE_FILE");
    if (!flag || access(flag, F_OK) != 0) return 0;
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    if (getsockname(listener, (struct sockaddr *)&address, &length) != 0) return 0;
    if (address.ss_family != AF_INET && address.ss_family != AF_INET6) return 0;
    static long count;
    long now = __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
    const char *counter = getenv("FAULT_ACCEPT_COUNT_FILE");
    if (counter) {
        // Fixed width, rewritten in place: a reader never sees the file empty or half written.
        int fd = open(counter, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            char text[24];
            int length = snprintf(text, sizeof text, "%019ld\n", now);
            if (pwrite(fd, text, (size_t)length, 0) < 0) { /* the count is advisory */ }
            close(fd);
        }
    }
    errno = EMFILE;
    return 1;
}

int accept4(int listener, struct sockaddr *address, socklen_t *length, int flags) {
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real) real = dlsym(RTLD_NEXT, "accept4");
    if (accept_fault(listener)) return -1;
    return real(listener, address, length, flags);
}

int accept(int listener, struct sockaddr *address, socklen_t *length) {
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real) real = dlsym(RTLD_NEXT, "accept");
    if (accept_fault(listener)) return -1;
    return real(listener, address, length);
}
