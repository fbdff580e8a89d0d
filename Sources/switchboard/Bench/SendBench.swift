import ArgumentParser
import Foundation
import Logging
import Postgres
import ServiceTask
import SwitchboardCore
import SwitchboardProcesses
import SwitchboardSending
import SwitchboardStore
import SwitchboardWorker
import Twilio
import TwilioSimulator

struct SendBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Messages per second end to end: worker → HTTP → Twilio simulator (unthrottled) → result recorded.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Messages per run.") var messages = 5000
    @Option(help: "Worker concurrency.") var concurrency = 100
    @Option(help: "HTTP connections to the simulator.") var connections = 32

    func run() async throws {
        try await options.withScratchDatabase(poolSize: 16) { pool, description in
            try await measure(pool: pool, server: description)
        }
    }

    private func measure(pool: PostgresPool, server: String) async throws {
        let twilio = try await BenchTwilio.start(pool: pool, accountSID: "AC" + String(repeating: "be4c", count: 8))
        defer { twilio.stop() }
        let simulator = twilio.simulator
        let accounts = twilio.accounts
        let quiet = twilio.quiet
        let store = JobStore(pool: pool)
        let http = makeSendingHTTPClient(connections: connections)
        let client = twilio.client(http)
        let handlers = HandlerRegistry.sending(
            client: client, accounts: accounts, deliveries: DeliveryStore(pool: pool))

        say("switchboard bench send — \(server); simulator on \(simulator.baseURL!)")
        say(
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(messages) messages/run, concurrency \(concurrency), \(connections) connections"
        )
        var rates: [Double] = []
        var sentBefore = 0
        for run in 1...options.runs {
            try await pool.query("TRUNCATE switchboard.jobs, switchboard.messages")
            var jobs: [NewJob] = []
            for n in 0..<messages {
                let request = MessageRequest(
                    account: "bench", to: "+1555" + String(format: "%07d", n), from: "+15005550006",
                    body: "Hi {{name}}, your order #{{order}} has shipped.",
                    variables: ["name": .string("Ana"), "order": .int(Int64(n))])
                jobs.append(NewJob(kind: "sms", payload: try PostgresJSON.encoding(try request.resolve(channel: .sms))))
            }
            try await store.enqueueMany(jobs)
            try await pool.query("VACUUM ANALYZE switchboard.jobs")
            var configuration = WorkerConfiguration()
            configuration.concurrency = concurrency
            let process = try WorkerProcess(
                configuration: .init(worker: configuration), pool: pool, handlers: handlers, logger: quiet)
            let worker = process.worker
            let start = ContinuousClock.now
            let running = Task { try await process.run() }
            while worker.recordedFinishes < messages { try await Task.sleep(for: .milliseconds(2)) }
            let seconds = (ContinuousClock.now - start).seconds
            worker.beginShutdown()
            try await running.value
            let completed = try await pool.query("SELECT count(*) FROM switchboard.jobs WHERE state = 'completed'")[0]
                .decode(Int.self, at: 0)
            let accepted = await simulator.messages().count - sentBefore
            sentBefore += accepted
            guard completed == messages, accepted == messages else {
                throw CommandFailure(
                    "run \(run): \(completed) jobs completed and \(accepted) messages accepted, of \(messages)")
            }
            rates.append(Double(messages) / seconds)
            say(
                "run \(run): \(messages) messages in \(formatted(seconds, decimals: 3)) s = \(formatted(Double(messages) / seconds)) messages/s"
            )
        }
        try await http.shutdown()
        let median = Statistics.median(rates)
        say("")
        say("result (median of \(options.runs) runs): \(formatted(median)) messages/s end to end")
        say(
            "method: \(messages) sms jobs pre-inserted (validated, templates rendered); one worker process sends each through"
        )
        say(
            "the Twilio REST client over loopback HTTP to the simulator (no faults, no throttling), records the message row and"
        )
        say(
            "completes the job; timed from worker start until every outcome is written. Postgres, worker and simulator share the machine."
        )
        if options.json {
            say(
                "{\"messages_per_s\": \(formatted(median)), \"runs\": \(options.runs), \"concurrency\": \(concurrency)}"
            )
        }
    }
}
