import DurableFile
import ErrorKit
import LeanFoundation
import SealKit

/// Where key material comes from: a file (Docker/Kubernetes secret, systemd credential), the
/// environment, a KMS… In the spirit of go-kms-wrapping's `Wrapper`: a kind, a name for logs
/// and metrics, a priority, and one operation.
public protocol SealSource: Sendable {
    /// `file`, `env`, `awskms`, …
    var kind: String { get }
    /// What operators recognise in logs: `file:/run/secrets/unseal-key`.
    var name: String { get }
    /// Lower is tried first.
    var priority: Int { get }
    /// Fetches (or unwraps) the key material.
    func fetch() async throws(SealSourceError) -> SealMaterial
}

/// A source that can also keep material: used by autonomous init, which stores the key
/// *before* the vault uses it, and by the operator's `unseal-agent wrap`.
///
/// The rule that keeps keys from being lost: **init never replaces material.** Its stores are
/// create-if-absent and atomic, so of two writers racing for an empty source exactly one wins,
/// and the loser is told what the winner stored and uses that. Only ``replace(with:)``, an
/// explicit operator command, overwrites.
public protocol StoringSealSource: SealSource {
    /// Stores `material` durably unless the source already holds material (for files: write,
    /// fsync, `link(2)` into place — which never overwrites — and fsync the directory). Returns
    /// `.stored`, or `.alreadyHeld` with what is there; losing the race is not an error.
    func storeIfAbsent(_ material: SealMaterial) async throws(SealSourceError) -> StoreOutcome

    /// Replaces whatever the source holds, durably. For explicit operator commands only.
    func replace(with material: SealMaterial) async throws(SealSourceError)

    /// The file on this host that holds the material (a key file, an envelope); `nil` where the
    /// source keeps nothing here (an Azure Key Vault secret).
    var localPath: String? { get }

    /// The same source keeping material beside the current one (`PATH.pending`): where a rekey
    /// stores the new key before any vault uses it, so that a crash at any instant leaves a key
    /// that unseals. `nil` where the source keeps nothing on this host.
    func pending() -> (any StoringSealSource)?
}

extension StoringSealSource {
    /// The file whose lock (``InitLock``) serialises autonomous init between processes, beside
    /// the material; `nil` without a local file.
    public var initLockPath: String? { localPath.map { InitLock.path(beside: $0) } }

    /// The pending companion's file name: the current one's with `.pending`.
    public static func pendingPath(of path: String) -> String { path + ".pending" }

    /// Whether a rekey left material in the pending companion.
    public var hasPending: Bool {
        guard let path = pending()?.localPath else { return false }
        return access(path, F_OK) == 0
    }

    /// Removes this source's file and makes the removal durable (the directory is synced): used
    /// on a pending companion once its material is promoted.
    public func removeLocalMaterial() throws(SealSourceError) {
        guard let path = localPath else { return }
        if unlink(path) != 0 && errno != ENOENT {
            throw SealSourceError(.needsFix, "cannot remove \(path): \(String(cString: strerror(errno)))")
        }
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            _ = fsync(descriptor)
            close(descriptor)
        }
    }

    /// Removes what a writer killed mid-store left beside the material (temporary files that may
    /// hold a key never used). The agent calls it at start.
    public func removeStaleTemporaries() -> Int {
        localPath.map { AtomicFile.removeStaleTemporaries(of: $0) } ?? 0
    }
}

/// A source with upkeep to do while the agent runs — renewing the token of a Transit seal, as
/// Vault's own seal does. The agent runs ``maintain(log:)`` beside its target loops for as long
/// as it runs, and cancels it at shutdown; one-shot commands (`check`, `wrap`) do not.
public protocol MaintainedSealSource: SealSource {
    /// Runs until cancelled; never throws. `log(level, message)` reports what an operator must
    /// know (a token that cannot be renewed), never a secret. Levels: "info", "warning".
    func maintain(log: @escaping @Sendable (_ level: String, _ message: String) -> Void) async
}

/// What ``StoringSealSource/storeIfAbsent(_:)`` did.
public enum StoreOutcome: Sendable, Equatable {
    /// The material given was stored: the source held nothing before.
    case stored
    /// The source already held this material, which was kept; use it instead.
    case alreadyHeld(SealMaterial)
}

/// Why a source gave no key, and whether waiting can help (its code is the ``FailureClass``,
/// as the AWS and Azure clients decided it). The detail is the setting to change, which the
/// message names too.
public typealias SealSourceError = DomainError<SealSourceErrors>

public enum SealSourceErrors: ErrorDomain {
    public typealias Code = FailureClass
    public typealias Detail = String
}

extension SealSourceError {
    public typealias Class = FailureClass

    public init(_ errorClass: FailureClass, _ message: String, setting: String?, file: String = #fileID, line: UInt = #line) {
        self.init(errorClass, message, detail: setting, file: file, line: line)
    }

    /// The setting to change, when one is to blame.
    public var setting: String? { detail }
}

extension SealMaterial {
    /// Material as a source stored it (``SealMaterial/init(storedText:)``), with errors that
    /// name where it came from.
    public init(stored data: Data, origin: String) throws(SealSourceError) {
        do {
            self = try SealMaterial(storedText: String(decoding: data, as: UTF8.self))
        } catch {
            throw SealSourceError(.needsFix, "\(origin) \(error.reason)")
        }
    }
}
