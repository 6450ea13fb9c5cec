import ErrorKit

public typealias SnapshotError = DomainError<SnapshotErrors>

/// What can be wrong with a snapshot file. Messages name the file's part and never quote
/// its contents (they are encrypted records, but still nobody's business).
public enum SnapshotErrors: ErrorDomain {
    public enum Code: String, Hashable, Sendable, CustomStringConvertible {
        /// Not gzip, not a tar, truncated, or a part that fails its checksum.
        case damaged
        /// Larger than the reader accepts once decompressed.
        case tooLarge
        /// A well-formed archive that is not a vaultd snapshot (another format or version).
        case notASnapshot

        public var description: String { rawValue }
    }
}
