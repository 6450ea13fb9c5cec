import LeanFoundation
import SealKit

/// A parsed JSON request body with typed, named-field errors (422 names the field). It lives
/// with the wire types, not with the HTTP listeners, so that the API's request parsing can be
/// fuzzed without a network stack (Fuzz/FuzzSysAPI). JSON through ``AnyJSON``: clients of this
/// module (the agent) do not link the full Foundation.
public struct RequestBody: @unchecked Sendable {
    /// The decoded object.
    public let object: [String: Any]

    /// Decodes `bytes`; an empty (or blank) body is `{}` unless `allowEmpty` is false.
    public init(_ bytes: [UInt8], allowEmpty: Bool = true) throws(WireError) {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            guard allowEmpty else { throw WireError(.badRequest, "a JSON object body is required") }
            object = [:]
            return
        }
        guard let parsed = AnyJSON.parse(bytes) else {
            throw WireError(.badRequest, "the request body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw WireError(.badRequest, "the request body must be a JSON object")
        }
        self.object = object
    }

    /// A body already decoded (a nested object such as `options`).
    public init(object: [String: Any]) {
        self.object = object
    }

    /// The nested object `key`, or nil when absent.
    public func object(_ key: String) throws(WireError) -> RequestBody? {
        guard let value = object[key], !(value is AnyJSON.Null) else { return nil }
        guard let nested = value as? [String: Any] else { throw WireError(.unprocessable, "'\(key)' must be an object") }
        return RequestBody(object: nested)
    }

    /// A list of strings, or nil when absent.
    public func strings(_ key: String) throws(WireError) -> [String]? {
        guard let value = object[key], !(value is AnyJSON.Null) else { return nil }
        if let list = value as? [String] { return list }
        if let text = value as? String { return text.split(separator: ",").map { String($0).trimmed } }
        throw WireError(.unprocessable, "'\(key)' must be a list of strings")
    }

    /// An object of strings (Vault's `meta`), or nil when absent.
    public func stringMap(_ key: String) throws(WireError) -> [String: String]? {
        guard let nested = try object(key) else { return nil }
        var map = [String: String]()
        for (name, value) in nested.object {
            guard let text = value as? String else { throw WireError(.unprocessable, "'\(key).\(name)' must be a string") }
            map[name] = text
        }
        return map
    }

    /// Hex bytes (an optional `0x` prefix allowed), or nil when absent.
    public func hex(_ key: String) throws(WireError) -> [UInt8]? {
        guard let text = try string(key) else { return nil }
        let digits = text.hasPrefix("0x") || text.hasPrefix("0X") ? String(text.dropFirst(2)) : text
        guard let bytes = Hex.decode(digits) else { throw WireError(.unprocessable, "'\(key)' must be hex") }
        return bytes
    }

    public func requiredHex(_ key: String) throws(WireError) -> [UInt8] {
        guard let bytes = try hex(key) else { throw WireError(.unprocessable, "'\(key)' is required") }
        return bytes
    }

    /// Refuses fields the server sets itself (a client sending them expects an effect it won't get).
    public func refuse(_ keys: [String], reason: String) throws(WireError) {
        for key in keys where object[key] != nil {
            throw WireError(.unprocessable, "'\(key)' cannot be given: \(reason)")
        }
    }

    public func string(_ key: String) throws(WireError) -> String? {
        guard let value = object[key], !(value is AnyJSON.Null) else { return nil }
        guard let text = value as? String else { throw WireError(.badRequest, "'\(key)' must be a string") }
        return text
    }

    public func requiredString(_ key: String) throws(WireError) -> String {
        guard let text = try string(key), !text.isEmpty else {
            throw WireError(.unprocessable, "'\(key)' is required")
        }
        return text
    }

    public func int(_ key: String) throws(WireError) -> Int? {
        guard let value = object[key], !(value is AnyJSON.Null) else { return nil }
        if let number = value as? Int { return number }
        if let text = value as? String, let number = Int(text) { return number }
        throw WireError(.badRequest, "'\(key)' must be an integer")
    }

    /// A boolean as Vault's logical paths take one: `true`/`false`, or the text `bao write`
    /// sends (`"true"`, `"false"`, `"1"`, `"0"`).
    public func vaultBool(_ key: String) throws(WireError) -> Bool? {
        if let text = object[key] as? String {
            switch text.lowercased() {
            case "true", "1": return true
            case "false", "0": return false
            default: throw WireError(.badRequest, "'\(key)' must be true or false; got \"\(text)\"")
            }
        }
        return try bool(key)
    }

    public func bool(_ key: String) throws(WireError) -> Bool? {
        guard let value = object[key], !(value is AnyJSON.Null) else { return nil }
        if let flag = value as? Bool { return flag }
        throw WireError(.badRequest, "'\(key)' must be true or false")
    }
}
