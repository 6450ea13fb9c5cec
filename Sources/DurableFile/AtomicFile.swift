import LeanFoundation
#if canImport(Glibc)
import Glibc
#endif

/// Durable replacement of a file: a temporary file in the same directory, written and
/// `fsync`ed, renamed over the target, then the directory `fsync`ed — so after a crash the path
/// holds either the old contents or the new, never a torn or empty file.
public enum AtomicFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        /// `replacing: false` found the path taken: someone else's file is there, untouched.
        public var alreadyExists = false
    }

    /// `/a/b` → (`/a`, `b`); `b` → (`.`, `b`); `/b` → (`/`, `b`).
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    /// Removes temporary files that an earlier writer of `path` left when it was killed between
    /// creating and publishing them (`.NAME.tmp-PID-…` whose PID no longer runs): they may hold
    /// key material that was never used. Returns how many were removed.
    @discardableResult
    public static func removeStaleTemporaries(of path: String) -> Int {
        let (directory, name) = split(path)
        let prefix = ".\(name).tmp-"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        var removed = 0
        for entry in entries where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count).prefix(while: { $0 != "-" })), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH, unlink(directory + "/" + entry) == 0 { removed += 1 }
        }
        return removed
    }

    /// `.NAME<suffix>` in `path`'s directory: where the lock, the init record and temporaries of
    /// the file at `path` are kept.
    public static func hiddenSibling(of path: String, suffix: String) -> String {
        let (directory, name) = split(path)
        return directory + "/.\(name)\(suffix)"
    }

    /// Writes `bytes` to `path` durably. With `replacing: false` an existing file is kept and
    /// the call fails (`EEXIST`): the new file is published with `link`, which never overwrites.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t, replacing: Bool = true) throws {
        let (directory, name) = split(path)
        removeStaleTemporaries(of: path)
        let temporary = directory + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                close(fd)
                throw Failure(description: "cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            written += result
        }
        guard fchmod(fd, mode) == 0, fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot sync \(temporary): \(reason)")
        }
        close(fd)
        if replacing {
            guard rename(temporary, path) == 0 else {
                throw Failure(description: "cannot rename into \(path): \(String(cString: strerror(errno)))")
            }
            ok = true
        } else {
            guard link(temporary, path) == 0 else {
                let exists = errno == EEXIST
                let reason = exists ? "it exists; refusing to overwrite it" : String(cString: strerror(errno))
                throw Failure(description: "cannot create \(path): \(reason)", alreadyExists: exists)
            }
            unlink(temporary)
            ok = true
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }
}
