import DurableFile
import LeanFoundation

/// Which vaults were initialised with a store's material, kept beside it (`.NAME.initialised`,
/// JSON: address → when). It is what tells a vault that *lost its storage* — deleted database,
/// truncated WAL, a volume not mounted — from a vault never initialised: both say
/// `initialized: false`, but only the second may be initialised. Without it, an agent with init
/// on answered a deleted vaultd database with a fresh, empty vault under the stored key.
///
/// Written (atomically) after each successful init, under the init lock. An operator who wants a
/// vault initialised again removes its line (or the file).
public enum InitRecord {
    public static func path(beside material: String) -> String {
        AtomicFile.hiddenSibling(of: material, suffix: ".initialised")
    }

    /// The addresses recorded beside `material` (empty when there is no record).
    public static func load(beside material: String) -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path(beside: material)),
              let object = AnyJSON.object(data) else { return [:] }
        return object.compactMapValues { $0 as? String }
    }

    /// Adds `target` (now) to the record beside `material`.
    public static func add(_ target: String, beside material: String) throws {
        var record = load(beside: material)
        record[target] = UTCTime.compact(Date())
        try AtomicFile.write(try AnyJSON.encode(record) + [0x0a], to: path(beside: material), mode: 0o600)
    }
}
