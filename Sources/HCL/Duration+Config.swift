extension Duration {
    /// A duration as configuration files and command lines write it: "200ms", "2s", "1.5s",
    /// "5m", "1h". `nil` for anything else (no unit, a negative or non-finite number).
    public init?(configText text: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if suffix == "s", number.hasSuffix("m") { continue }
            guard let value = Double(number), value >= 0, value.isFinite else { return nil }
            self = .nanoseconds(Int64(value * seconds * 1_000_000_000))
            return
        }
        return nil
    }
}
