import LeanFoundation

/// What unseals a vault, written as text: one whole seal key, or the shares of a Shamir split.
///
/// This file is the project's one grammar of key text. A key is a 24-word BIP39 phrase, 64 hex
/// digits (`0x` allowed) or base64 of its 32 bytes (``SealKey/init(parsing:)``); a share is 33
/// bytes in hex or base64 (Vault's layout: the x coordinate last). Stored material — a key
/// file, a variable, a decrypted envelope — is a key's text, or a JSON list of share strings.
/// The agent keeps and pushes the text as it found it (OpenBao/Vault take shares as text); the
/// vault parses what it is pushed with ``UnsealKeyText``.
public enum SealMaterial: Sendable, Equatable {
    case key(String)
    case shares([String])

    /// What a wrapped envelope's `content` field records: `key` or `shares`.
    public var envelopeContent: String {
        switch self {
        case .key: "key"
        case .shares: "shares"
        }
    }

    /// The strings to push, in order.
    public var unsealKeys: [String] {
        switch self {
        case .key(let key): [key]
        case .shares(let shares): shares
        }
    }

    /// Parses material as it is stored. Surrounding whitespace and line breaks (a file's final
    /// newline, CRLF included) are not part of it. The reason of an error never contains the text.
    public init(storedText text: String) throws(SealKitError) {
        // Not `removeLast(2)` for a final CRLF: Swift counts "\r\n" as one Character, so that
        // cut the key's last letter as well (the agent's parser did, until this test).
        let trimmed = text.trimmed
        guard !trimmed.isEmpty else { throw SealKitError(.invalidMaterial, "is empty") }
        if trimmed.hasPrefix("[") {
            guard let list = AnyJSON.parse(trimmed.utf8) as? [String], !list.isEmpty else {
                throw SealKitError(.invalidMaterial, "starts with '[' but is not a JSON list of share strings")
            }
            self = .shares(list)
        } else {
            self = .key(trimmed)
        }
    }

    /// The text to store: the key, or the JSON list of shares; and a newline.
    public var storedText: String {
        switch self {
        case .key(let key): return key + "\n"
        case .shares(let shares):
            return String(decoding: (try? AnyJSON.encode(shares)) ?? Array("[]".utf8), as: UTF8.self) + "\n"
        }
    }
}

/// One key or share, as `sys/unseal` is given it: a whole seal key unseals at once; a share
/// counts towards the threshold. The bytes are the caller's to wipe.
public enum UnsealKeyText: ~Copyable {
    case key(SealKey)
    case share([UInt8])

    /// Tells a key from a share by its form and length. The reason of an error never contains
    /// the text.
    public init(parsing text: String) throws(SealKitError) {
        let trimmed = text.trimmed
        guard !trimmed.isEmpty else { throw SealKitError(.invalidKeyEncoding, "no key given: send {\"key\": \"…\"}") }
        if trimmed.contains(where: \.isWhitespace) {
            do {
                self = .key(try SealKey(parsing: trimmed))
                return
            } catch {
                throw SealKitError(error.code, "the key is not a valid seal key phrase: \(error.reason)")
            }
        }
        var digits = Substring(trimmed)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        var bytes: [UInt8]
        if let hex = Hex.decode(digits), digits.count >= 2 {
            bytes = hex
        } else if let data = Data(base64Encoded: trimmed) {
            bytes = Array(data)
        } else {
            throw SealKitError(.invalidKeyEncoding, "the key is neither a 24-word phrase, hex nor base64")
        }
        switch bytes.count {
        case SealKey.byteCount:
            defer { bytes.wipe() }
            self = .key(try SealKey(bytes: SecretBytes(copying: bytes)))
        case SealKey.byteCount + 1:
            guard bytes.last != 0 else {
                bytes.wipe()
                throw SealKitError(.malformedShare, "this share is malformed (x coordinate 0)")
            }
            self = .share(bytes)
        default:
            bytes.wipe()
            throw SealKitError(.invalidKeyEncoding, "the key is \(bytes.count) bytes: a seal key is 32 bytes and a share 33")
        }
    }
}
