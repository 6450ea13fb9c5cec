import FuzzSupport
import HCL

/// libFuzzer entry: any bytes as a configuration file, HCL and JSON. The parsers must answer
/// with a document or an `HCLError`, never crash, hang or read out of bounds.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHCL(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    if let document = try? HCLDocument(parsing: text) {
        _ = document.root.keys.count
    }
    if let document = try? HCLDocument(parsing: text, file: "fuzz.json") {
        _ = document.root.keys.count
    }
    return 0
}

/// The program's entry (see ``libFuzzerMain``).
@_cdecl("FuzzHCL_main")
public func fuzzHCLMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    libFuzzerMain(argc, argv) { data, count in data.map { fuzzHCL($0, count) } ?? 0 }
}
