import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Why a listener could not bind, in words an operator acts on — never NIO's
/// `bind(descriptor:ptr:bytes:) (errno: 98)`.
public enum ListenFailure {
    public static func reason(_ error: any Error) -> String {
        if let failure = error as? IOError {
            switch failure.errnoCode {
            case EADDRINUSE: return "the address is already in use: another process listens there (stop it, or choose another address)"
            case EACCES: return "permission denied: a port below 1024 needs CAP_NET_BIND_SERVICE (or choose a port above 1023)"
            case EADDRNOTAVAIL: return "this machine has no such address (use one of its own, 127.0.0.1, or 0.0.0.0 for all)"
            default: return String(cString: strerror(failure.errnoCode))
            }
        }
        if error is SocketAddressError { return "not an address this machine can listen on" }
        return "\(error)"
    }
}
