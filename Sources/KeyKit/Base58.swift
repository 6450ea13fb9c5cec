import Crypto

/// Base58Check, as Bitcoin addresses use it.
public enum Base58 {
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var digits = [UInt8]()   // base-58 digits, least significant first
        for byte in bytes {
            var carry = Int(byte)
            for index in digits.indices {
                carry += Int(digits[index]) << 8
                digits[index] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        let zeros = bytes.prefix { $0 == 0 }.count
        return String(decoding: Array(repeating: alphabet[0], count: zeros) + digits.reversed().map { alphabet[Int($0)] }, as: UTF8.self)
    }

    /// `payload` followed by the first 4 bytes of its double SHA-256.
    public static func encodeCheck(_ payload: [UInt8]) -> String {
        let checksum = Array(SHA256.hash(data: Array(SHA256.hash(data: payload))).prefix(4))
        return encode(payload + checksum)
    }
}
