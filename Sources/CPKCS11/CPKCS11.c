#include "CPKCS11.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Cryptoki's scalar types on this platform: CK_ULONG is unsigned long.
typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef unsigned char CK_BYTE;
typedef unsigned char CK_BBOOL;

typedef struct { CK_ULONG type; void *value; CK_ULONG length; } CK_ATTRIBUTE;
typedef struct { CK_ULONG mechanism; void *parameter; CK_ULONG parameter_length; } CK_MECHANISM;
typedef struct { CK_BYTE *iv; CK_ULONG iv_length; CK_ULONG iv_bits; CK_BYTE *aad; CK_ULONG aad_length; CK_ULONG tag_bits; } CK_GCM_PARAMS;
typedef struct { CK_ULONG hash; CK_ULONG mgf; CK_ULONG source; void *source_data; CK_ULONG source_data_length; } CK_RSA_PKCS_OAEP_PARAMS;
typedef struct {
    void *create_mutex, *destroy_mutex, *lock_mutex, *unlock_mutex;
    CK_ULONG flags;
    void *reserved;
} CK_C_INITIALIZE_ARGS;
// CK_TOKEN_INFO begins with its 32-byte label; the rest is read into spare room.
typedef struct { CK_BYTE label[32]; CK_BYTE rest[512]; } CK_TOKEN_INFO_PREFIX;

#define CKR_OK 0UL
#define CKR_USER_ALREADY_LOGGED_IN 0x100UL
#define CKR_CRYPTOKI_ALREADY_INITIALIZED 0x191UL
#define CKF_OS_LOCKING_OK 0x2UL
#define CKF_RW_SESSION 0x2UL
#define CKF_SERIAL_SESSION 0x4UL
#define CKU_USER 1UL
#define CKA_CLASS 0x0UL
#define CKA_LABEL 0x3UL
#define CKM_AES_GCM 0x1087UL
#define CKM_RSA_PKCS_OAEP 0x9UL
#define CKM_SHA_1 0x220UL
#define CKM_SHA256 0x250UL
#define CKG_MGF1_SHA1 0x1UL
#define CKG_MGF1_SHA256 0x2UL
#define CKZ_DATA_SPECIFIED 0x1UL

struct cpkcs11_module {
    void *library;
    CK_RV (*initialize)(void *);
    CK_RV (*get_slot_list)(CK_BBOOL, CK_ULONG *, CK_ULONG *);
    CK_RV (*get_token_info)(CK_ULONG, void *);
    CK_RV (*open_session)(CK_ULONG, CK_ULONG, void *, void *, CK_ULONG *);
    CK_RV (*close_session)(CK_ULONG);
    CK_RV (*login)(CK_ULONG, CK_ULONG, const CK_BYTE *, CK_ULONG);
    CK_RV (*find_objects_init)(CK_ULONG, CK_ATTRIBUTE *, CK_ULONG);
    CK_RV (*find_objects)(CK_ULONG, CK_ULONG *, CK_ULONG, CK_ULONG *);
    CK_RV (*find_objects_final)(CK_ULONG);
    CK_RV (*encrypt_init)(CK_ULONG, CK_MECHANISM *, CK_ULONG);
    CK_RV (*encrypt)(CK_ULONG, const CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
    CK_RV (*decrypt_init)(CK_ULONG, CK_MECHANISM *, CK_ULONG);
    CK_RV (*decrypt)(CK_ULONG, const CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
};

cpkcs11_module *cpkcs11_open(const char *path, char *error, size_t error_length) {
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(error, error_length, "%s", dlerror());
        return NULL;
    }
    cpkcs11_module *module = calloc(1, sizeof *module);
    if (!module) { dlclose(library); snprintf(error, error_length, "out of memory"); return NULL; }
    module->library = library;
#define FIND(field, name) \
    if (!(*(void **)&module->field = dlsym(library, name))) { \
        snprintf(error, error_length, "%s does not export %s: not a PKCS#11 module", path, name); \
        dlclose(library); free(module); return NULL; }
    FIND(initialize, "C_Initialize")
    FIND(get_slot_list, "C_GetSlotList")
    FIND(get_token_info, "C_GetTokenInfo")
    FIND(open_session, "C_OpenSession")
    FIND(close_session, "C_CloseSession")
    FIND(login, "C_Login")
    FIND(find_objects_init, "C_FindObjectsInit")
    FIND(find_objects, "C_FindObjects")
    FIND(find_objects_final, "C_FindObjectsFinal")
    FIND(encrypt_init, "C_EncryptInit")
    FIND(encrypt, "C_Encrypt")
    FIND(decrypt_init, "C_DecryptInit")
    FIND(decrypt, "C_Decrypt")
#undef FIND
    CK_C_INITIALIZE_ARGS args = {0};
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = module->initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        snprintf(error, error_length, "C_Initialize failed (CK_RV 0x%lx)", rv);
        dlclose(library); free(module); return NULL;
    }
    return module;
}

