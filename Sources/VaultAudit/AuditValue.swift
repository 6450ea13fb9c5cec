import Crypto
import Foundation

/// HMAC-SHA256 under one audit device's key, in Vault's notation (`hmac-sha256:<hex>`). The
/// same input always gives the same output for that device, so an operator can find a token
/// or a value in the log (`sys/audit-hash`) without the log ever holding it.
public struct AuditHasher {
    private let key: SymmetricKey

    /// `key` is copied for the hasher's life (one entry); the device keeps it cloaked.
    public init(key: UnsafeRawBufferPointer) {
        self.key = SymmetricKey(data: key)
    }

    public func hash(_ text: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)
        var out = Array("hmac-sha256:".utf8)
        out.reserveCapacity(out.count + 64)
        for byte in mac {
            out.append(Self.digits[Int(byte >> 4)])
            out.append(Self.digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let digits = Array("0123456789abcdef".utf8)
}

/// A JSON value as the audit log writes it: request and response bodies, with every string and
/// number replaced by its HMAC (``hashed(by:)``); booleans, nulls and the shape stay readable.
public indirect enum AuditValue: Sendable, Equatable, Codable {
    case string(String)
    /// A number, as its text (hashed like a string: a PIN or an amount is a value too).
    case number(String)
    case bool(Bool)
    case null
    case array([AuditValue])
    case object([String: AuditValue])

    /// The JSON in `bytes`, or nil when they are not JSON.
    public init?(json bytes: [UInt8]) {
        guard let value = try? JSONDecoder().decode(AuditValue.self, from: Data(bytes)) else { return nil }
        self = value
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let int = try? container.decode(Int64.self) {
            self = .number(String(int))
        } else if let double = try? container.decode(Double.self) {
            self = .number(String(double))
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([AuditValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: AuditValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text), .number(let text): try container.encode(text)
        case .bool(let value): try container.encode(value)
        case .null: try container.encodeNil()
        case .array(let values): try container.encode(values)
        case .object(let entries): try container.encode(entries)
        }
    }

    /// This value with every string and number replaced by its HMAC. Object keys (field
    /// names) stay: they say what was sent, not what it was.
    public func hashed(by hasher: AuditHasher) -> AuditValue {
        switch self {
        case .string(let text), .number(let text): .string(hasher.hash(text))
        case .bool, .null: self
        case .array(let values): .array(values.map { $0.hashed(by: hasher) })
        case .object(let entries): .object(entries.mapValues { $0.hashed(by: hasher) })
        }
    }
}
