// The few PKCS#11 (Cryptoki 2.40) calls seal "pkcs11" makes, behind small C functions: the
// module is loaded at run time with dlopen, so the agent links no HSM library it does not use,
// and Swift never has to mirror Cryptoki's structures. Types and constants are declared in
// CPKCS11.c from the specification (OASIS PKCS #11 v2.40), only as far as these calls need.
#ifndef CPKCS11_H
#define CPKCS11_H

#include <stddef.h>
#include <stdint.h>

typedef struct cpkcs11_module cpkcs11_module;

// Return values are Cryptoki's CK_RV (0 = CKR_OK). CPKCS11_NOT_FOUND: no such slot or object.
#define CPKCS11_NOT_FOUND 0xFFFFFFF0UL
#define CPKCS11_CKR_PIN_INCORRECT 0xA0UL
#define CPKCS11_CKR_PIN_LOCKED 0xA4UL
#define CPKCS11_CKR_PIN_LEN_RANGE 0xA2UL

/// dlopen()s `path`, finds its C_ functions and calls C_Initialize (OS locking). NULL on failure,
/// with a reason in `error`.
cpkcs11_module *cpkcs11_open(const char *path, char *error, size_t error_length);

/// The slot whose token carries `label` (blank-padded to 32 bytes), or `slot_id` itself when
/// `label` is NULL.
unsigned long cpkcs11_find_slot(cpkcs11_module *module, const char *label, unsigned long slot_id, unsigned long *slot);

unsigned long cpkcs11_open_session(cpkcs11_module *module, unsigned long slot, unsigned long *session);
void cpkcs11_close_session(cpkcs11_module *module, unsigned long session);

/// C_Login as the user; "already logged in" (another session of this process) is success.
unsigned long cpkcs11_login(cpkcs11_module *module, unsigned long session, const char *pin, size_t pin_length);

/// The first object of class `object_class` (CKO_SECRET_KEY 4, CKO_PUBLIC_KEY 2, CKO_PRIVATE_KEY 3) labelled `label`.
unsigned long cpkcs11_find_key(cpkcs11_module *module, unsigned long session, unsigned long object_class, const char *label, unsigned long *key);

/// CKM_AES_GCM with a 128-bit tag: `encrypt` 1 seals (output = ciphertext ‖ tag), 0 opens.
/// `*output_length` holds the buffer's size on entry and the result's on return.
unsigned long cpkcs11_aes_gcm(cpkcs11_module *module, unsigned long session, unsigned long key, int encrypt,
                              const uint8_t *iv, size_t iv_length, const uint8_t *aad, size_t aad_length,
                              const uint8_t *input, size_t input_length, uint8_t *output, size_t *output_length);

/// CKM_RSA_PKCS_OAEP with `sha256` 1: SHA-256 and MGF1-SHA-256, 0: SHA-1 and MGF1-SHA-1;
/// `encrypt` 1 with a public key, 0 with a private one.
unsigned long cpkcs11_rsa_oaep(cpkcs11_module *module, unsigned long session, unsigned long key, int encrypt, int sha256,
                               const uint8_t *input, size_t input_length, uint8_t *output, size_t *output_length);

#endif
