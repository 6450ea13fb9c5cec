import LeanFoundation
import HTTPTransport

/// The few HTTP habits every Azure call shares: JSON bodies, the CA bundle for private
/// endpoints and tests, and errors classified from the status and Azure's error shapes.
enum AzureHTTP {
    static func send(_ request: HTTPClientRequest, what: String) async throws(AzureError) -> HTTPClientResponse {
        do {
            return try await HTTPClient.send(request)
        } catch let error as HTTPTransportError {
            throw AzureError(.retryable, "\(what): \(error)")
        } catch {
            throw AzureError(.retryable, "\(what): \(error)")
        }
    }

    static func json(_ response: HTTPClientResponse) -> [String: Any]? {
        AnyJSON.object(response.body)
    }

    /// `Retry-After` in seconds (Azure sends seconds), capped so a hostile value cannot park us.
    static func retryAfter(_ response: HTTPClientResponse, cap: Double = 60) -> Duration? {
        guard let text = response.headers["retry-after"], let seconds = Double(text.trimmed), seconds >= 0 else { return nil }
        return .milliseconds(Int64(min(seconds, cap) * 1000))
    }

    /// `a=1&b=2`, percent-encoded: a query string, or a form body.
    static func query(_ fields: [(String, String)]) -> String {
        fields.map { "\($0.0)=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
    }

    /// `expires_in`/`expires_on`, as numbers or as strings (managed identity sends strings).
    static func expiry(_ json: [String: Any], now: Date = Date()) -> Date? {
        func number(_ key: String) -> Double? {
            if let value = json[key] as? Double { return value }
            if let value = json[key] as? Int { return Double(value) }
            return (json[key] as? String).flatMap(Double.init)
        }
        if let on = number("expires_on") { return Date(timeIntervalSince1970: on) }
        if let seconds = number("expires_in") { return now.addingTimeInterval(seconds) }
        return nil
    }

    /// The access token in a token endpoint's answer.
    static func token(from response: HTTPClientResponse, what: String) throws(AzureError) -> AzureToken {
        let json = Self.json(response) ?? [:]
        guard response.status == 200 else {
            let code = json["error"] as? String
            // Entra's descriptions start with the AADSTS code and reason; the trace ids after
            // the first line help nobody here.
            let description = (json["error_description"] as? String ?? json["message"] as? String ?? "HTTP \(response.status)")
                .split(separator: "\n").first.map(String.init) ?? ""
            let retryable = response.status >= 500 || response.status == 429 || response.status == 404 || response.status == 410
            throw AzureError(retryable ? .retryable : .needsFix, code: code, "\(what) refused (HTTP \(response.status)\(code.map { ", \($0)" } ?? "")): \(description)")
        }
        guard let value = json["access_token"] as? String, let expiry = expiry(json) else {
            throw AzureError(.retryable, "\(what) answered without access_token/expiry")
        }
        return AzureToken(value: value, expiresOn: expiry)
    }
}
