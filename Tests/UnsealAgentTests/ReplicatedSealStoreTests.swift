import Foundation
import SealKit
import SealSourceCore
import SealSources
import TestSupport
import Testing
import UnsealAgent
import Synchronization

/// A store that can be taken down, standing in for a KMS that stops answering.
final class SwitchableStore: StoringSealSource, @unchecked Sendable {
    let inner: FileSealSource
    let down = Mutex(false)
    init(_ inner: FileSealSource) { self.inner = inner }
    var kind: String { "kms" }
    var name: String { "kms:" + inner.path }
    var priority: Int { 1 }
    var localPath: String? { inner.localPath }
    func pending() -> (any StoringSealSource)? { nil }
    private func check() throws(SealSourceError) {
        if down.withLock({ $0 }) { throw SealSourceError(.retryable, "the KMS is down", setting: nil) }
    }
    func fetch() async throws(SealSourceError) -> SealMaterial { try check(); return try await inner.fetch() }
    func storeIfAbsent(_ material: SealMaterial) async throws(SealSourceError) -> StoreOutcome { try check(); return try await inner.storeIfAbsent(material) }
    func replace(with material: SealMaterial) async throws(SealSourceError) { try check(); try await inner.replace(with: material) }
}

@Suite("seal HA: several storing seals as one for init")
struct ReplicatedSealStoreTests {
    static func stores() throws -> (URL, SwitchableStore, FileSealSource) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("replicated-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (directory, SwitchableStore(FileSealSource(path: directory.appendingPathComponent("kms-key").path)),
                FileSealSource(path: directory.appendingPathComponent("file-key").path, priority: 2))
    }

    @Test("both empty: the material goes into both; a second writer is handed it")
    func storesEverywhere() async throws {
        let (directory, kms, file) = try Self.stores()
        defer { SecretLedger.removeDirectory(directory) }
        let store = ReplicatedSealStore(stores: [kms, file])
        #expect(try await store.storeIfAbsent(.key("first")) == .stored)
        #expect(try await kms.fetch() == .key("first"))
        #expect(try await file.fetch() == .key("first"))
        #expect(try await store.storeIfAbsent(.key("second")) == .alreadyHeld(.key("first")))
    }

    @Test("one store down before an init: nothing is written anywhere, the failure is retryable")
    func downBlocksInit() async throws {
        let (directory, kms, file) = try Self.stores()
        defer { SecretLedger.removeDirectory(directory) }
        kms.down.withLock { $0 = true }
        let store = ReplicatedSealStore(stores: [kms, file])
        await #expect(throws: SealSourceError.self) { _ = try await store.storeIfAbsent(.key("new")) }
        #expect(!FileManager.default.fileExists(atPath: file.path))
        // Reading: the file is empty and the KMS cannot say: not "nothing stored".
        do { _ = try await store.fetch(); Issue.record("fetch succeeded") } catch { #expect(error.errorClass == .retryable) }
    }

    @Test("issued material (OpenBao's shares) goes into every store that answers; the one down is filled once back")
    func issuedFillsWhatAnswers() async throws {
        let (directory, kms, file) = try Self.stores()
        defer { SecretLedger.removeDirectory(directory) }
        kms.down.withLock { $0 = true }
        let store = ReplicatedSealStore(stores: [kms, file], issued: true)
        let shares = SealMaterial.shares(["s1-0123456789abcdef", "s2-0123456789abcdef", "s3-0123456789abcdef"])
        do { _ = try await store.storeIfAbsent(shares); Issue.record("stored while the KMS was down") } catch { #expect(error.errorClass == .retryable) }
        #expect(try await file.fetch() == shares)
        #expect(try await store.fetch() == shares, "read from the file while the KMS is down")
        kms.down.withLock { $0 = false }
        #expect(try await store.storeIfAbsent(shares) == .alreadyHeld(shares))
        #expect(try await kms.fetch() == shares)
    }

    @Test("stores holding different material are a conflict: nothing changes")
    func conflict() async throws {
        let (directory, kms, file) = try Self.stores()
        defer { SecretLedger.removeDirectory(directory) }
        _ = try await kms.storeIfAbsent(.key("kms-material"))
        _ = try await file.storeIfAbsent(.key("file-material"))
        let store = ReplicatedSealStore(stores: [kms, file])
        do { _ = try await store.storeIfAbsent(.key("new")); Issue.record("a conflict was accepted") } catch {
            #expect(error.errorClass == .needsFix && error.message.contains("hold different key material"), "\(error.message)")
        }
        #expect(try await kms.fetch() == .key("kms-material"))
        #expect(try await file.fetch() == .key("file-material"))
    }

    @Test("one store holds material, the other is empty: that material is copied, never a new one")
    func fillsTheEmptyOne() async throws {
        let (directory, kms, file) = try Self.stores()
        defer { SecretLedger.removeDirectory(directory) }
        _ = try await file.storeIfAbsent(.key("existing"))
        let store = ReplicatedSealStore(stores: [kms, file])
        #expect(try await store.storeIfAbsent(.key("new")) == .alreadyHeld(.key("existing")))
        #expect(try await kms.fetch() == .key("existing"))
        #expect(ReplicatedSealStore.forInit([file]) is FileSealSource)
        #expect(ReplicatedSealStore.forInit([kms, file]) is ReplicatedSealStore)
    }
}
