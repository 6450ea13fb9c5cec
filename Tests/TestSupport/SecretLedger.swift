import Foundation

/// The evidence for "secrets never appear in logs" (issue 8): every seal key, share and token
/// the suite creates is written to a ledger, every log the suite's processes write is kept, and
/// after the run `Tests/scan_secrets.py` looks for each secret (phrase, base64 and hex forms) in
/// each log and in the test output.
///
/// Both places come from the environment `scripts/test` sets: `SECRET_LEDGER` (a file) and
/// `LOG_ARCHIVE` (a directory). Without them (a single test run by hand) nothing is kept.
public enum SecretLedger {
    static let ledger = ProcessInfo.processInfo.environment["SECRET_LEDGER"]
    static let archive = ProcessInfo.processInfo.environment["LOG_ARCHIVE"]
    static let lock = NSLock()

    /// Files whose contents are secrets wherever the tests and daemons write them.
    static let secretFileNames: Set = ["key", "unseal-key", "shares.json", "root-token", "current-key.txt", "key.txt"]

    /// Records secrets (a phrase, a base64 or hex key, a share, a token). Short strings are
    /// ignored: they would match by chance.
    public static func record(_ secrets: [String]) {
        guard let ledger else { return }
        let lines = secrets.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { $0.count >= 16 }
        guard !lines.isEmpty else { return }
        lock.withLock {
            if !FileManager.default.fileExists(atPath: ledger) { _ = FileManager.default.createFile(atPath: ledger, contents: nil) }
            guard let handle = FileHandle(forWritingAtPath: ledger) else { return }
            handle.seekToEndOfFile()
            // One secret per line, base64 so that any byte fits.
            handle.write(Data(lines.map { Data($0.utf8).base64EncodedString() + "\n" }.joined().utf8))
            try? handle.close()
        }
    }

    /// Records the secrets stored in `directory` (key files, share lists, root tokens), copies
    /// its logs to the archive, then removes it.
    public static func removeDirectory(_ directory: URL) {
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        while let file = files?.nextObject() as? URL {
            guard (try? file.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            if secretFileNames.contains(file.lastPathComponent), let text = try? String(contentsOf: file, encoding: .utf8) {
                if let list = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] { record(list) } else { record([text]) }
            } else if file.pathExtension == "log", let archive {
                let name = "\(UUID().uuidString.prefix(8))-\(file.lastPathComponent)"
                try? FileManager.default.createDirectory(atPath: archive, withIntermediateDirectories: true)
                try? FileManager.default.copyItem(at: file, to: URL(fileURLWithPath: archive).appendingPathComponent(name))
            }
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
