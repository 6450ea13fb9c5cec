/// Text — a cached cloud credential, an access token — kept cloaked while it waits in a cache,
/// and revealed as a `String` for the one request that needs it.
///
/// The agent caches AWS session credentials and Azure tokens for up to hours between unseals;
/// cloaked, the cache holds only ciphertext, and the key that opens it lives in locked,
/// undumpable memory (``CloakingKey``). The `String`s handed in and out are ordinary heap
/// memory for the length of a request: Swift gives no way to wipe them.
public final class CloakedText: Sendable {
    private let cloaked: Cloaked

    public init(_ text: String, under cloak: CloakingKey = .process) throws(SealKitError) {
        let bytes = Array(text.utf8)
        cloaked = try Cloaked(try SecretBytes(copying: bytes), under: cloak)
    }

    /// The text. Throws only if the cloaked bytes were tampered with.
    public func reveal() throws(SealKitError) -> String {
        let secret = try cloaked.revealed()
        return secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }
}
