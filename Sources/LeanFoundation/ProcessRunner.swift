#if canImport(Glibc)
import Glibc
#endif

/// Runs a child process to completion with a deadline: the agent's `credential_process` and
/// its init custodian. Foundation's `Process` would do, but lives in the full Foundation and
/// waits without a deadline.
///
/// The child starts with every signal at its default disposition and none blocked (the agent
/// ignores or blocks some), standard error shared with the caller, standard input from `input`
/// (or `/dev/null`), standard output collected. At the deadline (`timeout`; `nil` waits as long
/// as the child runs), or when the output exceeds `maxOutput`, the child is killed (`SIGKILL`)
/// and reaped.
public enum ProcessRunner {
    public struct Outcome: Sendable {
        /// The exit status, or 128 + the signal that ended the child.
        public let status: Int32
        public let output: [UInt8]
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public enum Kind: Sendable { case cannotStart, timedOut, outputTooLarge }
        public let kind: Kind
        public let description: String
    }

    public static func run(
        _ executable: String, _ arguments: [String], input: [UInt8]? = nil,
        timeout: Duration?, maxOutput: Int = 1 << 20
    ) async throws(Failure) -> Outcome {
        try await DetachedThread.run { () throws(Failure) -> Outcome in
            try runBlocking(executable, arguments, input: input, timeout: timeout, maxOutput: maxOutput)
        }
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], input: [UInt8]?, timeout: Duration?, maxOutput: Int) throws(Failure) -> Outcome {
        let name = executable.split(separator: "/").last.map(String.init) ?? executable
        func failure(_ kind: Failure.Kind, _ what: String) -> Failure { Failure(kind: kind, description: "\(name): \(what)") }

        // Socket pairs rather than pipes: created close-on-exec in one call (so no other
        // thread's child inherits them), and writing to a child that has already exited is an
        // EPIPE error (MSG_NOSIGNAL), not a SIGPIPE for the agent.
        var output: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &output) == 0 else {
            throw failure(.cannotStart, "no socket pair: \(String(cString: strerror(errno)))")
        }
        var inputPair: [Int32] = [-1, -1]
        if input != nil, socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &inputPair) != 0 {
            close(output[0]); close(output[1])
            throw failure(.cannotStart, "no socket pair: \(String(cString: strerror(errno)))")
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if input != nil {
            posix_spawn_file_actions_adddup2(&actions, inputPair[1], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        close(output[1])
        if input != nil { close(inputPair[1]) }
        guard spawned == 0 else {
            close(output[0])
            if input != nil { close(inputPair[0]) }
            throw failure(.cannotStart, "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        defer { close(output[0]) }

        if let input {
            var sent = 0
            while sent < input.count {
                let count = input.withUnsafeBytes { send(inputPair[0], $0.baseAddress! + sent, input.count - sent, Int32(MSG_NOSIGNAL)) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }  // the child stopped reading: its status will say why
                sent += count
            }
            close(inputPair[0])
        }

        // Without a timeout: a deadline a century away.
        let deadline = ContinuousClock.now + (timeout ?? .seconds(100 * 365 * 86_400))
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var problem: Failure?
        reading: while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                problem = failure(.timedOut, "no answer within \(timeout ?? .zero)")
                break
            }
            var descriptor = pollfd(fd: output[0], events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: min(remaining.components.seconds, 60) * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = read(output[0], &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break reading }  // EOF: the child closed its output (usually: exited)
            collected += buffer[0..<count]
            if collected.count > maxOutput {
                problem = failure(.outputTooLarge, "more than \(maxOutput) bytes of output")
                break
            }
        }
        var status: Int32 = 0
        if problem == nil {
            // Output closed; the child may still be on its way out (or linger): reap it by the
            // same deadline.
            while waitpid(pid, &status, WNOHANG) == 0 {
                guard ContinuousClock.now < deadline else {
                    problem = failure(.timedOut, "closed its output but did not exit within \(timeout ?? .zero)")
                    break
                }
                usleep(2_000)
            }
            if problem == nil { return outcome(status, collected) }
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        throw problem!
    }

    private static func outcome(_ status: Int32, _ collected: [UInt8]) -> Outcome {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift cannot import as macros.
        let signal = status & 0x7F
        return Outcome(status: signal == 0 ? (status >> 8) & 0xFF : 128 + signal, output: collected)
    }
}
