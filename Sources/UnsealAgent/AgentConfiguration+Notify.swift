import HCL
import LeanFoundation
import SealKit

extension AgentConfiguration {
    /// `notify "webhook" { url, events, secret | secret_file, ca_cert, timeout, attempts }`,
    /// repeatable. Every notification is signed, so a secret is required.
    static func webhooks(_ root: ConfigBody) throws -> [WebhookSettings] {
        var webhooks = [WebhookSettings]()
        for block in try root.blocks("notify", labels: 1) {
            guard block.labels[0] == "webhook" else {
                throw HCLError(.invalidValue, at: block.location, "notify \"\(block.labels[0])\" is not available; use notify \"webhook\"")
            }
            let body = block.body
            try body.checkKeys(["url", "events", "secret", "secret_file", "ca_cert", "timeout", "attempts"])
            let url = try body.requiredString("url")
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
                throw body.error("url", "expected https://host/path (or http:// on a trusted network)")
            }
            var events = Set(NotificationEvent.allCases)
            if let names = try body.stringList("events") {
                events = []
                for name in names {
                    guard let event = NotificationEvent(rawValue: name) else {
                        throw body.error("events", "unknown event \"\(name)\"; expected any of: \(NotificationEvent.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    events.insert(event)
                }
                guard !events.isEmpty else { throw body.error("events", "is empty: list at least one event, or leave it out for all") }
            }
            let secretText: String
            switch (try body.string("secret"), try body.string("secret_file")) {
            case (.some, .some): throw body.error("secret_file", "give secret or secret_file, not both")
            case (.some(let value), nil): secretText = value
            case (nil, .some(let path)):
                guard let data = FileManager.default.contents(atPath: path) else { throw body.error("secret_file", "\(path) cannot be read") }
                secretText = String(decoding: data, as: UTF8.self).trimmed
            case (nil, nil):
                throw body.error("secret", "is required (or secret_file): every notification is signed with it (HMAC-SHA256)", code: .missing)
            }
            guard secretText.utf8.count >= 16 else { throw body.error("secret", "must be at least 16 characters") }
            let secret: CloakedText
            do { secret = try CloakedText(secretText) } catch { throw body.error("secret", "cannot be kept: \(error.reason)") }
            let caCert = try body.string("ca_cert")
            if let caCert, !FileManager.default.isReadableFile(atPath: caCert) { throw body.error("ca_cert", "\(caCert) cannot be read") }
            let attempts = try body.int("attempts") ?? 8
            guard (1...100).contains(attempts) else { throw body.error("attempts", "expected 1…100") }
            webhooks.append(WebhookSettings(url: url, events: events, secret: secret, caCert: caCert,
                                            timeout: try Self.duration("timeout", in: body) ?? .seconds(5), attempts: attempts))
        }
        return webhooks
    }
}
