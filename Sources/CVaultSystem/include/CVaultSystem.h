// Small, typed wrappers around system calls that Swift cannot import cleanly:
// variadic prctl(2), explicit_bzero(3) (which the compiler may not elide), and madvise
// flags that are Linux-only.
#ifndef CVAULTSYSTEM_H
#define CVAULTSYSTEM_H

#include <stddef.h>

/// Overwrites `len` bytes at `p` with zeros in a way the optimiser must keep.
void csystem_wipe(void *p, size_t len);

/// Marks pages as excluded from core dumps (MADV_DONTDUMP). Returns 0 or -errno.
int csystem_madvise_dontdump(void *p, size_t len);

/// Makes the process non-dumpable (PR_SET_DUMPABLE 0) and sets RLIMIT_CORE to 0.
/// Returns 0 or -errno.
int csystem_disable_core_dumps(void);

/// Returns 1 when the process is dumpable, 0 when not, -errno on error.
int csystem_is_dumpable(void);

/// The system page size.
size_t csystem_page_size(void);

/// Fills `len` bytes at `p` from the kernel CSPRNG (getrandom(2), blocking until seeded).
/// Returns 0 or -errno.
int csystem_random_bytes(void *p, size_t len);

/// The layout of Linux's `struct ucred` (SO_PEERCRED), which Swift's Glibc module hides behind
/// _GNU_SOURCE.
typedef struct {
    int pid;
    unsigned int uid;
    unsigned int gid;
} csystem_peer_credentials;

/// Sends `state` (e.g. "READY=1") to systemd's $NOTIFY_SOCKET. Returns 1 when sent, 0 when
/// there is no NOTIFY_SOCKET, -errno on failure.
int csystem_sd_notify(const char *state);

/// Returns freed heap memory to the system (glibc's malloc_trim(0)); 0 elsewhere.
int csystem_malloc_trim(void);

/// Hands the executable's own relocation table (.rela.dyn) back to the kernel. The dynamic loader
/// reads it once, before main, to fix up a position-independent executable; it is never read
/// again, yet its pages stay mapped and count in the process's RSS (1.7 MB in unseal-agent).
/// Only whole pages inside a read-only segment are released, so no written data can be lost;
/// a later read would simply fault the page back in from the file. Returns the bytes released,
/// 0 when there is nothing to release (or on a platform without dl_iterate_phdr).
size_t csystem_release_relocation_table(void);

/// Drops the executable's read-only segments from the page tables (Linux; 0 elsewhere): the
/// code that ran only at start stops counting as resident. Returns the bytes covered.
size_t csystem_release_startup_code(void);

#endif
