import Dispatch
import Foundation
import Synchronization

/// Where a `file` device writes: a file opened for appending (created with the device's mode),
/// standard output, or nowhere. ``append(_:)`` returns once the line is written — with `fsync`,
/// once it is on disk. ``reopen()`` (SIGHUP) lets logrotate move the file away: the next line
/// goes to a new file at the path.
///
/// With `fsync`, lines are written by a queue of the device's own, off Swift's cooperative
/// threads (an fsync blocks its thread for as long as the disk takes), and in groups: the lines that arrive while
/// one group is written and flushed go out together with one `write` and one `fsync`. Lines
/// never interleave.
public final class AuditFile: Sendable {
    public let options: FileAuditOptions

    private struct State {
        var descriptor: Int32 = -1
        /// A write that failed part-way left half a line: the next line starts on a line of its own.
        var brokenLine = false
    }
    private let state = Mutex(State())

    /// Lines waiting for the queue, and the callers waiting on them.
    private struct Waiting {
        var bytes: [UInt8] = []
        var callers: [CheckedContinuation<AuditError?, Never>] = []
    }
    private let waiting = Mutex(Waiting())
    private let queue: DispatchQueue

    /// Opens (or creates) the file now, so a path vaultd cannot write is said when the device
    /// is enabled, not at the first request.
    public init(_ options: FileAuditOptions) throws(AuditError) {
        self.options = options
        self.queue = DispatchQueue(label: "vaultd.audit.\(options.destination)")
        let descriptor = try Self.open(options)
        state.withLock { $0.descriptor = descriptor }
    }

    deinit {
        state.withLock { if $0.descriptor > 2 { _ = Foundation.close($0.descriptor) } }
    }

    /// Appends `line` (which ends in a newline) and, with `fsync`, flushes it to disk.
    public func append(_ line: [UInt8]) async throws(AuditError) {
        if case .discard = options.destination { return }
        // Without fsync a write only copies into the page cache: done here, under the lock,
        // cheaper than a hop to the queue and back.
        if !options.fsync {
            try write(line)
            return
        }
        let failure = await withCheckedContinuation { (caller: CheckedContinuation<AuditError?, Never>) in
            waiting.withLock {
                $0.bytes += line
                $0.callers.append(caller)
            }
            queue.async { self.writeWaiting() }
        }
        if let failure { throw failure }
    }

    /// On the queue: everything waiting, in one write and one flush; each caller hears how it went.
    private func writeWaiting() {
        let group = waiting.withLock { waiting in
            defer { waiting = Waiting() }
            return waiting
        }
        guard !group.callers.isEmpty else { return }   // an earlier run took them
        var failure: AuditError?
        do { try write(group.bytes) } catch { failure = error }
        for caller in group.callers { caller.resume(returning: failure) }
    }

    private func write(_ lines: [UInt8]) throws(AuditError) {
        try state.withLock { (state) throws(AuditError) in
            guard state.descriptor >= 0 else {
                throw AuditError(.cannotWrite, "\(options.destination) is not open (it could not be reopened)")
            }
            let bytes = state.brokenLine ? [UInt8(ascii: "\n")] + lines : lines
            var written = 0
            while written < bytes.count {
                let result = bytes.withUnsafeBytes { Foundation.write(state.descriptor, $0.baseAddress! + written, bytes.count - written) }
                if result < 0 {
                    if errno == EINTR { continue }
                    let reason = String(cString: strerror(errno))
                    state.brokenLine = state.brokenLine || written > 0
                    throw AuditError(.cannotWrite, "cannot write to \(options.destination): \(reason)")
                }
                written += result
            }
            state.brokenLine = false
            if options.fsync, case .file = options.destination, Foundation.fsync(state.descriptor) != 0 {
                throw AuditError(.cannotWrite, "cannot flush \(options.destination) to disk (fsync): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Closes and opens the path again (SIGHUP, after logrotate renamed the file). If it cannot
    /// be opened the old file stays in use and the error says why.
    public func reopen() throws(AuditError) {
        guard case .file = options.destination else { return }
        let descriptor = try Self.open(options)
        state.withLock { state in
            if state.descriptor > 2 { _ = Foundation.close(state.descriptor) }
            state.descriptor = descriptor
            state.brokenLine = false
        }
    }

    private static func open(_ options: FileAuditOptions) throws(AuditError) -> Int32 {
        switch options.destination {
        case .stdout: return STDOUT_FILENO
        case .discard: return -1
        case .file(let path):
            let descriptor = Foundation.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, options.mode ?? 0o600)
            guard descriptor >= 0 else {
                throw AuditError(.cannotOpen, "cannot open the audit file \(path): \(String(cString: strerror(errno)))")
            }
            // The device's mode applies to a regular file (a file that existed included, as in
            // Vault); a device node or a pipe someone pointed the path at keeps its own.
            var status = stat()
            let isRegular = fstat(descriptor, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
            if let mode = options.mode, isRegular, fchmod(descriptor, mode) != 0, errno != EPERM {
                let reason = String(cString: strerror(errno))
                _ = Foundation.close(descriptor)
                throw AuditError(.cannotOpen, "cannot set mode \(String(mode, radix: 8)) on the audit file \(path): \(reason)")
            }
            return descriptor
        }
    }
}
