import CVaultSystem
import Foundation
import Testing

/// `csystem_release_startup_code`, which the agent calls once every vault it watches has been
/// unsealed: the executable's code and constants leave the resident set, and whatever runs next
/// faults its pages back in. Checked on this test process itself.
@Suite("releasing start-up code")
struct ReleaseStartupCodeTests {
    /// Resident kB of this executable's read-only mappings (code, constants), from smaps.
    static func residentReadOnlyKilobytes() throws -> Int {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let smaps = try String(contentsOfFile: "/proc/self/smaps", encoding: .utf8)
        var total = 0
        var inReadOnlyMapping = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 6, fields[0].contains("-"), fields[1].count == 4 {
                inReadOnlyMapping = String(fields[5]) == executable && !fields[1].contains("w")
            } else if inReadOnlyMapping, fields.first == "Rss:", fields.count >= 2, let kilobytes = Int(fields[1]) {
                total += kilobytes
            }
        }
        return total
    }

    @Test("the executable's read-only pages leave the resident set, and code runs on afterwards")
    func release() throws {
        let before = try Self.residentReadOnlyKilobytes()
        let released = csystem_release_startup_code()
        let after = try Self.residentReadOnlyKilobytes()
        #expect(released > 1 << 20, "released \(released) bytes")
        // Reading smaps again faults some pages back in; far fewer than were resident.
        #expect(after * 2 < before, "read-only pages resident: \(before) kB before, \(after) kB after")
        // And the process goes on: code that had been dropped runs again.
        #expect(try Self.residentReadOnlyKilobytes() > 0)
        #expect(String(decoding: Data("still running".utf8), as: UTF8.self) == "still running")
    }
}
