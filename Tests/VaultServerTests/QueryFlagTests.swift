import Testing
@testable import VaultServer

/// Query flags (`standbyok`, `list`) read as Vault reads them: hvac sends Python's `True`.
@Suite("query flags")
struct QueryFlagTests {
    @Test("true in Go's spellings, any case, and a bare flag; anything else, or no flag, is false")
    func spellings() {
        for text in ["", "1", "t", "T", "true", "True", "TRUE"] { #expect(VaultAPI.flag(text), "\(text)") }
        for text in ["0", "f", "false", "False", "yes", "2"] { #expect(!VaultAPI.flag(text), "\(text)") }
        #expect(!VaultAPI.flag(nil))
    }
}
