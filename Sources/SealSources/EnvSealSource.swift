import SealSourceCore
import LeanFoundation
import SealKit

/// `seal "env"`: the key in `SEAL_UNSEAL_KEY` (or the variable named by `variable`). For
/// development: environment variables leak into child processes, `/proc/PID/environ` and crash
/// reports. The agent warns when it is used.
public struct EnvSealSource: SealSource {
    public let kind = "env"
    public let variable: String
    public let priority: Int
    private let value: String?

    public var name: String { "env:\(variable)" }

    public init(variable: String = "SEAL_UNSEAL_KEY", priority: Int = 100, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.variable = variable
        self.priority = priority
        self.value = environment[variable]
    }

    public func fetch() async throws(SealSourceError) -> SealMaterial {
        guard let value, !value.isEmpty else {
            throw SealSourceError(.needsFix, "seal \"env\": \(variable) is not set", setting: variable)
        }
        return try SealMaterial(stored: Data(value.utf8), origin: "seal \"env\" (\(variable))")
    }
}
