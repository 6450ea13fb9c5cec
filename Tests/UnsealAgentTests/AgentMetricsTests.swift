import Foundation
import Testing
@testable import UnsealAgent

@Suite("agent metrics")
struct AgentMetricsTests {
    static func value(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    @Test("sealed seconds grow while a vault is sealed, not only after the next unseal")
    func sealedSecondsDuringOutage() {
        let metrics = AgentMetrics()
        let start = ContinuousClock.now
        metrics.setSealed(target: "t", true, now: start)
        metrics.setSealed(target: "t", true, now: start + .seconds(5))   // still sealed: the spell goes on
        let series = "unseal_agent_sealed_seconds_total{target=\"t\"}"
        #expect(Self.value(metrics.prometheus(now: start + .seconds(10)), series) == 10)
        #expect(Self.value(metrics.prometheus(now: start + .seconds(70)), series) == 70)
        metrics.setSealed(target: "t", false, now: start + .seconds(80))
        #expect(Self.value(metrics.prometheus(now: start + .seconds(500)), series) == 80)
        metrics.setSealed(target: "t", true, now: start + .seconds(600))
        #expect(Self.value(metrics.prometheus(now: start + .seconds(601)), series) == 81)
    }

    @Test("the unseal histogram counts every observation (30,000) and its buckets never go backwards")
    func histogramKeepsEveryCount() {
        let metrics = AgentMetrics()
        var previous = [Double]()
        for round in 0..<3 {
            for index in 0..<10_000 { metrics.unsealDuration(target: "t", seconds: Double(index % 700) / 100) }
            let text = metrics.prometheus()
            #expect(Self.value(text, "unseal_agent_unseal_duration_seconds_count{target=\"t\"}") == Double(10_000 * (round + 1)))
            let buckets = text.split(separator: "\n").filter { $0.hasPrefix("unseal_agent_unseal_duration_seconds_bucket") }
                .compactMap { Double($0.split(separator: " ").last!) }
            #expect(buckets == buckets.sorted(), "cumulative buckets")
            if !previous.isEmpty { #expect(zip(previous, buckets).allSatisfy { $0 <= $1 }, "a bucket went backwards") }
            previous = buckets
        }
    }
}
