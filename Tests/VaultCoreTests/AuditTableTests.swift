import Foundation
import SealKit
import Testing
import VaultCoreTestSupport
@testable import VaultCore

@Suite("the audit table in the core")
struct AuditTableTests {
    static func key(_ entry: AuditTableEntry) throws -> [UInt8] { try entry.key.key.reveal { Array($0) } }

    @Test("declared devices come and go with the configuration; an API device keeps its path; keys survive a restart and a rotation; nothing while sealed")
    func table() async throws {
        let storage = MemoryStorage()
        let core = VaultCore(storage: storage)
        try await core.load()
        let phrase = try SealKey.generate().phrase()
        _ = try await core.initialize(InitParameters(sealKey: phrase))
        let sealedEpoch = core.auditEpoch
        #expect(try await core.auditTable().isEmpty, "sealed: no devices")
        _ = try await core.submitUnsealKey(phrase)
        #expect(core.auditEpoch != sealedEpoch, "unsealing makes the server's copy stale")

        let declared = AuditDeviceRecord(path: "file", type: "file", options: ["file_path": "/a.log"])
        await core.declareAuditDevices([declared])
        try await core.enableAudit(AuditDeviceRecord(path: "/api/", type: "file", options: ["file_path": "/b.log"]))
        var table = try await core.auditTable()
        #expect(table.map(\.device.path).sorted() == ["api/", "file/"])
        #expect(table.first { $0.device.path == "file/" }?.device.declared == true)
        let keys = try Dictionary(uniqueKeysWithValues: table.map { ($0.device.path, try Self.key($0)) })
        #expect(keys["api/"] != keys["file/"] && keys.values.allSatisfy { $0.count == 32 })

        // Refused: a path in use, disabling a declared device. Nothing changes.
        await #expect(throws: VaultError.self) { try await core.enableAudit(AuditDeviceRecord(path: "api", type: "file", options: ["file_path": "/c.log"])) }
        await #expect(throws: VaultError.self) { try await core.disableAudit(path: "file/") }
        #expect(try await core.auditTable().count == 2)
        // Never in the clear in storage.
        let stored = try #require(await storage.get(VaultCore.auditTablePath))
        #expect(!String(decoding: stored, as: UTF8.self).contains("/b.log"))

        // A restart after a rotation: the same devices with the same keys.
        _ = try await core.rotateKeyring()
        let restarted = VaultCore(storage: storage)
        try await restarted.load()
        await restarted.declareAuditDevices([declared])
        _ = try await restarted.submitUnsealKey(phrase)
        table = try await restarted.auditTable()
        #expect(try Dictionary(uniqueKeysWithValues: table.map { ($0.device.path, try Self.key($0)) }) == keys)

        // The block removed (SIGHUP): the declared device goes, the API one stays; a declared
        // device at the API one's path does not replace it.
        await restarted.declareAuditDevices([AuditDeviceRecord(path: "api", type: "file", options: ["file_path": "/d.log"])])
        table = try await restarted.auditTable()
        #expect(table.map(\.device.path) == ["api/"] && table[0].device.options["file_path"] == "/b.log" && !table[0].device.declared)
        #expect(try await restarted.disableAudit(path: "api"))
        #expect(try await restarted.disableAudit(path: "nothing-there") == false)
        // The declared one takes the path now that it is free.
        table = try await restarted.auditTable()
        #expect(table.map(\.device.path) == ["api/"] && table[0].device.declared && table[0].device.options["file_path"] == "/d.log")

        await restarted.seal()
        #expect(try await restarted.auditTable().isEmpty)
    }
}
