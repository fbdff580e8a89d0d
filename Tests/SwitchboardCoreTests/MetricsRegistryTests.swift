import Foundation
import Metrics
import SwitchboardCore
import SwitchboardMetrics
import Testing

@Suite struct MetricsRegistryTests {
    @Test func countersAndGaugesRenderWithHelpTypeAndEscapedLabels() {
        let registry = MetricsRegistry()
        let jobs = registry.counter("test_jobs_total", help: "Jobs.\nSecond line \\ end", labels: ["kind", "outcome"])
        jobs.increment(["sms", "completed"])
        jobs.increment(["sms", "completed"], by: 2)
        jobs.increment(["voice", "fai\"led\n"])
        jobs.increment(["sms", "completed"], by: -5)  // counters never go down
        let depth = registry.gauge("test_depth", help: "Depth.", labels: ["queue"])
        depth.set(7, ["default"])
        depth.replaceAll([["other"]: 1.5])
        #expect(
            registry.exposition() == """
                # HELP test_jobs_total Jobs.\\nSecond line \\\\ end
                # TYPE test_jobs_total counter
                test_jobs_total{kind="sms",outcome="completed"} 3
                test_jobs_total{kind="voice",outcome="fai\\"led\\n"} 1
                # HELP test_depth Depth.
                # TYPE test_depth gauge
                test_depth{queue="other"} 1.5

                """)
    }

    @Test func histogramBucketsAreCumulativeWithSumAndCount() {
        let registry = MetricsRegistry()
        let latency = registry.histogram("test_seconds", help: "Latency.", labels: ["route"], buckets: [0.1, 1])
        latency.observe(0.05, ["/a"])
        latency.observe(0.5, ["/a"])
        latency.observe(.seconds(3), ["/a"])
        #expect(latency.count(["/a"]) == 3)
        #expect(
            registry.exposition() == """
                # HELP test_seconds Latency.
                # TYPE test_seconds histogram
                test_seconds_bucket{route="/a",le="0.1"} 1
                test_seconds_bucket{route="/a",le="1"} 2
                test_seconds_bucket{route="/a",le="+Inf"} 3
                test_seconds_sum{route="/a"} 3.55
                test_seconds_count{route="/a"} 3

                """)
    }
}

@Suite struct LogRedactionTests {
    @Test func phoneNumbersAreMaskedButSIDsAndSmallNumbersAreNot() {
        #expect(
            LogRedaction.maskingPhoneNumbers("The 'To' number +15005550001 is not a valid phone number.")
                == "The 'To' number +*********01 is not a valid phone number.")
        #expect(LogRedaction.maskingPhoneNumbers("to=whatsapp:+447911123456") == "to=whatsapp:+**********56")
        #expect(LogRedaction.maskingPhoneNumbers("call +1 555-123-4567 now") == "call +*********67 now")
        let untouched = [
            "SM47526757130f9f52581ce1ff0e4ae394", "job 123456 attempt 3", "2026-11-29T22:30:33+0000", "code=21612",
            "twilio 30006", "ACdeadbeef1234567890",
            // Issue 11 §13: ids, counts and times became `******71`.
            "job.id=12345678 attempt=1", "deleted 2500000 jobs; pid 4194301; at 1764093522", "concurrency=10000000",
        ]
        for text in untouched { #expect(LogRedaction.maskingPhoneNumbers(text) == text) }
    }

    @Test func addressKeysAreMaskedWhateverTheFormat() {
        #expect(LogRedaction.masking("5551234567", key: "recipient") == "********67")
        #expect(LogRedaction.masking("+15551234567", key: "twilio.to") == "+*********67")
        #expect(LogRedaction.masking("whatsapp:+447911123456", key: "from") == "whatsapp:+**********56")
        #expect(LogRedaction.masking("12345678", key: "job.id") == "12345678")
        #expect(LogRedaction.masking("4194301", key: "session.id") == "4194301")
        #expect(
            LogRedaction.masking("twilio 21211: The 'To' number +15005550001 is not valid", key: "error")
                == "twilio 21211: The 'To' number +*********01 is not valid")
    }
}

