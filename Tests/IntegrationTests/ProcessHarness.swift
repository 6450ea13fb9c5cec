import Foundation
import TestSupport

/// A long-running child process with its output in a log file.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String

    init(_ executable: String, _ arguments: [String], logPath: String, environment: [String: String] = [:]) throws {
        self.logPath = logPath
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        // The child has its own descriptor. Ours is closed now: left to the handle's release,
        // every child's log stayed open for the whole run, and past 1,024 descriptors
        // Foundation's select()-based process monitor (a socket pair per child) missed exits:
        // the suite hung with the pool's threads in waitUntilExit().
        try? handle.close()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { !process.hasEnded }

    func stop(signal: Int32 = SIGTERM) async {
        guard isRunning else { return }
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + TestEnvironment.hangGuard
        while isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if isRunning { ChildExit.kill(process.processIdentifier) }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// CPU seconds (user + system) the process has used, from /proc.
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    deinit {
        if isRunning { ChildExit.kill(process.processIdentifier) }
    }
}

/// Polls `condition` every 5 ms until it holds. The only bound is the suite-wide hang guard
/// (``TestEnvironment/hangGuard``): a wait ends on the event it waits for, never on a budget that
/// a loaded machine can use up.
func eventually(_ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + TestEnvironment.hangGuard
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return await condition()
}
