import NIOHTTP1

/// Matches a method and a path pattern (`/api/v1/vaults/:id/secrets`) to a handler.
///
/// Paths are compared byte for byte, as Vault routes them, and only against the routes with
/// as many segments: matching is on every request's path, and comparing characters (Unicode
/// grapheme by grapheme) cost a tenth of a secret read (docs/BENCHMARKS.md).
public struct Router: Sendable {
    public typealias Handler = @Sendable (HTTPRequest, [String: String]) async throws -> HTTPResponse

    private struct Route: Sendable {
        let methods: [HTTPMethod]
        let pattern: String
        /// Each segment: a literal to equal, or (`:name`) a parameter's name.
        let segments: [Segment]
        let handler: Handler
    }

    private enum Segment: Sendable {
        case literal([UInt8])
        case parameter(String)
    }

    /// Routes by their number of segments, in the order they were added.
    private var routes: [Int: [Route]] = [:]

    public init() {}

    public mutating func add(_ methods: [HTTPMethod], _ pattern: String, _ handler: @escaping Handler) {
        let segments: [Segment] = pattern.split(separator: "/").map { segment in
            segment.hasPrefix(":") ? .parameter(String(segment.dropFirst())) : .literal(Array(segment.utf8))
        }
        routes[segments.count, default: []].append(Route(methods: methods, pattern: pattern, segments: segments, handler: handler))
    }

    public enum Match {
        /// The handler, the path's parameters, and the pattern that matched (a metric's label:
        /// bounded, and free of ids).
        case found(Handler, [String: String], pattern: String)
        case methodNotAllowed
        case notFound
    }

    public func match(_ method: HTTPMethod, _ path: String) -> Match {
        var path = path
        return path.withUTF8 { match(method, $0) }
    }

    private func match(_ method: HTTPMethod, _ path: UnsafeBufferPointer<UInt8>) -> Match {
        // The non-empty segments between slashes, as ranges of the path's bytes.
        var segments = [Range<Int>]()
        var start = 0
        for index in 0...path.count where index == path.count || path[index] == UInt8(ascii: "/") {
            if index > start { segments.append(start..<index) }
            start = index + 1
        }
        guard let candidates = routes[segments.count] else { return .notFound }
        var pathMatched = false
        for route in candidates {
            var matched = true
            for (pattern, segment) in zip(route.segments, segments) {
                if case .literal(let literal) = pattern, !Self.equal(literal, path, segment) {
                    matched = false
                    break
                }
            }
            guard matched else { continue }
            pathMatched = true
            if route.methods.contains(method) {
                var parameters = [String: String]()
                for (pattern, segment) in zip(route.segments, segments) {
                    if case .parameter(let name) = pattern { parameters[name] = String(decoding: UnsafeBufferPointer(rebasing: path[segment]), as: UTF8.self) }
                }
                return .found(route.handler, parameters, pattern: route.pattern)
            }
        }
        return pathMatched ? .methodNotAllowed : .notFound
    }

    private static func equal(_ literal: [UInt8], _ path: UnsafeBufferPointer<UInt8>, _ segment: Range<Int>) -> Bool {
        guard literal.count == segment.count else { return false }
        var offset = segment.lowerBound
        for byte in literal {
            guard path[offset] == byte else { return false }
            offset += 1
        }
        return true
    }
}
