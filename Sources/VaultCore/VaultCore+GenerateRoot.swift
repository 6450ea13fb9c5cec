import Foundation
import SealKit

/// A root-token generation in progress (Vault's `sys/generate-root`): the one-time pad the new
/// token will be encoded with, and the shares given so far. In memory only: a restart or a
/// seal cancels it, as in Vault.
struct RootGeneration {
    let nonce: String
    /// Its bytes are XORed with the new token's; the operator holds the same text.
    let otp: String
    let authorization = KeyAuthorization()
}

/// What `sys/generate-root/attempt` and `…/update` report.
public struct RootGenerationStatus: Sendable, Equatable {
    public var started: Bool
    public var nonce: String
    public var progress: Int
    public var required: Int
    /// The new root token, XORed with the OTP and base64-encoded (no padding); set once.
    public var encodedToken: String
    /// The OTP, only in the answer that started an attempt for which the vault made it.
    public var otp: String
    public var otpLength: Int
    public var complete: Bool
}

extension VaultCore {
    /// OTPs are as long as a token, so the XOR covers every character of it.
    public static let rootTokenOTPLength = 46
    static let otpAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    public func rootGenerationStatus() -> RootGenerationStatus {
        RootGenerationStatus(
            started: rootGeneration != nil, nonce: rootGeneration?.nonce ?? "", progress: rootGeneration?.authorization.shares.count ?? 0,
            required: configuration?.secretThreshold ?? 0, encodedToken: "", otp: "", otpLength: Self.rootTokenOTPLength, complete: false
        )
    }

    /// Starts an attempt. `otp` is the caller's own (exactly ``rootTokenOTPLength`` characters);
    /// without one the vault makes one and returns it in this answer only.
    public func startRootGeneration(otp given: String?) throws -> RootGenerationStatus {
        _ = try requireUnsealed()
        guard rootGeneration == nil else {
            throw VaultError(.badRequest, "a root token generation is already in progress: finish it, or cancel it (DELETE sys/generate-root/attempt)")
        }
        var otp = given ?? ""
        if otp.isEmpty {
            let random = try SystemRandom.bytes(Self.rootTokenOTPLength * 2)
            // Rejection sampling keeps every character equally likely (62 does not divide 256).
            otp = String(random.filter { $0 < 248 }.prefix(Self.rootTokenOTPLength).map { Self.otpAlphabet[Int($0) % 62] })
            guard otp.count == Self.rootTokenOTPLength else { throw VaultError(.internalError, "the random source ran short") }
        } else if otp.utf8.count != Self.rootTokenOTPLength {
            throw VaultError(.badRequest, "otp must be \(Self.rootTokenOTPLength) characters (otp_length); got \(otp.utf8.count). Leave it out and the vault makes one")
        }
        rootGeneration = RootGeneration(nonce: UUIDText.random(), otp: otp)
        logger.warning("root token generation started", metadata: ["nonce": "\(rootGeneration!.nonce)"])
        var status = rootGenerationStatus()
        if given?.isEmpty ?? true { status.otp = otp }
        return status
    }

    public func cancelRootGeneration() {
        if rootGeneration != nil { logger.info("root token generation cancelled") }
        rootGeneration = nil
    }

    /// Takes the seal key (whole: done at once) or a share (secret or recovery shares; done at
    /// their threshold). On success a new root token is stored and returned encoded with the
    /// attempt's OTP; the attempt ends. A key that is not this vault's resets the attempt's
    /// progress and is an error (`wrongKey`), as at unseal (``authorizingKey(_:collecting:)``).
    public func updateRootGeneration(key text: String, nonce: String) async throws -> RootGenerationStatus {
        let ring = try requireUnsealed()
        guard let generation = rootGeneration else {
            throw VaultError(.badRequest, "no root token generation is in progress: start one (PUT sys/generate-root/attempt)")
        }
        guard nonce == generation.nonce else {
            throw VaultError(.badRequest, "nonce does not match the root token generation in progress (\(generation.nonce))")
        }
        guard let configuration else { throw VaultError(.notInitialized, "vault is not initialized") }
        guard try await authorizingKey(text, collecting: generation.authorization) != nil else { return rootGenerationStatus() }
        let token = try TokenRecord.newTokenString()
        let record = TokenRecord(policies: ["root"], vaultIDs: nil, createdAt: Date(), displayName: "root")
        let operation = try record.storageOperation(token: token, ring: ring)
        noteEncryption(ring.activeTerm)
        try await storage.apply([operation])
        let otp = Array(generation.otp.utf8)
        let encoded = Data(zip(Array(token.utf8), otp).map { $0 ^ $1 }).base64EncodedString().replacingOccurrences(of: "=", with: "")
        rootGeneration = nil
        logger.warning("root token generated with the seal key; the previous root tokens stay valid until revoked")
        var status = rootGenerationStatus()
        status.encodedToken = encoded
        status.complete = true
        status.nonce = generation.nonce
        status.required = configuration.secretThreshold
        return status
    }
}
