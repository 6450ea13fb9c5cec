import Foundation

/// A parsed JSON request body with typed, named-field errors (422 names the field). It lives
/// here, not with the HTTP listeners, so that the sys API's request parsing can be fuzzed
/// without a network stack (Fuzz/FuzzSysAPI).
public struct RequestBody: @unchecked Sendable {
    /// The decoded object.
    public let object: [String: Any]

    /// Decodes `bytes`; an empty (or blank) body is `{}` unless `allowEmpty` is false.
    public init(_ bytes: [UInt8], allowEmpty: Bool = true) throws(VaultError) {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            guard allowEmpty else { throw VaultError(.badRequest, "a JSON object body is required") }
            object = [:]
            return
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(bytes)) else {
            throw VaultError(.badRequest, "the request body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw VaultError(.badRequest, "the request body must be a JSON object")
        }
        self.object = object
    }

    public func string(_ key: String) throws(VaultError) -> String? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let text = value as? String else { throw VaultError(.badRequest, "'\(key)' must be a string") }
        return text
    }

    public func requiredString(_ key: String) throws(VaultError) -> String {
        guard let text = try string(key), !text.isEmpty else {
            throw VaultError(.unprocessable, "'\(key)' is required")
        }
        return text
    }

    public func int(_ key: String) throws(VaultError) -> Int? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        if let number = value as? Int { return number }
        if let text = value as? String, let number = Int(text) { return number }
        throw VaultError(.badRequest, "'\(key)' must be an integer")
    }

    public func bool(_ key: String) throws(VaultError) -> Bool? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        if let flag = value as? Bool { return flag }
        throw VaultError(.badRequest, "'\(key)' must be true or false")
    }
}
