import Foundation

/// How a child process ended, read with `waitid(WNOWAIT)`: without reaping it, and without
/// relying on Foundation's termination monitoring.
///
/// Why not `Process.waitUntilExit()`/`isRunning`: with hundreds of children started and
/// killed in parallel (the crash campaigns), Foundation on Linux was seen to miss a child's
/// exit — the child a zombie, `isRunning` true forever — and the suite hung with both threads
/// of the cooperative pool parked in `waitUntilExit()`. The kernel's answer is the reliable one.
public struct ChildExit: Sendable, Equatable {
    /// The exit code, or the signal number when ``signalled``.
    public let status: Int32
    public let signalled: Bool

    /// The child's end, or `nil` while it runs. A child already reaped (by Foundation) counts
    /// as ended with an unknown status (-1).
    public static func of(_ pid: pid_t) -> ChildExit? {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else {
            return errno == ECHILD ? ChildExit(status: -1, signalled: false) : nil
        }
        guard info._sifields._sigchld.si_pid == pid else { return nil }
        let code = info._sifields._sigchld.si_status
        return ChildExit(status: code, signalled: info.si_code != CLD_EXITED)
    }

    /// Whether child `pid` has ended.
    public static func hasEnded(_ pid: pid_t) -> Bool { of(pid) != nil }

    /// Waits (blocking, polling every 5 ms) for child `pid` to end, at most `timeout`.
    public static func wait(_ pid: pid_t, timeout: Duration) -> ChildExit? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let exit = of(pid) { return exit }
            usleep(5_000)
        }
        return of(pid)
    }

    /// `SIGKILL`, then waits for the end (SIGKILL cannot be refused; 10 s covers a busy machine).
    public static func kill(_ pid: pid_t) {
        Glibc.kill(pid, SIGKILL)
        _ = wait(pid, timeout: .seconds(10))
    }
}

extension Process {
    /// Whether the process has ended, from the kernel (see ``ChildExit``).
    public var hasEnded: Bool { ChildExit.hasEnded(processIdentifier) }

    /// The exit code (or signal number); -1 while running. From the kernel when the child is
    /// still unreaped, else from Foundation, whose record is complete once it has reaped it.
    public var exitStatus: Int32 {
        guard let exit = ChildExit.of(processIdentifier) else { return -1 }
        if exit.status != -1 { return exit.status }
        let deadline = ContinuousClock.now + .seconds(5)
        while isRunning && ContinuousClock.now < deadline { usleep(1_000) }
        return isRunning ? -1 : terminationStatus
    }
}
