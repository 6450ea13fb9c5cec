import LeanFoundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock(2)` on a small file: what serialises autonomous init between the
/// processes that may attempt it — the agent, its init custodian (which outlives a killed
/// agent), and the agent started after that kill.
///
/// Why a lock and not only create-if-absent stores: OpenBao makes its shares *during* `sys/init`,
/// which can take seconds. An agent restarted in that window sees every node uninitialised and
/// the store empty — exactly what a new cluster looks like. The custodian holds this lock from
/// before its decision until the shares are stored, so the new agent's decision waits for it and
/// then finds the stored shares. The kernel releases the lock when its holder dies, whatever
/// the signal, so a crashed holder never blocks the next one.
public final class InitLock: Sendable {
    private let descriptor: Int32

    /// The lock file for material kept at `path`: `.NAME.init-lock` in the same directory
    /// (which the store can write, since it keeps the material there).
    public static func path(beside path: String) -> String {
        AtomicFile.hiddenSibling(of: path, suffix: ".init-lock")
    }

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Takes the lock at `path`, waiting (without blocking a thread) while another process
    /// holds it. Fails only when the lock file cannot be opened.
    public static func acquire(_ path: String, poll: Duration = .milliseconds(20)) async throws -> InitLock {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw AtomicFile.Failure(description: "cannot open the init lock \(path): \(String(cString: strerror(errno)))")
        }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw AtomicFile.Failure(description: "cannot lock \(path): \(reason)")
            }
            do { try await Task.sleep(for: poll) } catch {
                close(descriptor)
                throw error
            }
        }
        return InitLock(descriptor: descriptor)
    }

    /// Whether another process holds the lock at `path` now (a missing file: nobody).
    public static func isHeld(_ path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return true }
        flock(descriptor, LOCK_UN)
        return false
    }

    deinit { close(descriptor) }   // closing the descriptor releases the lock
}
