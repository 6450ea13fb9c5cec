import Foundation
import TestSupport
import Testing

/// What the agent maps into memory (issue 8's idle RSS): no libcurl and its dependency tree,
/// no full Foundation with ICU. A module that imports Foundation again, or a transport back on
/// libcurl, fails here rather than only in the benchmark.
@Suite("agent footprint")
struct AgentFootprintTests {
    @Test("unseal-agent links neither libcurl nor the full Foundation (FoundationEssentials only)")
    func linkedLibraries() async throws {
        let result = try await TestEnvironment.run("/usr/bin/ldd", [TestEnvironment.executable("unseal-agent")])
        #expect(result.status == 0, "\(result.stderr)")
        let libraries = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for unwanted in ["libcurl", "libFoundation.so", "libFoundationInternationalization", "lib_FoundationICU", "libgnutls", "libldap"] {
            #expect(!libraries.contains { $0.hasPrefix(unwanted) }, "unseal-agent links \(unwanted):\n\(result.stdout)")
        }
        // vaultctl shares the transport: no libcurl there either.
        let vaultctl = try await TestEnvironment.run("/usr/bin/ldd", [TestEnvironment.executable("vaultctl")])
        #expect(!vaultctl.stdout.contains("libcurl"), "\(vaultctl.stdout)")
    }

    /// The dynamic loader reads the executable's relocation table once, before main; both daemons
    /// then hand its pages back (1.7 MB of the agent's idle RSS, the size of the figure issue 18
    /// holds it to). Checked on the running processes: not one page of `.rela.dyn` is mapped.
    @Test("a running agent and vaultd hold none of their relocation table resident")
    func relocationTableReleased() async throws {
        let vaultd = try VaultdHarness()
        defer { vaultd.remove() }
        let keyFile = vaultd.directory.appendingPathComponent("unseal-key").path
        let config = try AgentTests.writeAgentConfig(vaultd.directory, vault: vaultd.address, keyFile: keyFile,
                                                     extra: "init { enabled = true }")
        try await vaultd.start()
        let agent = try AgentTests.startAgent(config, in: vaultd.directory)
        let client = try vaultd.client()
        #expect(await eventually { await AgentTests.isUnsealed(client) }, "\(agent.log)")

        for (name, pid) in [("unseal-agent", agent.pid), ("vaultd", vaultd.process!.processIdentifier)] {
            let table = try await Self.relocationTable(of: TestEnvironment.executable(name))
            #expect(table.size > 64 * 1024, "\(name): .rela.dyn is \(table.size) bytes")
            let resident = try Self.residentPages(pid: pid, executable: TestEnvironment.executable(name), in: table)
            // The first and last page may be shared with the neighbouring sections.
            #expect(resident.of > 16 && resident.present <= 2, "\(name): \(resident.present) of \(resident.of) pages of .rela.dyn resident")
        }
    }

    /// `.rela.dyn`'s virtual address and size, from the section table.
    static func relocationTable(of executable: String) async throws -> (address: Int, size: Int) {
        let result = try await TestEnvironment.run("/usr/bin/readelf", ["-SW", executable])
        guard let line = result.stdout.split(separator: "\n").first(where: { $0.contains(" .rela.dyn ") }) else {
            throw TestSupportError("no .rela.dyn in \(executable)")
        }
        let fields = line.split(separator: "]", maxSplits: 1)[1].split(separator: " ")
        guard fields.count > 4, let address = Int(fields[2], radix: 16), let size = Int(fields[4], radix: 16) else {
            throw TestSupportError("cannot read: \(line)")
        }
        return (address, size)
    }

    /// How many pages of `range` (addresses as linked) are present in `pid`'s address space,
    /// from /proc/PID/pagemap (bit 63: present; readable without privileges).
    static func residentPages(pid: Int32, executable: String, in range: (address: Int, size: Int)) throws -> (present: Int, of: Int) {
        let path = URL(fileURLWithPath: executable).resolvingSymlinksInPath().path
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        let base = maps.split(separator: "\n").compactMap { line -> Int? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, String(fields[5]) == path, Int(fields[2], radix: 16) == 0 else { return nil }
            return Int(fields[0].split(separator: "-")[0], radix: 16)
        }.min()
        guard let base else { throw TestSupportError("\(path) not mapped in \(pid):\n\(maps)") }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/\(pid)/pagemap"))
        defer { try? handle.close() }
        var present = 0, total = 0
        var address = (base + range.address) / page * page
        while address < base + range.address + range.size {
            try handle.seek(toOffset: UInt64(address / page * 8))
            let entry = (try handle.read(upToCount: 8) ?? Data()).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            if entry >> 63 == 1 { present += 1 }
            total += 1
            address += page
        }
        return (present, total)
    }
}
