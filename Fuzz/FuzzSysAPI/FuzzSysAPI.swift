import Dispatch
import FuzzSupport
import Foundation
import VaultCore
import VaultCoreTestSupport
import VaultWire

/// libFuzzer entry: any bytes as the body of `sys/init` (on a fresh vault) and of `sys/unseal`
/// (on an initialised, sealed one), parsed as vaultd's handlers parse them (VaultWire's
/// ``RequestBody``, ``InitRequest/init(body:)``, ``UnsealRequest/intent(of:)``) and handed to the vault core. Errors are answers; a crash, a
/// hang or a sanitizer report is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSysAPI(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    blocking {
        // sys/init on a vault that has never been initialised.
        if let request = try? InitRequest(body: RequestBody(bytes)) {
            let fresh = VaultCore(storage: MemoryStorage())
            _ = try? await fresh.initialize(InitParameters(secretShares: request.secretShares, secretThreshold: request.secretThreshold,
                                                           recoveryShares: request.recoveryShares ?? 0, recoveryThreshold: request.recoveryThreshold ?? 0,
                                                           sealKey: request.sealKey))
        }
        // sys/unseal on the shared sealed vault: {key} or {reset: true}.
        guard let body = try? RequestBody(bytes, allowEmpty: false) else { return }
        switch try? UnsealRequest.intent(of: body) {
        case .reset:
            _ = await Sealed.core.resetUnseal()
        case .key(let key):
            _ = try? await Sealed.core.submitUnsealKey(key)
            if await !Sealed.core.isSealed { await Sealed.core.seal() }
        case nil:
            break
        }
    }
    return 0
}

/// One vault, initialised once with 3 shares (threshold 2), kept sealed between inputs.
enum Sealed {
    static let core: VaultCore = {
        let core = VaultCore(storage: MemoryStorage())
        blocking { _ = try? await core.initialize(InitParameters(secretShares: 3, secretThreshold: 2)) }
        return core
    }()
}

/// Runs async work to completion from libFuzzer's synchronous callback.
func blocking(_ work: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task {
        await work()
        done.signal()
    }
    done.wait()
}

/// The program's entry (see ``libFuzzerMain``).
@_cdecl("FuzzSysAPI_main")
public func fuzzSysAPIMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    libFuzzerMain(argc, argv) { data, count in data.map { fuzzSysAPI($0, count) } ?? 0 }
}
