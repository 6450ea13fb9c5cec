/// The Azure clouds: each has its own Entra authority and Key Vault domain.
/// `environment = "AzurePublicCloud" | "AzureUSGovernmentCloud" | "AzureChinaCloud"` (Vault's names).
public struct AzureCloud: Sendable, Equatable {
    public let name: String
    /// Where tokens come from: `https://login.microsoftonline.com`.
    public let authorityHost: String
    /// The Key Vault DNS suffix: `vault.azure.net`.
    public let vaultSuffix: String

    /// The token scope for Key Vault in this cloud.
    public var vaultScope: String { "https://\(vaultSuffix)/.default" }

    public static let publicCloud = AzureCloud(name: "AzurePublicCloud", authorityHost: "https://login.microsoftonline.com", vaultSuffix: "vault.azure.net")
    public static let usGovernment = AzureCloud(name: "AzureUSGovernmentCloud", authorityHost: "https://login.microsoftonline.us", vaultSuffix: "vault.usgovcloudapi.net")
    public static let china = AzureCloud(name: "AzureChinaCloud", authorityHost: "https://login.chinacloudapi.cn", vaultSuffix: "vault.azure.cn")

    public static let all = [publicCloud, usGovernment, china]

    /// A cloud by Vault's name (case-insensitive; `AzureCloud` is accepted for the public cloud).
    public static func named(_ name: String) -> AzureCloud? {
        let lowered = name.lowercased()
        if lowered == "azurecloud" { return .publicCloud }
        return all.first { $0.name.lowercased() == lowered }
    }
}
