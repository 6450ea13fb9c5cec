import NIOHTTP1
import VaultCore
import VaultWire

extension VaultErrors.Code {
    /// The HTTP status each of the vault's error codes is answered with (Vault's choices: a
    /// second init and a wrong key are 400, not 409 and 401).
    var httpStatus: HTTPResponseStatus {
        switch self {
        case .badRequest, .wrongKey, .conflict, .notInitialized: .badRequest
        case .permissionDenied: .forbidden
        case .notFound: .notFound
        case .tooLarge: .payloadTooLarge
        case .unprocessable: .unprocessableEntity
        case .rateLimited: .tooManyRequests
        case .sealed, .storageUnavailable, .notActive: .serviceUnavailable
        default: .internalServerError
        }
    }
}

extension WireErrors.Code {
    var httpStatus: HTTPResponseStatus {
        self == .unprocessable ? .unprocessableEntity : .badRequest
    }
}
