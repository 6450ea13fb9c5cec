import HTTPServerKit
import NIOHTTP1
import VaultCore
import VaultWire

/// Responses with JSON bodies, written as ``WireJSON`` writes them (keys sorted, slashes
/// unescaped, dates ISO 8601): the bytes Vault clients have always received from vaultd.
enum JSONResponse {
    /// Encodes a wire value (a sys answer, a resource record) as the body.
    static func encode<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        let body = (try? WireJSON.encode(value)) ?? Array("{}".utf8)
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// A secret, written by ``FlatJSONWriter`` (the bytes `WireJSON` would write, cheaper):
    /// a secret read is the hot path.
    static func encode(_ secret: SecretRecord, status: HTTPResponseStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: secret.flatJSONWriter().bytes(escapingSlashes: false))
    }

    /// Encodes `value` bare (Vault's `sys` paths) or under `data` (OpenBao's logical paths).
    static func encode<T: Codable & Sendable & Equatable>(_ value: T, underData: Bool) -> HTTPResponse {
        underData ? encode(DataEnvelope(data: value)) : encode(value)
    }

    static func error(_ status: HTTPResponseStatus, _ message: String) -> HTTPResponse {
        encode(ErrorResponse(message), status: status)
    }

    static func error(_ error: VaultError) -> HTTPResponse {
        self.error(error.code.httpStatus, error.message)
    }

    static func error(_ error: WireError) -> HTTPResponse {
        self.error(error.code.httpStatus, error.message)
    }

    static func noContent() -> HTTPResponse { HTTPResponse(status: .noContent) }
}
