import NIOCore

/// Runs a task's jobs on one NIO event loop: each connection's task on the loop that reads and
/// writes its socket.
///
/// Without it a request crossed threads twice — from the event loop to Swift's cooperative
/// pool when its bytes arrived, and back when its answer was written — and each crossing woke
/// a sleeping thread. Serving on the loop, a read costs no thread hand-off at all (see
/// docs/BENCHMARKS.md). Default actors a task awaits (VaultCore) run their part on the same
/// thread, as SE-0417 lets a task's executor preference do; anything that blocks is kept off
/// this path (SQLite runs on GRDB's own queues).
@available(macOS 15, *)
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
