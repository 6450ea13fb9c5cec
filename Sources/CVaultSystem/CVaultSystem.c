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

#if defined(__linux__)
#include <elf.h>
#include <link.h>

// Called for each loaded object; the first is the executable itself (empty name), the only one
// whose table we release: shared libraries belong to every process that maps them.
static int release_executable_relocations(struct dl_phdr_info *info, size_t size, void *result) {
    (void)size;
    const ElfW(Phdr) *dynamic = NULL;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) dynamic = &info->dlpi_phdr[i];
    }
    if (dynamic == NULL) return 1;
    ElfW(Addr) table = 0, tableSize = 0;
    for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + dynamic->p_vaddr); d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_RELA) table = d->d_un.d_ptr;
        if (d->d_tag == DT_RELASZ) tableSize = d->d_un.d_val;
    }
    if (table == 0 || tableSize == 0) return 1;
    // The loader may have rewritten the entry to an absolute address, or left it as an offset.
    ElfW(Addr) offset = table >= info->dlpi_addr && info->dlpi_addr != 0 ? table - info->dlpi_addr : table;
    // Only inside a segment that is never written: dropping a written private page would lose it.
    int readOnly = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type == PT_LOAD && !(p->p_flags & PF_W)
            && offset >= p->p_vaddr && offset + tableSize <= p->p_vaddr + p->p_filesz) readOnly = 1;
    }
    if (!readOnly) return 1;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (info->dlpi_addr + offset + page - 1) & ~(page - 1);
    uintptr_t end = (info->dlpi_addr + offset + tableSize) & ~(page - 1);
    if (end > start && madvise((void *)start, end - start, MADV_DONTNEED) == 0) {
        *(size_t *)result = end - start;
    }
    return 1;
}

size_t csystem_release_relocation_table(void) {
    size_t released = 0;
    dl_iterate_phdr(release_executable_relocations, &released);
    return released;
}

// Drops the executable's read-only segments (code, constants) from this process's page tables.
// They are clean file pages: whatever runs next faults its pages back in from the page cache.
// Only segments never written, so nothing can be lost.
static int release_executable_code(struct dl_phdr_info *info, size_t size, void *result) {
    (void)size;
    // With text relocations the loader wrote into the code's pages: those copies are the only
    // correct ones, and dropping them would bring back the unrelocated file. (Swift's PIE
    // executables have none; this keeps it true whatever links the executable.)
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr); d->d_tag != DT_NULL; d++) {
            if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL))) return 1;
        }
    }
    // Nothing up to 64 kB past the relocation table is dropped: it was released at start, and
    // the kernel maps 64 kB around every fault, so re-faulting its neighbours (the program
    // headers before it, the PLT after it — every libc call) would bring its pages back.
    ElfW(Addr) keepBelow = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
        ElfW(Addr) table = 0, tableSize = 0;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr); d->d_tag != DT_NULL; d++) {
            if (d->d_tag == DT_RELA) table = d->d_un.d_ptr;
            if (d->d_tag == DT_RELASZ) tableSize = d->d_un.d_val;
        }
        ElfW(Addr) offset = table >= info->dlpi_addr && info->dlpi_addr != 0 ? table - info->dlpi_addr : table;
        if (tableSize) keepBelow = ((offset + tableSize + 0xFFFF) & ~(ElfW(Addr))0xFFFF) + 0x10000;
    }
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_LOAD || (p->p_flags & PF_W)) continue;
        ElfW(Addr) from = p->p_vaddr > keepBelow ? p->p_vaddr : keepBelow;
        if (from >= p->p_vaddr + p->p_filesz) continue;
        uintptr_t start = (info->dlpi_addr + from + page - 1) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + p->p_vaddr + p->p_filesz) & ~(page - 1);
        if (end > start && madvise((void *)start, end - start, MADV_DONTNEED) == 0) *(size_t *)result += end - start;
    }
    return 1;   // the executable only: it comes first
}

size_t csystem_release_startup_code(void) {
    size_t released = 0;
    dl_iterate_phdr(release_executable_code, &released);
    return released;
}
#else
size_t csystem_release_relocation_table(void) { return 0; }
size_t csystem_release_startup_code(void) { return 0; }
#endif
