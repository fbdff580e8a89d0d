import Foundation
import Logging
import Metrics
import ServiceLifecycle
import ServiceTask
import SwitchboardCore
import SwitchboardStore
import Synchronization
import Twilio

/// Asks Twilio what messages and calls cost once they reached a final status (the price is not
/// in the create answer nor in status callbacks; Twilio publishes it later), and records it.
///
/// Every worker process runs one; due checks are leased, so hosts share them. Many waiting
/// messages of one sender and day are read from the list endpoint (a page of 1000 per request,
/// newest first, stopping once all are found or the pages are older than the oldest; every
/// price on a page is recorded, so one page settles checks other passes would take); the rest,
/// calls, and checks the list did not answer twice are fetched one by one. At most `concurrency`
/// requests are in flight per process (Twilio limits an account's concurrent requests, 20429); a
/// 429 or a transport error moves the checks it was for half a minute on. A price still null
/// waits by `schedule`, which at its give-up age marks it unknown.
public struct Pricer: Service {
    public struct Configuration: Sendable {
        public var schedule = PriceCheckSchedule.standard
        /// Checks taken per pass.
        public var batch = 1000
        /// How long a taken check is this pricer's (a dead host's checks come back after it).
        public var lease: Duration = .seconds(120)
        /// Twilio requests in flight at once, per process.
        public var concurrency = 4
        /// A sender's day with at least this many waiting messages is read by list pages.
        public var listThreshold = 20
        /// List pages read per sender and day in one pass at most.
        public var maxPagesPerGroup = 50
        /// A check the list endpoint did not answer after this many checks is fetched by itself.
        public var listAttempts = 2
        /// The pause between passes when nothing is due.
        public var interval: Duration = .seconds(2)
        /// How long checks given up on are kept (counted as unknown by `switchboard costs`).
        public var keepGivenUp: Duration = .seconds(30 * 86_400)

        public init() {}
    }

    /// What a pass did, for tests and the benchmark.
    public struct PassResult: Sendable, Equatable {
        public var checked = 0
        public var priced = 0
        public var waiting = 0
        public var unknown = 0
        public var errors = 0
        public var requests = 0
    }

    let store: PriceStore
    let client: TwilioClient
    let accounts: AccountCache
    let configuration: Configuration
    let logger: Logger

    public init(
        store: PriceStore, client: TwilioClient, accounts: AccountStore, configuration: Configuration = .init(),
        logger: Logger
    ) {
        self.store = store
        self.client = client
        self.accounts = AccountCache(accounts: accounts, ttl: .seconds(60))
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let lastPrune = Mutex<ContinuousClock.Instant?>(nil)
        await repeatUntilShutdown(every: configuration.interval, logger: logger, failure: "pricing failed") {
            let result = try await pass()
            // Checks given up on are kept a while (`price_checks` counts them as unknown), then
            // forgotten: an hourly look is plenty.
            if lastPrune.withLock({ $0.map { ContinuousClock.now - $0 > .seconds(3600) } ?? true }) {
                lastPrune.withLock { $0 = .now }
                try await store.pruneGivenUp(olderThan: configuration.keepGivenUp)
            }
            return result.checked >= configuration.batch
        }
    }

    /// Takes the due checks and settles each: priced, rescheduled, or given up.
    @discardableResult
    public func pass(now: @Sendable () -> Date = Date.init) async throws -> PassResult {
        let checks = try await store.claimDue(limit: configuration.batch, lease: configuration.lease)
        guard !checks.isEmpty else { return PassResult() }
        var result = PassResult()
        result.checked = checks.count
        let lookups = try await plan(checks)
        let answers = await perform(lookups)
        result.requests = answers.reduce(0) { $0 + $1.requests }

        var published: [StatusUpdate.Resource: [PublishedPrice]] = [:]
        var failed: Set<Int64> = []
        for answer in answers {
            for price in answer.prices { published[answer.resource, default: []].append(price) }
            failed.formUnion(answer.failedChecks)
        }
        var priced: Set<String> = []
        for (resource, prices) in published {
            for start in stride(from: 0, to: prices.count, by: 1000) {
                priced.formUnion(
                    try await store.record(resource, Array(prices[start..<min(start + 1000, prices.count)])))
            }
        }
        let current = now()
        var later: [(id: Int64, at: Date)] = []
        var abandoned: [Int64] = []
        for check in checks where !priced.contains(check.sid) {
            if failed.contains(check.id) {
                later.append((check.id, current.addingTimeInterval(30)))
                result.errors += 1
                count(check.resource, "error")
            } else if let next = configuration.schedule.nextCheck(
                afterChecks: check.checks, finalAt: check.finalAt, now: current)
            {
                later.append((check.id, next))
                result.waiting += 1
                count(check.resource, "waiting")
            } else {
                abandoned.append(check.id)
            }
        }
        try await store.reschedule(later)
        result.unknown = try await store.giveUp(ids: abandoned)
        let given = Set(abandoned)
        for check in checks where given.contains(check.id) { count(check.resource, "unknown") }
        for check in checks where priced.contains(check.sid) { count(check.resource, "priced") }
        result.priced = priced.count
        if result.unknown > 0 {
            logger.notice(
                "Twilio published no price by the give-up age; marked unknown",
                metadata: ["count": "\(result.unknown)"])
        }
        logger.debug(
            "priced",
            metadata: [
                "checked": "\(result.checked)", "priced": "\(result.priced)", "waiting": "\(result.waiting)",
                "requests": "\(result.requests)",
            ])
        return result
    }

