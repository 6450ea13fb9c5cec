import HCL
import LeanFoundation
import PKCS11Seal
import SealKit

extension AgentConfiguration {
    static let pkcs11Keys = ["lib", "slot", "token_label", "pin", "pin_file", "key_label", "mechanism", "rsa_oaep_hash", "ciphertext_path", "priority"]

    /// `seal "pkcs11"`: Vault's setting names; one the block leaves out is read from Vault's
    /// variables (`VAULT_HSM_LIB`, `VAULT_HSM_SLOT`, `VAULT_HSM_TOKEN_LABEL`, `VAULT_HSM_PIN`,
    /// `VAULT_HSM_KEY_LABEL`, `VAULT_HSM_MECHANISM`).
    static func pkcs11Source(_ body: ConfigBody?, environment: [String: String]) throws -> PKCS11SealSource {
        if let body { try body.checkKeys(pkcs11Keys) }
        func setting(_ name: String) throws -> String? {
            // A slot is a number (`slot = 0`); Vault's files also quote it.
            if name == "slot", let number = try body?.int("slot") { return String(number) }
            if let value = try body?.string(name) { return value }
            let variable = environment["VAULT_HSM_\(name.uppercased())"]
            return variable?.isEmpty == false ? variable : nil
        }
        func invalid(_ name: String, _ message: String, code: HCLError.Code = .invalidValue) -> Error {
            if let body { return body.error(name, message, code: code) }
            return AgentError("VAULT_HSM_\(name.uppercased()): \(message)")
        }
        guard let lib = try setting("lib") else {
            throw invalid("lib", "is required: the PKCS#11 module, e.g. \"/usr/lib/softhsm/libsofthsm2.so\"", code: .missing)
        }
        guard lib.hasPrefix("/") else { throw invalid("lib", "must be an absolute path (the module is loaded with dlopen); got \"\(lib)\"") }
        let token: PKCS11Settings.Token
        switch (try setting("slot"), try setting("token_label")) {
        case (.some, .some): throw invalid("token_label", "give slot or token_label, not both")
        case (.some(let slot), nil):
            guard let number = UInt(slot) else { throw invalid("slot", "expected a slot number; got \"\(slot)\"") }
            token = .slot(number)
        case (nil, .some(let label)): token = .label(label)
        case (nil, nil): throw invalid("token_label", "is required (or slot): the token that holds the key", code: .missing)
        }
        let pin: PKCS11Settings.PIN
        switch (try setting("pin"), try setting("pin_file")) {
        case (.some, .some): throw invalid("pin_file", "give pin or pin_file, not both")
        case (.some(let value), nil):
            do { pin = .value(try CloakedText(value)) } catch { throw invalid("pin", "cannot be kept: \(error.reason)") }
        case (nil, .some(let path)):
            guard FileManager.default.isReadableFile(atPath: path) else { throw invalid("pin_file", "\(path) cannot be read") }
            pin = .file(path)
        case (nil, nil): throw invalid("pin", "is required (or pin_file): the token's user PIN", code: .missing)
        }
        guard let keyLabel = try setting("key_label"), !keyLabel.isEmpty else {
            throw invalid("key_label", "is required: the label of the AES key (or RSA key pair) on the token", code: .missing)
        }
        let mechanismText = try setting("mechanism") ?? "CKM_AES_GCM"
        // Vault writes mechanisms as numbers too: 0x1087 is CKM_AES_GCM, 0x0009 CKM_RSA_PKCS_OAEP.
        let mechanism: PKCS11Settings.Mechanism
        switch mechanismText.uppercased() {
        case "CKM_AES_GCM", "0X1087", "4231": mechanism = .aesGCM
        case "CKM_RSA_PKCS_OAEP", "0X0009", "0X9", "9": mechanism = .rsaOAEP
        default: throw invalid("mechanism", "expected \"CKM_AES_GCM\" or \"CKM_RSA_PKCS_OAEP\"; got \"\(mechanismText)\"")
        }
        let hashText = try setting("rsa_oaep_hash") ?? "sha256"
        guard let oaepHash = PKCS11Settings.OAEPHash(rawValue: hashText.lowercased()) else {
            throw invalid("rsa_oaep_hash", "expected \"sha256\" or \"sha1\"; got \"\(hashText)\"")
        }
        let ciphertextPath = try body?.string("ciphertext_path") ?? environment["UNSEAL_AGENT_CIPHERTEXT_PATH"] ?? "/var/lib/unseal-agent/pkcs11.enc"
        return PKCS11SealSource(settings: PKCS11Settings(lib: lib, token: token, pin: pin, keyLabel: keyLabel, mechanism: mechanism, oaepHash: oaepHash),
                                ciphertextPath: ciphertextPath, priority: try body?.int("priority") ?? 100)
    }
}
