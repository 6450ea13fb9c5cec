import FuzzSupport
import SealKit

/// libFuzzer entry: any bytes as a seal key (BIP39 phrase, base64, hex), a validation hash,
/// and a list of Shamir shares. Each must parse or throw ``SealKitError``; a parsed key must
/// round-trip through its phrase.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSealKey(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    let text = String(decoding: bytes, as: UTF8.self)
    if let key = try? SealKey(parsing: text) {
        let again = try? SealKey(parsing: key.phrase())
        precondition(again?.validationHash().description == key.validationHash().description, "a parsed key does not round-trip")
    }
    _ = try? ValidationHash(parsing: text)
    let shares = text.split(separator: "\n").map { Array($0.utf8) }
    if shares.count >= 2 { _ = try? Shamir.combine(shares) }
    return 0
}

/// The program's entry (see ``libFuzzerMain``).
@_cdecl("FuzzSealKey_main")
public func fuzzSealKeyMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    libFuzzerMain(argc, argv) { data, count in data.map { fuzzSealKey($0, count) } ?? 0 }
}
