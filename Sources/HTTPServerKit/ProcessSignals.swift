import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import LeanFoundation

/// Waiting for termination signals from async code.
public enum ProcessSignals {
    /// The next of `signals` to arrive (they are ignored by default from the first call on).
    public static func next(_ signals: [Int32]) async -> Int32 {
        await withCheckedContinuation { continuation in
            let once = OnceFlag()
            var sources = [DispatchSourceSignal]()
            for number in signals {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    if once.claim() { continuation.resume(returning: number) }
                }
                source.resume()
                sources.append(source)
            }
            Retained.keep(sources)
        }
    }

    /// Keeps signal sources alive for the process's life.
    private enum Retained {
        nonisolated(unsafe) private static var sources = [DispatchSourceSignal]()
        private static let lock = Mutex(())
        static func keep(_ new: [DispatchSourceSignal]) {
            lock.withLock { _ in sources += new }
        }
    }
}

/// True for the first caller only: resumes a continuation exactly once.
public final class OnceFlag: Sendable {
    private let claimed = Mutex(false)
    public init() {}
    public func claim() -> Bool {
        claimed.withLock { claimed in
            if claimed { return false }
            claimed = true
            return true
        }
    }
}