unsigned long cpkcs11_find_slot(cpkcs11_module *module, const char *label, unsigned long slot_id, unsigned long *slot) {
    CK_ULONG count = 0;
    CK_RV rv = module->get_slot_list(1, NULL, &count);
    if (rv != CKR_OK) return rv;
    CK_ULONG *slots = calloc(count ? count : 1, sizeof *slots);
    if (!slots) return 0x2UL; // CKR_HOST_MEMORY
    rv = module->get_slot_list(1, slots, &count);
    unsigned long result = CPKCS11_NOT_FOUND;
    if (rv != CKR_OK) result = rv;
    for (CK_ULONG index = 0; rv == CKR_OK && index < count; index++) {
        if (!label) {
            if (slots[index] == slot_id) { *slot = slots[index]; result = CKR_OK; break; }
            continue;
        }
        CK_TOKEN_INFO_PREFIX info;
        memset(&info, 0, sizeof info);
        if (module->get_token_info(slots[index], &info) != CKR_OK) continue;
        char padded[32];
        memset(padded, ' ', sizeof padded);
        size_t length = strlen(label);
        memcpy(padded, label, length < 32 ? length : 32);
        if (memcmp(padded, info.label, 32) == 0) { *slot = slots[index]; result = CKR_OK; break; }
    }
    free(slots);
    return result;
}

unsigned long cpkcs11_open_session(cpkcs11_module *module, unsigned long slot, unsigned long *session) {
    return module->open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, session);
}

void cpkcs11_close_session(cpkcs11_module *module, unsigned long session) {
    module->close_session(session);
}

unsigned long cpkcs11_login(cpkcs11_module *module, unsigned long session, const char *pin, size_t pin_length) {
    CK_RV rv = module->login(session, CKU_USER, (const CK_BYTE *)pin, pin_length);
    return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

unsigned long cpkcs11_find_key(cpkcs11_module *module, unsigned long session, unsigned long object_class, const char *label, unsigned long *key) {
    CK_ATTRIBUTE template[2] = {
        { CKA_CLASS, &object_class, sizeof object_class },
        { CKA_LABEL, (void *)label, strlen(label) },
    };
    CK_RV rv = module->find_objects_init(session, template, 2);
    if (rv != CKR_OK) return rv;
    CK_ULONG found = 0;
    rv = module->find_objects(session, key, 1, &found);
    module->find_objects_final(session);
    if (rv != CKR_OK) return rv;
    return found == 1 ? CKR_OK : CPKCS11_NOT_FOUND;
}

static unsigned long run(cpkcs11_module *module, unsigned long session, CK_MECHANISM *mechanism, unsigned long key, int encrypt,
                         const uint8_t *input, size_t input_length, uint8_t *output, size_t *output_length) {
    CK_RV rv = encrypt ? module->encrypt_init(session, mechanism, key) : module->decrypt_init(session, mechanism, key);
    if (rv != CKR_OK) return rv;
    CK_ULONG length = *output_length;
    rv = encrypt ? module->encrypt(session, input, input_length, output, &length)
                 : module->decrypt(session, input, input_length, output, &length);
    *output_length = length;
    return rv;
}

unsigned long cpkcs11_aes_gcm(cpkcs11_module *module, unsigned long session, unsigned long key, int encrypt,
                              const uint8_t *iv, size_t iv_length, const uint8_t *aad, size_t aad_length,
                              const uint8_t *input, size_t input_length, uint8_t *output, size_t *output_length) {
    CK_GCM_PARAMS parameters = { (CK_BYTE *)iv, iv_length, iv_length * 8, (CK_BYTE *)aad, aad_length, 128 };
    CK_MECHANISM mechanism = { CKM_AES_GCM, &parameters, sizeof parameters };
    return run(module, session, &mechanism, key, encrypt, input, input_length, output, output_length);
}

unsigned long cpkcs11_rsa_oaep(cpkcs11_module *module, unsigned long session, unsigned long key, int encrypt, int sha256,
                               const uint8_t *input, size_t input_length, uint8_t *output, size_t *output_length) {
    CK_RSA_PKCS_OAEP_PARAMS parameters = { sha256 ? CKM_SHA256 : CKM_SHA_1, sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0 };
    CK_MECHANISM mechanism = { CKM_RSA_PKCS_OAEP, &parameters, sizeof parameters };
    return run(module, session, &mechanism, key, encrypt, input, input_length, output, output_length);
}
