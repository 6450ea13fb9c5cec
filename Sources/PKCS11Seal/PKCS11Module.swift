import CPKCS11
import LeanFoundation
import SealSourceCore
import Synchronization

/// A PKCS#11 module (`lib`), loaded with dlopen the first time a seal uses it and kept for the
/// process: Cryptoki allows one C_Initialize per process. Calls are serialised — an unseal
/// makes a handful — so nothing depends on the module's own thread safety.
final class PKCS11Module: @unchecked Sendable {
    private static let loaded = Mutex<[String: PKCS11Module]>([:])

    let path: String
    private let handle: OpaquePointer
    private let calls = Mutex(())

    private init(path: String, handle: OpaquePointer) {
        self.path = path
        self.handle = handle
    }

    static func open(_ path: String) throws(SealSourceError) -> PKCS11Module {
        let result: Result<PKCS11Module, SealSourceError> = loaded.withLock { modules in
            if let module = modules[path] { return .success(module) }
            var error = [CChar](repeating: 0, count: 512)
            guard let handle = cpkcs11_open(path, &error, error.count) else {
                let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return .failure(SealSourceError(.needsFix, "seal \"pkcs11\": cannot load the PKCS#11 module \(path): \(reason)", setting: "lib"))
            }
            let module = PKCS11Module(path: path, handle: handle)
            modules[path] = module
            return .success(module)
        }
        return try result.get()
    }

    /// A logged-in session on the token, for the length of `body`.
    func withSession<T>(token: PKCS11Settings.Token, pin: String, _ body: (Session) throws(SealSourceError) -> T) throws(SealSourceError) -> T {
        let outcome: Result<T, SealSourceError> = calls.withLock { _ in
            do throws(SealSourceError) {
                var slot: UInt = 0
                switch token {
                case .label(let label):
                    try check(cpkcs11_find_slot(handle, label, 0, &slot), "no token labelled '\(label)' in \(path)", setting: "token_label")
                case .slot(let id):
                    try check(cpkcs11_find_slot(handle, nil, id, &slot), "no token in slot \(id) of \(path)", setting: "slot")
                }
                var session: UInt = 0
                try check(cpkcs11_open_session(handle, slot, &session), "cannot open a session", setting: "lib")
                defer { cpkcs11_close_session(handle, session) }
                var pinBytes = Array(pin.utf8)
                defer { for index in pinBytes.indices { pinBytes[index] = 0 } }
                let login = pinBytes.withUnsafeBufferPointer { pointer in
                    pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pointer.count) { cpkcs11_login(handle, session, $0, pointer.count) }
                }
                try check(login, "login", setting: "pin")
                return .success(try body(Session(module: self, session: session)))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    struct Session {
        let module: PKCS11Module
        let session: UInt

        /// The key of `objectClass` (4 secret, 2 public, 3 private) labelled `label`.
        func key(_ objectClass: UInt, label: String) throws(SealSourceError) -> UInt {
            var key: UInt = 0
            try module.check(cpkcs11_find_key(module.handle, session, objectClass, label, &key), "no key labelled '\(label)' on the token", setting: "key_label")
            return key
        }

        func aesGCM(key: UInt, encrypt: Bool, iv: [UInt8], aad: [UInt8], input: [UInt8]) throws(SealSourceError) -> [UInt8] {
            var output = [UInt8](repeating: 0, count: input.count + 32)
            var length = output.count
            let rv = cpkcs11_aes_gcm(module.handle, session, key, encrypt ? 1 : 0, iv, iv.count, aad, aad.count, input, input.count, &output, &length)
            try module.check(rv, encrypt ? "AES-GCM encryption" : "AES-GCM decryption", setting: encrypt ? "key_label" : "ciphertext_path")
            return Array(output.prefix(length))
        }

        func rsaOAEP(key: UInt, encrypt: Bool, hash: PKCS11Settings.OAEPHash, input: [UInt8]) throws(SealSourceError) -> [UInt8] {
            var output = [UInt8](repeating: 0, count: 1024)
            var length = output.count
            let rv = cpkcs11_rsa_oaep(module.handle, session, key, encrypt ? 1 : 0, hash == .sha256 ? 1 : 0, input, input.count, &output, &length)
            try module.check(rv, encrypt ? "RSA-OAEP encryption" : "RSA-OAEP decryption", setting: encrypt ? "key_label" : "ciphertext_path")
            return Array(output.prefix(length))
        }
    }

    /// Cryptoki's answer, classified once: a refused PIN names `pin`; a device that is busy or
    /// gone is retryable; anything else needs a fix of `setting`.
    fileprivate func check(_ rv: UInt, _ what: String, setting: String) throws(SealSourceError) {
        switch rv {
        case 0: return
        case UInt(CPKCS11_NOT_FOUND):
            throw SealSourceError(.needsFix, "seal \"pkcs11\": \(what)", setting: setting)
        case UInt(CPKCS11_CKR_PIN_INCORRECT), UInt(CPKCS11_CKR_PIN_LEN_RANGE), 0xA1 /* PIN_INVALID */:
            throw SealSourceError(.needsFix, "seal \"pkcs11\": the token refused the PIN (CKR 0x\(String(rv, radix: 16))): check pin or pin_file", setting: "pin")
        case UInt(CPKCS11_CKR_PIN_LOCKED):
            throw SealSourceError(.needsFix, "seal \"pkcs11\": the token's PIN is locked (CKR_PIN_LOCKED): unlock it with the security officer's PIN", setting: "pin")
        case 0x30, 0x31, 0x32, 0xE0, 0xB3, 0xB5, 0x190:
            // DEVICE_ERROR, DEVICE_MEMORY, DEVICE_REMOVED, TOKEN_NOT_PRESENT, SESSION_HANDLE_INVALID,
            // SESSION_COUNT, CRYPTOKI_NOT_INITIALIZED: the HSM may come back.
            throw SealSourceError(.retryable, "seal \"pkcs11\": \(what) failed: the HSM is unavailable (CKR 0x\(String(rv, radix: 16)))", setting: "lib")
        case 0x40, 0x41:
            throw SealSourceError(.needsFix, "seal \"pkcs11\": \(what) failed: the ciphertext does not open with this key (CKR_ENCRYPTED_DATA_INVALID): wrong key_label, or a damaged file", setting: setting)
        case 0x70, 0x71, 0x63, 0x68:
            throw SealSourceError(.needsFix, "seal \"pkcs11\": \(what) failed: the key does not allow this mechanism (CKR 0x\(String(rv, radix: 16))): check mechanism and key_label", setting: "mechanism")
        default:
            throw SealSourceError(.needsFix, "seal \"pkcs11\": \(what) failed (CKR 0x\(String(rv, radix: 16)))", setting: setting)
        }
    }
}
