import AWSAuth
import FuzzSupport
import Foundation

/// libFuzzer entry: any bytes as the parts of a request to sign — method, path, query and
/// headers, split at newlines — through SigV4's canonicalisation. It must always produce a
/// signature (64 hex digits) and never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSigV4(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let headers = lines.dropFirst(3).map { line -> (name: String, value: String) in
        let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
        return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
    }
    let request = SigV4.Request(method: lines.first ?? "GET", path: lines.count > 1 ? lines[1] : "/",
                                query: lines.count > 2 ? lines[2] : "", headers: headers, body: Array(text.utf8))
    let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    for normalize in [true, false] {
        var options = SigV4.Options()
        options.normalizePath = normalize
        let result = SigV4.sign(request, credentials: credentials, region: "us-east-1", service: "kms",
                                date: Date(timeIntervalSince1970: 1_440_938_160), options: options)
        precondition(result.signature.count == 64, "a signature is 64 hex digits")
    }
    return 0
}

/// The program's entry (see ``libFuzzerMain``).
@_cdecl("FuzzSigV4_main")
public func fuzzSigV4Main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    libFuzzerMain(argc, argv) { data, count in data.map { fuzzSigV4($0, count) } ?? 0 }
}
