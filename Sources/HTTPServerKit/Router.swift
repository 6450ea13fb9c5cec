import NIOHTTP1

/// Matches a method and a path pattern (`/api/v1/vaults/:id/secrets`) to a handler.
public struct Router: Sendable {
    public typealias Handler = @Sendable (HTTPRequest, [String: String]) async throws -> HTTPResponse

    private struct Route: Sendable {
        let methods: [HTTPMethod]
        let pattern: String
        let segments: [Substring]
        let handler: Handler
    }

    private var routes: [Route] = []

    public init() {}

    public mutating func add(_ methods: [HTTPMethod], _ pattern: String, _ handler: @escaping Handler) {
        routes.append(Route(methods: methods, pattern: pattern, segments: pattern.split(separator: "/"), handler: handler))
    }

    public enum Match {
        /// The handler, the path's parameters, and the pattern that matched (a metric's label:
        /// bounded, and free of ids).
        case found(Handler, [String: String], pattern: String)
        case methodNotAllowed
        case notFound
    }

    public func match(_ method: HTTPMethod, _ path: String) -> Match {
        let segments = path.split(separator: "/")
        var pathMatched = false
        for route in routes where route.segments.count == segments.count {
            var parameters = [String: String]()
            var matched = true
            for (pattern, segment) in zip(route.segments, segments) {
                if pattern.hasPrefix(":") {
                    parameters[String(pattern.dropFirst())] = String(segment)
                } else if pattern != segment {
                    matched = false
                    break
                }
            }
            guard matched else { continue }
            pathMatched = true
            if route.methods.contains(method) { return .found(route.handler, parameters, pattern: route.pattern) }
        }
        return pathMatched ? .methodNotAllowed : .notFound
    }
}
