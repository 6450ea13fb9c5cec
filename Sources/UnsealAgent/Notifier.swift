import Crypto
import HTTPTransport
import LeanFoundation
import Logging
import SealKit
import ServiceLifecycle
import Synchronization

/// What the agent tells a webhook about: a vault seen sealed, unsealed by the agent,
/// initialised by it, an error that needs a fix, a vault whose storage was lost.
public enum NotificationEvent: String, Sendable, CaseIterable, Codable {
    case sealed, unsealed, `init`, needsFix = "needs_fix", storageLost = "storage_lost"
}

/// One notification's body. Names and fixed words only: a target address, a source name, an
/// error message (messages never carry key material or tokens) — never a key, share or token.
public struct AgentNotification: Sendable, Codable, Equatable {
    public let event: NotificationEvent
    public let target: String
    /// When the agent saw it, UTC with milliseconds.
    public let time: String
    /// The seal source that unsealed, for `unsealed`.
    public var source: String?
    /// What needs fixing, for `needs_fix` and `storage_lost`.
    public var message: String?
    /// Unique per notification, so a receiver can drop a retried duplicate.
    public let id: String

    public init(event: NotificationEvent, target: String, source: String? = nil, message: String? = nil) {
        self.event = event
        self.target = target
        self.time = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        self.source = source
        self.message = message
        self.id = UUID().uuidString.lowercased()
    }
}

/// `notify "webhook" { url, events, secret }`: each notification POSTed as JSON, signed with
/// HMAC-SHA256 under `secret` in `X-Unseal-Agent-Signature: sha256=<hex>`, retried with backoff.
public struct WebhookSettings: Sendable {
    public var url: String
    public var events: Set<NotificationEvent>
    /// The HMAC key, cloaked while it waits.
    public var secret: CloakedText
    public var caCert: String?
    public var timeout: Duration
    /// Attempts per notification before it is dropped (and logged).
    public var attempts: Int

    public init(url: String, events: Set<NotificationEvent>, secret: CloakedText, caCert: String?, timeout: Duration, attempts: Int) {
        self.url = url
        self.events = events
        self.secret = secret
        self.caCert = caCert
        self.timeout = timeout
        self.attempts = attempts
    }
}

/// Hands notifications to their webhooks without ever making the caller wait: ``post(_:)``
/// puts the notification in each webhook's bounded queue and returns; a delivery service per
/// webhook sends them in order, retrying a failure with backoff. A webhook that hangs or is down
/// delays only its own queue; when a queue is full the oldest notification is dropped, counted
/// and logged — the unseal path never blocks on it.
public final class Notifier: Sendable {
    static let queueLength = 256

    struct Hook: Sendable {
        let settings: WebhookSettings
        let queue: AsyncStream<AgentNotification>
        let continuation: AsyncStream<AgentNotification>.Continuation
    }

    let hooks: [Hook]
    private let dropped = Mutex(0)

    public init(_ webhooks: [WebhookSettings]) {
        hooks = webhooks.map { settings in
            let (queue, continuation) = AsyncStream.makeStream(of: AgentNotification.self, bufferingPolicy: .bufferingNewest(Self.queueLength))
            return Hook(settings: settings, queue: queue, continuation: continuation)
        }
    }

    /// Queues `notification` for every webhook that wants its event. Never waits.
    public func post(_ notification: AgentNotification) {
        for hook in hooks where hook.settings.events.contains(notification.event) {
            if case .dropped = hook.continuation.yield(notification) { dropped.withLock { $0 += 1 } }
        }
    }

    /// Notifications dropped because a webhook's queue was full.
    public var droppedCount: Int { dropped.withLock { $0 } }

    /// The delivery services, one per webhook, for the agent's ServiceGroup.
    public func services(logger: Logger) -> [any Service] {
        hooks.map { WebhookDelivery(hook: $0, logger: logger) }
    }

    /// The signature header's value for `body` under `secret`: `sha256=<hex>`.
    public static func signature(_ body: [UInt8], secret: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret))
        let digits = Array("0123456789abcdef")
        return "sha256=" + String(mac.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] })
    }
}

/// Sends one webhook's notifications in order until the agent stops.
struct WebhookDelivery: Service {
    let hook: Notifier.Hook
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await notification in hook.queue {
                await deliver(notification)
                if Task.isCancelled { break }
            }
        }
    }

    private func deliver(_ notification: AgentNotification) async {
        let settings = hook.settings
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let body = try? Array(encoder.encode(notification)) else { return }
        var delay = Duration.milliseconds(500)
        for attempt in 1...max(1, settings.attempts) {
            var failure: String
            do {
                let secret = Array(try settings.secret.reveal().utf8)
                let response = try await HTTPClient.send(HTTPClientRequest(
                    method: "POST", url: settings.url,
                    headers: [("Content-Type", "application/json"), ("User-Agent", "unseal-agent"),
                              ("X-Unseal-Agent-Event", notification.event.rawValue),
                              ("X-Unseal-Agent-Signature", Notifier.signature(body, secret: secret))],
                    body: body, timeout: settings.timeout, caBundlePath: settings.caCert))
                if (200..<300).contains(response.status) { return }
                failure = "answered \(response.status)"
                // 4xx but 408/429: the receiver refuses this notification; retrying will not help.
                if (400..<500).contains(response.status) && ![408, 429].contains(response.status) { break }
            } catch {
                failure = (error as? HTTPTransportError).map { "\($0.kind)" } ?? "\(type(of: error))"
            }
            guard attempt < settings.attempts, !Task.isCancelled else {
                logger.warning("notification not delivered", metadata: ["webhook": "\(Self.origin(settings.url))", "event": "\(notification.event.rawValue)",
                                                                         "target": "\(notification.target)", "error": "\(failure)", "attempts": "\(attempt)"])
                return
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(30))
        }
        logger.warning("notification refused by the webhook", metadata: ["webhook": "\(Self.origin(settings.url))", "event": "\(notification.event.rawValue)"])
    }

    /// `https://hooks.example.com` of a webhook URL: its path and query may hold a secret (chat
    /// services put the token there), so logs name the origin only.
    static func origin(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://") else { return "(webhook)" }
        let rest = url[scheme.upperBound...]
        return String(url[..<scheme.upperBound]) + String(rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" })
    }
}