/// The README's metrics table and the Grafana dashboard name exactly the metrics that exist.
@Suite struct MetricsCatalogueTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")

    static func names(in text: String) -> Set<String> {
        var names: Set<String> = []
        var scanner = Substring(text)
        while let range = scanner.range(of: "switchboard_") {
            let name = scanner[range.lowerBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            scanner = scanner[range.upperBound...]
            var family = String(name)
            for suffix in ["_bucket", "_sum", "_count"]
            where family.hasSuffix(suffix) && family != "switchboard_jobs_count" {
                family = String(family.dropLast(suffix.count))
            }
            names.insert(family)
        }
        return names
    }

    @Test func readmeAndGrafanaNameTheRegisteredMetrics() throws {
        let registered = Set(
            SwitchboardMetrics().exposition().split(separator: "\n")
                .filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        #expect(registered.count >= 14)
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        // Only the metrics table's rows: lines starting with "| `switchboard_".
        let table = readme.split(separator: "\n").filter { $0.hasPrefix("| `switchboard_") }.joined(separator: "\n")
        #expect(Self.names(in: table) == registered, "README metrics table vs registered families")
        let grafana = try String(
            contentsOf: Self.root.appendingPathComponent("Deploy/grafana/switchboard-dashboard.json"), encoding: .utf8)
        let used = Self.names(in: grafana)
        #expect(used.isSubset(of: registered), "unknown in Grafana: \(used.subtracting(registered))")
    }
}

/// The backend behind swift-metrics: what libraries record through `Counter`, `Timer` and
/// `Recorder` lands in the catalogue's families, dimensions in the family's label order.
@Suite struct MetricsFactoryTests {
    @Test func recordsThroughSwiftMetricsLandInTheCataloguesFamilies() {
        let metrics = SwitchboardMetrics()
        // Dimensions in another order than the family's labels, and one twice.
        Counter(label: MetricNames.jobs, dimensions: [("outcome", "completed"), ("kind", "sms")], factory: metrics)
            .increment()
        Counter(label: MetricNames.jobs, dimensions: [("kind", "sms"), ("outcome", "completed")], factory: metrics)
            .increment(by: 2)
        Metrics.Timer(
            label: MetricNames.twilioRequestDuration, dimensions: [("operation", "create_message"), ("status", "201")],
            factory: metrics
        ).record(duration: .milliseconds(3))
        Recorder(label: MetricNames.rateLimitWait, dimensions: [("pool", "")], factory: metrics).record(0.2)
        let text = metrics.exposition()
        #expect(text.contains(#"switchboard_jobs_total{kind="sms",outcome="completed"} 3"#), "\(text)")
        #expect(
            text.contains(
                #"switchboard_twilio_request_duration_seconds_bucket{operation="create_message",status="201",le="0.005"} 1"#
            ))
        #expect(
            text.contains(
                #"switchboard_twilio_request_duration_seconds_bucket{operation="create_message",status="201",le="0.0025"} 0"#
            ))
        #expect(
            text.contains(
                #"switchboard_twilio_request_duration_seconds_sum{operation="create_message",status="201"} 0.003"#))
        // The wait histogram keeps its own buckets (10 ms … 1 h).
        #expect(text.contains(#"switchboard_rate_limit_wait_seconds_bucket{pool="",le="0.5"} 1"#))
        #expect(text.contains(#"switchboard_rate_limit_wait_seconds_bucket{pool="",le="0.1"} 0"#))
        #expect(
            text.contains("# HELP switchboard_jobs_total Job attempts finished by this process, by kind and outcome."))
    }

    @Test func aNameOutsideTheCatalogueBecomesAFamilyOfItsOwn() {
        let metrics = SwitchboardMetrics()
        Counter(label: "hummingbird_requests_total", dimensions: [("method", "GET")], factory: metrics).increment()
        Meter(label: "test_in_flight", factory: metrics).set(4)
        Metrics.Timer(label: "hb.request.duration", dimensions: [("http.method", "GET")], factory: metrics)
            .record(duration: .milliseconds(1))
        let text = metrics.exposition()
        #expect(text.contains("# TYPE hummingbird_requests_total counter"))
        #expect(text.contains(#"hummingbird_requests_total{method="GET"} 1"#))
        #expect(text.contains("test_in_flight 4"))
        // Prometheus names: dots become underscores.
        #expect(text.contains(#"hb_request_duration_count{http_method="GET"} 1"#), "\(text)")
    }

    @Test func eachBackendIsItsOwn() {
        let first = SwitchboardMetrics()
        let second = SwitchboardMetrics()
        Counter(label: MetricNames.sendsFenced, factory: first).increment()
        #expect(first.exposition().contains("switchboard_sends_fenced_total 1"))
        #expect(!second.exposition().contains("switchboard_sends_fenced_total 1"))
    }
}
