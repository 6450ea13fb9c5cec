// OpenSSL's libcrypto, for what swift-crypto (BoringSSL) lacks: the secp256k1 curve and
// RIPEMD-160. The EC_KEY/ECDSA calls are deprecated in OpenSSL 3 but remain supported; the
// define keeps their deprecation notes out of the build.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
