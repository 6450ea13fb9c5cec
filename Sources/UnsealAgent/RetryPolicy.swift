/// Exponential backoff with full jitter (AWS's recommendation): attempt n waits a uniformly
/// random time in [0, min(max, initial · 2ⁿ)].
public struct RetryPolicy: Sendable, Equatable {
    public var initial: Duration = .milliseconds(200)
    public var maximum: Duration = .seconds(30)

    public init(initial: Duration = .milliseconds(200), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The ceiling of attempt `attempt` (0-based).
    public func ceiling(_ attempt: Int) -> Duration {
        let factor = 1 << min(attempt, 30)
        let grown = initial * factor
        return grown > maximum ? maximum : grown
    }

    /// A random delay for attempt `attempt`.
    public func delay(_ attempt: Int) -> Duration {
        let ceiling = ceiling(attempt)
        let nanoseconds = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: 0...max(nanoseconds, 1)))
    }
}
