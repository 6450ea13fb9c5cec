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

    /// How records are written: dates as ISO 8601, keys sorted.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Encodes a Codable record as a JSON object (dates as ISO 8601).
    static func encode<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        let body = (try? encoder.encode(value)).map(Array.init) ?? Array("{}".utf8)
        return HTTPResponse(status: status, headers: headers, body: body)
    }
}
