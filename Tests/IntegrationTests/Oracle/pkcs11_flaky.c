// A PKCS#11 module that stands in front of a real one and fails on demand, so the tests can
// show what `seal "pkcs11"` does when an HSM is briefly unavailable — SoftHSM2 itself never is.
//
// Every function the agent loads (Sources/CPKCS11) is forwarded to the module named by
// PKCS11_FLAKY_TARGET. While the file PKCS11_FLAKY_FAILURES_FILE holds a number N > 0, the next
// C_EncryptInit or C_DecryptInit answers CKR_DEVICE_ERROR without reaching the real module and
// the file is rewritten to N - 1; each such refusal also appends a line to
// PKCS11_FLAKY_LOG_FILE, so the test can count what the agent met. Built by the tests (see
// FaultInjection.swift); never part of a product.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef unsigned long CK_RV;
#define CKR_DEVICE_ERROR 0x30UL
#define CKR_GENERAL_ERROR 0x5UL

static void *target(void) {
    static void *library;
    if (!library) {
        const char *path = getenv("PKCS11_FLAKY_TARGET");
        library = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    }
    return library;
}

// Takes one failure from the file, if it holds any.
static int fail_now(const char *call) {
    const char *path = getenv("PKCS11_FLAKY_FAILURES_FILE");
    if (!path) return 0;
    FILE *file = fopen(path, "r+");
    if (!file) return 0;
    long remaining = 0;
    if (fscanf(file, "%ld", &remaining) != 1 || remaining <= 0) { fclose(file); return 0; }
    rewind(file);
    fprintf(file, "%ld\n          \n", remaining - 1);
    fclose(file);
    const char *log = getenv("PKCS11_FLAKY_LOG_FILE");
    FILE *out = log ? fopen(log, "a") : NULL;
    if (out) { fprintf(out, "%s CKR_DEVICE_ERROR\n", call); fclose(out); }
    return 1;
}

#define FORWARD(name, parameters, arguments) \
    CK_RV name parameters { \
        static CK_RV (*real) parameters; \
        if (!real && target()) *(void **)&real = dlsym(target(), #name); \
        if (!real) return CKR_GENERAL_ERROR; \
        return real arguments; \
    }

#define FLAKY(name, parameters, arguments) \
    CK_RV name parameters { \
        static CK_RV (*real) parameters; \
        if (!real && target()) *(void **)&real = dlsym(target(), #name); \
        if (!real) return CKR_GENERAL_ERROR; \
        if (fail_now(#name)) return CKR_DEVICE_ERROR; \
        return real arguments; \
    }

FORWARD(C_Initialize, (void *a), (a))
FORWARD(C_GetSlotList, (unsigned char a, unsigned long *b, unsigned long *c), (a, b, c))
FORWARD(C_GetTokenInfo, (unsigned long a, void *b), (a, b))
FORWARD(C_OpenSession, (unsigned long a, unsigned long b, void *c, void *d, unsigned long *e), (a, b, c, d, e))
FORWARD(C_CloseSession, (unsigned long a), (a))
FORWARD(C_Login, (unsigned long a, unsigned long b, const unsigned char *c, unsigned long d), (a, b, c, d))
FORWARD(C_FindObjectsInit, (unsigned long a, void *b, unsigned long c), (a, b, c))
FORWARD(C_FindObjects, (unsigned long a, unsigned long *b, unsigned long c, unsigned long *d), (a, b, c, d))
FORWARD(C_FindObjectsFinal, (unsigned long a), (a))
FLAKY(C_EncryptInit, (unsigned long a, void *b, unsigned long c), (a, b, c))
FORWARD(C_Encrypt, (unsigned long a, const unsigned char *b, unsigned long c, unsigned char *d, unsigned long *e), (a, b, c, d, e))
FLAKY(C_DecryptInit, (unsigned long a, void *b, unsigned long c), (a, b, c))
FORWARD(C_Decrypt, (unsigned long a, const unsigned char *b, unsigned long c, unsigned char *d, unsigned long *e), (a, b, c, d, e))
