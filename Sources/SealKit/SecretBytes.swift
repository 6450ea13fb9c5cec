import CVaultSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes of key material kept out of swap, out of core dumps and off the ordinary heap.
///
/// Each value owns its own anonymous memory mapping: the pages are `mlock`ed (so they never
/// reach swap), marked `MADV_DONTDUMP` (so a crash never writes them to disk) and overwritten
/// with zeros before they are returned to the system. The type is `~Copyable`, so a secret
/// cannot be duplicated by an innocent assignment: it is moved or borrowed, and wiped exactly
/// once, when its owner ends.
///
/// Locking can fail where `RLIMIT_MEMLOCK` is small; the memory is still usable and
/// ``isLocked`` says so, letting a server warn (or refuse) as its policy says.
public struct SecretBytes: ~Copyable, @unchecked Sendable {
    // @unchecked: the pointer is uniquely owned (the type is ~Copyable) and never shared.
    private let base: UnsafeMutableRawPointer
    private let mappedLength: Int
    private let allocator: SecretAllocator

    /// The number of secret bytes.
    public let count: Int
    /// Whether the pages are locked in RAM.
    public let isLocked: Bool

    /// Allocates `count` zeroed bytes.
    public init(zeroedCount count: Int) throws(SealKitError) {
        try self.init(zeroedCount: count, allocator: .pages)
    }

    package init(zeroedCount count: Int, allocator: SecretAllocator) throws(SealKitError) {
        precondition(count >= 0, "negative secret size")
        let page = Int(csystem_page_size())
        let length = max(page, (count + page - 1) / page * page)
        let region = try allocator.allocate(length)
        self.base = region.base
        self.mappedLength = length
        self.isLocked = region.locked
        self.allocator = allocator
        self.count = count
    }

    /// Copies `bytes` into secret memory. The caller remains responsible for wiping its copy.
    public init(copying bytes: UnsafeRawBufferPointer) throws(SealKitError) {
        try self.init(zeroedCount: bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 {
            base.copyMemory(from: source, byteCount: bytes.count)
        }
    }

    /// Copies `bytes` into secret memory. The caller remains responsible for wiping its copy.
    public init(copying bytes: [UInt8]) throws(SealKitError) {
        try self.init(zeroedCount: bytes.count)
        bytes.withUnsafeBytes { raw in
            if let source = raw.baseAddress, raw.count > 0 {
                base.copyMemory(from: source, byteCount: raw.count)
            }
        }
    }

    /// `count` bytes from the kernel's CSPRNG (`getrandom(2)`).
    public static func random(count: Int) throws(SealKitError) -> SecretBytes {
        var secret = try SecretBytes(zeroedCount: count)
        try secret.withUnsafeMutableBytes { (raw) throws(SealKitError) in
            try SystemRandom.fill(raw)
        }
        return secret
    }

    /// Lends the bytes to `body`. Do not let the pointer escape.
    public func withUnsafeBytes<R: ~Copyable, E: Error>(
        _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Lends the bytes to `body` for writing. Do not let the pointer escape.
    public mutating func withUnsafeMutableBytes<R: ~Copyable, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    /// Compares contents in time that depends only on the lengths.
    public func constantTimeEquals(_ other: borrowing SecretBytes) -> Bool {
        withUnsafeBytes { mine in
            other.withUnsafeBytes { theirs in
                ConstantTime.equals(mine, theirs)
            }
        }
    }

    /// A new, independent copy in its own pages (explicit, never implicit).
    public func duplicate() throws(SealKitError) -> SecretBytes {
        try withUnsafeBytes { (raw) throws(SealKitError) -> SecretBytes in
            try SecretBytes(copying: raw)
        }
    }

    deinit {
        csystem_wipe(base, mappedLength)
        allocator.release(base, mappedLength)
    }
}

/// Where ``SecretBytes`` get their pages. The real one maps, locks and unmaps; tests substitute
/// one that inspects the pages at release.
package struct SecretAllocator: Sendable {
    package struct Region {
        package let base: UnsafeMutableRawPointer
        package let locked: Bool
        package init(base: UnsafeMutableRawPointer, locked: Bool) {
            self.base = base
            self.locked = locked
        }
    }

    package let allocate: @Sendable (Int) throws(SealKitError) -> Region
    /// Called with pages that have already been wiped.
    package let release: @Sendable (UnsafeMutableRawPointer, Int) -> Void

    package init(
        allocate: @escaping @Sendable (Int) throws(SealKitError) -> Region,
        release: @escaping @Sendable (UnsafeMutableRawPointer, Int) -> Void
    ) {
        self.allocate = allocate
        self.release = release
    }

    /// Private anonymous pages, locked and excluded from core dumps.
    package static let pages = SecretAllocator(
        allocate: { (length) throws(SealKitError) -> Region in
            let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let mapped, mapped != MAP_FAILED else {
                throw SealKitError(.systemFailure, "could not map \(length) bytes for key material (errno \(errno))")
            }
            _ = csystem_madvise_dontdump(mapped, length)
            let locked = mlock(mapped, length) == 0
            return Region(base: mapped, locked: locked)
        },
        release: { base, length in
            _ = munlock(base, length)
            _ = munmap(base, length)
        }
    )
}

/// Comparisons whose running time does not depend on where inputs differ.
public enum ConstantTime {
    /// True when both buffers have the same length and contents.
    public static func equals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<a.count {
            difference |= a[index] ^ b[index]
        }
        return difference == 0
    }

    /// True when both arrays have the same length and contents.
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { ra in b.withUnsafeBytes { rb in equals(ra, rb) } }
    }
}

/// The kernel CSPRNG.
public enum SystemRandom {
    /// Fills `buffer` with random bytes.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(SealKitError) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let result = csystem_random_bytes(base, buffer.count)
        guard result == 0 else {
            throw SealKitError(.systemFailure, "the system random number generator failed (errno \(-result))")
        }
    }

    /// `count` random bytes in an ordinary array (for nonces and other non-secret values).
    public static func bytes(_ count: Int) throws(SealKitError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        do {
            try out.withUnsafeMutableBytes { raw in try fill(raw) }
        } catch let error as SealKitError {
            throw error
        } catch {
            throw SealKitError(.systemFailure, "the system random number generator failed")
        }
        return out
    }

    /// A uniformly random integer in `0..<upperBound`, without modulo bias.
    public static func uniform(_ upperBound: Int) throws(SealKitError) -> Int {
        precondition(upperBound > 0 && upperBound <= 1 << 16)
        let limit = (1 << 16) / upperBound * upperBound
        while true {
            let raw = try bytes(2)
            let value = Int(raw[0]) << 8 | Int(raw[1])
            if value < limit { return value % upperBound }
        }
    }
}

/// Process-wide protections for a process that holds keys.
public enum ProcessHardening {
    /// Turns core dumps off (`RLIMIT_CORE` 0) and makes the process non-dumpable, so neither a
    /// crash nor a same-user `ptrace` can read key material.
    public static func disableCoreDumps() throws(SealKitError) {
        let result = csystem_disable_core_dumps()
        guard result == 0 else {
            throw SealKitError(.systemFailure, "could not disable core dumps (errno \(-result))")
        }
    }

    /// Whether the process may currently be dumped.
    public static var isDumpable: Bool { csystem_is_dumpable() != 0 }
}