    private func count(_ resource: StatusUpdate.Resource, _ outcome: String) {
        Counter(label: MetricNames.priceChecks, dimensions: [("resource", resource.rawValue), ("outcome", outcome)])
            .increment()
    }

    // MARK: lookups

    /// One way of asking Twilio: a sender's day read by list pages, or one resource fetched.
    enum Lookup: Sendable {
        case listed(credentials: TwilioCredentials, from: String?, day: Date, checks: [PriceCheck])
        case single(credentials: TwilioCredentials, check: PriceCheck)
    }

    struct Answer: Sendable {
        var resource: StatusUpdate.Resource
        var prices: [PublishedPrice] = []
        var failedChecks: [Int64] = []
        var requests = 0
    }

    func plan(_ checks: [PriceCheck]) async throws -> [Lookup] {
        var lookups: [Lookup] = []
        for (name, ofAccount) in Dictionary(grouping: checks, by: \.accountName) {
            // A deleted account's checks went with it; a flagged one's wait for the lease.
            guard let account = try await accounts.lookup(name), account.record.flaggedAt == nil else { continue }
            let credentials = account.credentials
            var listable: [ListKey: [PriceCheck]] = [:]
            for check in ofAccount {
                if check.resource == .message, check.checks <= configuration.listAttempts {
                    listable[ListKey(from: check.from, day: Self.utcDay(check.createdAt)), default: []].append(check)
                } else {
                    lookups.append(.single(credentials: credentials, check: check))
                }
            }
            for (key, group) in listable {
                if group.count >= configuration.listThreshold {
                    lookups.append(.listed(credentials: credentials, from: key.from, day: key.day, checks: group))
                } else {
                    lookups += group.map { .single(credentials: credentials, check: $0) }
                }
            }
        }
        return lookups
    }

    struct ListKey: Hashable {
        var from: String?
        var day: Date
    }

    static func utcDay(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
    }

    /// Runs the lookups, at most `concurrency` at a time.
    func perform(_ lookups: [Lookup]) async -> [Answer] {
        await withTaskGroup(of: Answer.self) { group in
            var pending = lookups[...]
            var answers: [Answer] = []
            for _ in 0..<max(1, configuration.concurrency) {
                guard let lookup = pending.popFirst() else { break }
                group.addTask { await answer(lookup) }
            }
            for await answer in group {
                answers.append(answer)
                if let lookup = pending.popFirst() { group.addTask { await self.answer(lookup) } }
            }
            return answers
        }
    }

    func answer(_ lookup: Lookup) async -> Answer {
        switch lookup {
        case .single(let credentials, let check):
            var answer = Answer(resource: check.resource, requests: 1)
            do throws(TwilioClient.Failure) {
                let (price, unit) =
                    switch check.resource {
                    case .message:
                        try await client.fetchMessage(sid: check.sid, credentials: credentials).priceAndUnit
                    case .call: try await client.fetchCall(sid: check.sid, credentials: credentials).priceAndUnit
                    }
                if let published = PublishedPrice(sid: check.sid, price: price, unit: unit) {
                    answer.prices.append(published)
                }
            } catch .api(let error) where error.httpStatus == 404 {
                // Twilio no longer has it (deleted): no price will come; the schedule runs out.
            } catch {
                logger.debug("price fetch failed", metadata: ["sid": "\(check.sid)", "error": "\(error)"])
                answer.failedChecks.append(check.id)
            }
            return answer
        case .listed(let credentials, let from, let day, let checks):
            var answer = Answer(resource: .message)
            var wanted = Dictionary(checks.map { ($0.sid, $0) }, uniquingKeysWith: { first, _ in first })
            // Our row is written after Twilio's answer: its time is a little later than Twilio's.
            let oldest = (checks.map(\.createdAt).min() ?? day).addingTimeInterval(-300)
            var next: String?
            do throws(TwilioClient.Failure) {
                repeat {
                    let page = try await client.listMessagePage(
                        from: from, dateSent: day, pageSize: 1000, next: next, credentials: credentials)
                    answer.requests += 1
                    // Every price on the page is kept, not only the checks taken: the other
                    // checks of this sender's day are settled too (a row priced already, or
                    // never recorded here, is left alone by the store).
                    for message in page.messages {
                        wanted.removeValue(forKey: message.sid)
                        if let published = PublishedPrice(
                            sid: message.sid, price: message.price, unit: message.priceUnit)
                        {
                            answer.prices.append(published)
                        }
                    }
                    let pageOldest = page.messages.last?.dateCreated.flatMap(TwilioDate.parse)
                    if wanted.isEmpty || pageOldest.map({ $0 < oldest }) == true { break }
                    next = page.nextPageUri
                } while next != nil && answer.requests < configuration.maxPagesPerGroup
            } catch {
                logger.debug("price list failed", metadata: ["from": "\(from ?? "-")", "error": "\(error)"])
                answer.failedChecks = Array(wanted.values.map(\.id))
            }
            return answer
        }
    }
}

extension TwilioMessage {
    var priceAndUnit: (String?, String?) { (price, priceUnit) }
}

extension TwilioCall {
    var priceAndUnit: (String?, String?) { (price, priceUnit) }
}
