#if canImport(Glibc)
import Glibc
#endif

/// Calendar arithmetic in UTC with the C library (`gmtime_r`, `timegm`): the timestamps AWS
/// and Azure use, without Foundation's `DateFormatter` (full Foundation, ICU).
public enum UTCTime {
    public struct Components: Equatable, Sendable {
        public var year, month, day, hour, minute, second: Int
    }

    public static func components(of date: Date) -> Components {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var broken = tm()
        gmtime_r(&seconds, &broken)
        return Components(year: Int(broken.tm_year) + 1900, month: Int(broken.tm_mon) + 1, day: Int(broken.tm_mday),
                          hour: Int(broken.tm_hour), minute: Int(broken.tm_min), second: Int(broken.tm_sec))
    }

    /// `nil` for fields out of range (month 13, second 61, …).
    public static func date(_ c: Components) -> Date? {
        guard (1...12).contains(c.month), (1...31).contains(c.day), (0...23).contains(c.hour),
              (0...59).contains(c.minute), (0...60).contains(c.second), (1970...9999).contains(c.year) else { return nil }
        var broken = tm()
        broken.tm_year = Int32(c.year - 1900)
        broken.tm_mon = Int32(c.month - 1)
        broken.tm_mday = Int32(c.day)
        broken.tm_hour = Int32(c.hour)
        broken.tm_min = Int32(c.minute)
        broken.tm_sec = Int32(c.second)
        return Date(timeIntervalSince1970: TimeInterval(timegm(&broken)))
    }

    /// `20261124T044150Z` (SigV4's `X-Amz-Date`).
    public static func compact(_ date: Date) -> String {
        let c = components(of: date)
        return pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2) + "T" + pad(c.hour, 2) + pad(c.minute, 2) + pad(c.second, 2) + "Z"
    }

    /// RFC 3339 / ISO 8601 date-times: `2026-11-24T04:41:50Z`, with fractional seconds, or with
    /// an offset (`+01:00`).
    public static func parseISO8601(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count, range.allSatisfy({ (48...57).contains(bytes[$0]) }) else { return nil }
            return range.reduce(0) { $0 * 10 + Int(bytes[$1] - 48) }
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              var date = self.date(Components(year: year, month: month, day: day, hour: hour, minute: minute, second: second)) else { return nil }
        var index = 19
        if bytes[index] == UInt8(ascii: ".") {
            let start = index + 1
            index = start
            while index < bytes.count, (48...57).contains(bytes[index]) { index += 1 }
            guard index > start, let fraction = Double("0." + String(decoding: bytes[start..<index], as: UTF8.self)) else { return nil }
            date += fraction
        }
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            return index + 1 == bytes.count ? date : nil
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                  let hours = number(index + 1..<index + 3), let minutes = number(index + 4..<index + 6), hours < 24, minutes < 60 else { return nil }
            let offset = TimeInterval(hours * 3600 + minutes * 60)
            return bytes[index] == UInt8(ascii: "+") ? date - offset : date + offset
        default:
            return nil
        }
    }

    /// RFC 7231's IMF-fixdate: `Tue, 24 Nov 2026 04:41:50 GMT` (HTTP `Date` headers).
    public static func parseHTTPDate(_ text: String) -> Date? {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT" || parts[5] == "UTC",
              let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])), let year = Int(parts[3]) else { return nil }
        let time = parts[4].split(separator: ":")
        guard time.count == 3, let hour = Int(time[0]), let minute = Int(time[1]), let second = Int(time[2]) else { return nil }
        return date(Components(year: year, month: month + 1, day: day, hour: hour, minute: minute, second: second))
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
