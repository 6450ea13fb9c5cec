import SealSourceCore
import LeanFoundation
import SealKit
import DurableFile
#if canImport(Glibc)
import Glibc
#endif

/// `seal "file" { path = … }`: a Docker secret, a Kubernetes secret mount, a systemd credential.
///
/// The file holds a phrase, base64 or hex key, or a JSON list of shares; one trailing newline is
/// ignored. A group- or world-readable file is refused unless `allow_insecure_permissions`. A
/// relative path is looked up in systemd's `$CREDENTIALS_DIRECTORY`.
public struct FileSealSource: StoringSealSource {
    public let kind = "file"
    public let path: String
    public let priority: Int
    public let allowInsecurePermissions: Bool

    public var name: String { "file:\(path)" }

    public init(path: String, priority: Int = 100, allowInsecurePermissions: Bool = false, environment: [String: String] = ProcessInfo.processInfo.environment) {
        if !path.hasPrefix("/"), let directory = environment["CREDENTIALS_DIRECTORY"] {
            self.path = directory + "/" + path
        } else {
            self.path = path
        }
        self.priority = priority
        self.allowInsecurePermissions = allowInsecurePermissions
    }

    public func fetch() async throws(SealSourceError) -> SealMaterial {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT {
                throw SealSourceError(.notFound, "seal \"file\": \(path) does not exist", setting: "path")
            }
            throw SealSourceError(.needsFix, "seal \"file\": cannot read \(path): \(String(cString: strerror(errno)))", setting: "path")
        }
        if info.st_mode & 0o077 != 0 && !allowInsecurePermissions {
            throw SealSourceError(
                .needsFix,
                "seal \"file\": \(path) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 it, or set allow_insecure_permissions = true",
                setting: "allow_insecure_permissions"
            )
        }
        guard var data = FileManager.default.contents(atPath: path) else {
            throw SealSourceError(.needsFix, "seal \"file\": cannot read \(path): permission denied", setting: "path")
        }
        defer { data.resetBytes(in: 0..<data.count) }
        return try SealMaterial(stored: data, origin: "seal \"file\" (\(path))")
    }

    public var localPath: String? { path }

    public func pending() -> (any StoringSealSource)? {
        FileSealSource(path: Self.pendingPath(of: path), priority: priority, allowInsecurePermissions: allowInsecurePermissions, environment: [:])
    }

    public func storeIfAbsent(_ material: SealMaterial) async throws(SealSourceError) -> StoreOutcome {
        if try write(material, replacing: false) { return .stored }
        // Someone else's material is in place (another node's init, an operator): keep it.
        return .alreadyHeld(try await fetch())
    }

    public func replace(with material: SealMaterial) async throws(SealSourceError) {
        _ = try write(material, replacing: true)
    }

    /// Writes the file durably; `false` when `replacing` is off and the file exists (untouched).
    private func write(_ material: SealMaterial, replacing: Bool) throws(SealSourceError) -> Bool {
        var bytes = Array(material.storedText.utf8)
        defer { for index in bytes.indices { bytes[index] = 0 } }
        do {
            try AtomicFile.write(bytes, to: path, mode: 0o600, replacing: replacing)
            return true
        } catch let failure as AtomicFile.Failure where failure.alreadyExists {
            return false
        } catch {
            throw SealSourceError(.retryable, "seal \"file\": cannot store the key in \(path): \(error)", setting: "path")
        }
    }
}
