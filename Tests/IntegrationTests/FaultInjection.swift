import Foundation
import TestSupport

/// Faults a real vaultd cannot be driven into from outside: a wall clock stepped under it, and
/// `accept()` failing with EMFILE. `Oracle/fault_inject.c`, built once per run with the C
/// compiler beside the Swift toolchain and loaded with `LD_PRELOAD`; each fault is switched by a
/// file the test writes, so it can start and stop while the daemon runs.
struct FaultInjection {
    let directory: URL

    /// The environment that loads the library into a child process, with its switch files in
    /// `directory`.
    var environment: [String: String] {
        get throws {
            [
                "LD_PRELOAD": try Self.library(),
                "FAULT_WALL_CLOCK_OFFSET_FILE": directory.appendingPathComponent("wall-clock-offset").path,
                "FAULT_ACCEPT_EMFILE_FILE": directory.appendingPathComponent("accept-emfile").path,
                "FAULT_ACCEPT_COUNT_FILE": directory.appendingPathComponent("accept-emfile-count").path,
            ]
        }
    }

    /// Steps the wall clock of the processes that loaded the library to now + `seconds`.
    func setWallClockOffset(seconds: Int) throws {
        try "\(seconds)\n".write(to: directory.appendingPathComponent("wall-clock-offset"), atomically: true, encoding: .utf8)
    }

    /// While on, `accept()` on TCP listening sockets fails with EMFILE.
    func setAcceptFails(_ on: Bool) throws {
        let flag = directory.appendingPathComponent("accept-emfile")
        if on { try Data().write(to: flag) } else { try? FileManager.default.removeItem(at: flag) }
    }

    /// How many `accept()` calls failed so far.
    var acceptFailures: Int {
        let text = (try? String(contentsOf: directory.appendingPathComponent("accept-emfile-count"), encoding: .utf8)) ?? "0"
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    private static let built = Result<String, Error>(catching: { try sharedLibrary(from: "fault_inject.c") })

    /// Builds `Oracle/<source>` into a shared library in the temporary directory, with the C
    /// compiler beside the Swift toolchain (cc as the fallback), and returns its path.
    static func sharedLibrary(from source: String) throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracle/\(source)").path
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("\(source.replacingOccurrences(of: ".c", with: ""))-\(getpid()).so").path
        let compilers = ["/usr/bin/clang", "/usr/bin/cc"] + (ProcessInfo.processInfo.environment["PATH"] ?? "")
            .split(separator: ":").map { "\($0)/clang" }
        guard let compiler = compilers.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestSupportError("no C compiler (clang or cc) to build \(path)")
        }
        let result = try TestEnvironment.runBlocking(compiler, ["-shared", "-fPIC", "-O1", "-o", output, path, "-ldl"])
        guard result.status == 0 else { throw TestSupportError("building \(path) failed: \(result.stderr)") }
        return output
    }

    static func library() throws -> String { try built.get() }
}
