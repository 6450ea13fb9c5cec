#if canImport(Glibc)
import Glibc
#endif

/// Blocking work on a thread of its own, awaited from async code: waits that may last minutes
/// (a child process, `poll(2)`) must not hold one of the cooperative pool's few threads.
/// Foundation's `Thread` does this too, but lives in the full Foundation.
public enum DetachedThread {
    public static func run<T: Sendable>(stackSize: Int = 256 * 1024, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            start(stackSize: stackSize) { continuation.resume(returning: body()) }
        }
    }

    public static func run<T: Sendable, E: Error>(stackSize: Int = 256 * 1024, _ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await run(stackSize: stackSize) { () -> Result<T, E> in
            do throws(E) { return .success(try body()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private final class Work {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private static func start(stackSize: Int, _ body: @escaping @Sendable () -> Void) {
        let work = Unmanaged.passRetained(Work(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let started = pthread_create(&thread, &attributes, { argument in
            Unmanaged<Work>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        }, work)
        if started != 0 {
            // No thread to be had (RLIMIT_NPROC, memory): do the work here rather than never.
            Unmanaged<Work>.fromOpaque(work).takeRetainedValue().body()
        }
    }
}
