/// A server error with a message for the operator.
public struct VaultServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
