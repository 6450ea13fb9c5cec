import VaultCore
import VaultWire

// Where the vault's domain values meet the wire: VaultCore knows nothing of Vault's JSON
// shapes, VaultWire nothing of the vault.

extension SealStatusResponse {
    init(_ status: SealStatus) {
        self.init(
            type: status.type, initialized: status.initialized, sealed: status.sealed,
            threshold: status.threshold, shares: status.shares, progress: status.progress, nonce: status.nonce,
            version: status.version, buildDate: status.buildDate, migration: false, recoverySeal: status.recoverySeal,
            storageType: status.storageType,
            // Vault names the cluster only while unsealed.
            clusterName: status.sealed ? nil : status.clusterName, clusterID: status.sealed ? nil : status.clusterID,
            implementation: "vaultd"
        )
    }
}

extension InitResponse {
    init(_ result: InitResult) {
        self.init(
            keys: result.keys, keysBase64: result.keysBase64,
            recoveryKeys: result.recoveryKeys.isEmpty ? nil : result.recoveryKeys,
            recoveryKeysBase64: result.recoveryKeys.isEmpty ? nil : result.recoveryKeysBase64,
            rootToken: result.rootToken, validationHash: result.validationHash
        )
    }
}

extension InitParameters {
    init(_ request: InitRequest) {
        self.init(
            secretShares: request.secretShares, secretThreshold: request.secretThreshold,
            recoveryShares: request.recoveryShares ?? 0, recoveryThreshold: request.recoveryThreshold ?? 0,
            sealKey: request.sealKey
        )
    }
}

extension GenerateRootStatusResponse {
    init(_ status: RootGenerationStatus) {
        self.init(started: status.started, nonce: status.nonce, progress: status.progress, required: status.required,
                  encodedToken: status.encodedToken, otp: status.otp, otpLength: status.otpLength, complete: status.complete)
    }
}

extension RekeyResponse {
    init(_ status: RekeyStatus) {
        let made = !status.keysBase64.isEmpty
        self.init(nonce: status.nonce, started: status.started, t: status.threshold, n: status.shares, progress: status.progress,
                  required: status.required, verificationRequired: status.verificationRequired, verificationNonce: status.verificationNonce,
                  complete: status.complete, keys: made ? status.keys : nil, keysBase64: made ? status.keysBase64 : nil,
                  recoveryKeysBase64: status.recoveryKeysBase64.isEmpty ? nil : status.recoveryKeysBase64,
                  validationHash: status.validationHash.isEmpty ? nil : status.validationHash)
    }
}
