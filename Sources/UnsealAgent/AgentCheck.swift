import LeanFoundation
import SealSourceCore
import HTTPTransport
import SealSources
import VaultClient
import VaultWire

/// `unseal-agent check`: the configuration parses, each vault answers, each source yields key
/// material — without pushing anything.
public enum AgentCheck {
    public struct Line: Sendable {
        public let ok: Bool
        public let text: String
    }

    public static func run(_ configuration: AgentConfiguration) async -> [Line] {
        var lines = [Line(ok: true, text: "configuration \(configuration.origin): ok")]
        for target in configuration.targets {
            do {
                let client = VaultClient(address: try VaultAddress(target.address), timeout: .seconds(5), caBundlePath: target.caCert)
                let status = try await client.sealStatus()
                let state = status.initialized ? (status.sealed ? "sealed" : "unsealed") : "not initialized"
                lines.append(Line(ok: true, text: "vault \(target.address): reachable, \(state)"))
            } catch {
                lines.append(Line(ok: false, text: "vault \(target.address): \(error)"))
            }
        }
        for source in configuration.sources {
            do {
                let material = try await source.fetch()
                let shape: String
                switch material {
                case .key: shape = "a key"
                case .shares(let shares): shape = "\(shares.count) shares"
                }
                lines.append(Line(ok: true, text: "seal \(source.name): holds \(shape)"))
            } catch {
                let acceptable = error.errorClass == .notFound && configuration.initSettings.enabled
                lines.append(Line(ok: acceptable, text: "seal \(source.name): \(error.message)\(acceptable ? " (init.enabled: it will be created)" : "")"))
            }
        }
        return lines
    }
}
