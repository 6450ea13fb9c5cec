#define _GNU_SOURCE
#include "CVaultSystem.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/random.h>
#endif

void csystem_wipe(void *p, size_t len) {
    if (p == NULL || len == 0) return;
#if defined(__GLIBC__) || defined(__APPLE__) || defined(__FreeBSD__)
    explicit_bzero(p, len);
#else
    volatile unsigned char *v = (volatile unsigned char *)p;
    while (len--) *v++ = 0;
#endif
}

int csystem_madvise_dontdump(void *p, size_t len) {
#if defined(MADV_DONTDUMP)
    return madvise(p, len, MADV_DONTDUMP) == 0 ? 0 : -errno;
#else
    (void)p; (void)len;
    return 0;
#endif
}

int csystem_disable_core_dumps(void) {
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) return -errno;
#if defined(__linux__)
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return -errno;
#endif
    return 0;
}

int csystem_is_dumpable(void) {
#if defined(__linux__)
    int r = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    return r < 0 ? -errno : r;
#else
    return 1;
#endif
}

size_t csystem_page_size(void) {
    long size = sysconf(_SC_PAGESIZE);
    return size > 0 ? (size_t)size : 4096;
}

int csystem_random_bytes(void *p, size_t len) {
    unsigned char *out = (unsigned char *)p;
    while (len > 0) {
#if defined(__linux__)
        ssize_t n = getrandom(out, len, 0);
#else
        ssize_t n = getentropy(out, len > 256 ? 256 : len) == 0 ? (ssize_t)(len > 256 ? 256 : len) : -1;
#endif
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        out += n;
        len -= (size_t)n;
    }
    return 0;
}

int csystem_sd_notify(const char *state) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == 0) return 0;
    struct sockaddr_un address;
    memset(&address, 0, sizeof(address));
    address.sun_family = AF_UNIX;
    size_t length = strlen(path);
    if (length >= sizeof(address.sun_path)) return -ENAMETOOLONG;
    memcpy(address.sun_path, path, length);
    if (address.sun_path[0] == '@') address.sun_path[0] = 0;  /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
    ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&address, size);
    int saved = errno;
    close(fd);
    return sent < 0 ? -saved : 1;
}

#if defined(__GLIBC__)
#include <malloc.h>
int csystem_malloc_trim(void) { return malloc_trim(0); }
#else
int csystem_malloc_trim(void) { return 0; }
#endif
