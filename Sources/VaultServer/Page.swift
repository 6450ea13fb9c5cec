import HTTPServerKit
import VaultCore

/// `page` and `rpp` (results per page) of a listing; without them the whole list. The total
/// is always in `X-Total-Results-Count`.
struct Page {
    var page: Int?
    var perPage: Int?

    init(_ request: HTTPRequest) throws {
        func number(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = request.query[name] else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw VaultError(.unprocessable, "\(name): expected a whole number in \(range.lowerBound)…\(range.upperBound), got '\(text)'")
            }
            return value
        }
        page = try number("page", 1...1_000_000)
        perPage = try number("rpp", 1...1000)
    }

    func response<T: Encodable>(_ all: [T]) -> HTTPResponse {
        var items = all
        if page != nil || perPage != nil {
            let size = perPage ?? 25
            let start = min(all.count, ((page ?? 1) - 1) * size)
            items = Array(all[start..<min(all.count, start + size)])
        }
        return JSONResponse.encode(items, headers: ["X-Total-Results-Count": String(all.count)])
    }
}
