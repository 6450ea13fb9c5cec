import Foundation
import HTTPServerKit
import NIOHTTP1
import VaultCore

/// JSON bodies in Vault's conventions: objects for data, `{"errors": [...]}` for failures.
enum JSONResponse {
    static func ok(_ object: Any, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return HTTPResponse(status: status, headers: headers, body: Array(data))
    }

    static func error(_ status: HTTPResponseStatus, _ message: String) -> HTTPResponse {
        ok(["errors": [message]], status: status)
    }

    static func error(_ error: VaultError) -> HTTPResponse {
        self.error(HTTPResponseStatus(statusCode: error.code.httpStatus), error.message)
    }

    static func noContent() -> HTTPResponse { HTTPResponse(status: .noContent) }

    /// Encodes a Codable record as a JSON object (dates as ISO 8601).
    static func encode<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        let body = (try? encoder.encode(value)).map(Array.init) ?? Array("{}".utf8)
        return HTTPResponse(status: status, headers: headers, body: body)
    }
}

/// A parsed JSON request body with typed, named-field errors (422 names the field).
struct JSONBody {
    let object: [String: Any]

    init(_ bytes: [UInt8], allowEmpty: Bool = true) throws {
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

    func string(_ key: String) throws -> String? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let text = value as? String else { throw VaultError(.badRequest, "'\(key)' must be a string") }
        return text
    }

    func requiredString(_ key: String) throws -> String {
        guard let text = try string(key), !text.isEmpty else {
            throw VaultError(.unprocessable, "'\(key)' is required")
        }
        return text
    }

    func int(_ key: String) throws -> Int? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        if let number = value as? Int { return number }
        if let text = value as? String, let number = Int(text) { return number }
        throw VaultError(.badRequest, "'\(key)' must be an integer")
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        if let flag = value as? Bool { return flag }
        throw VaultError(.badRequest, "'\(key)' must be true or false")
    }
}
