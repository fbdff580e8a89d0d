/// The worker's scheduling decisions, without I/O or a clock of its own: how much to claim and
/// from which queue, when to wake, when the shutdown grace period ends. The `Worker` reports
/// what happened (`claimed`, `finished`, `woke`, `shutdownRequested`…) and asks `next(now:)`
/// what to do; its tests drive the machine with made-up instants (postgres-nio's pool state
/// machine is the model).
///
/// A claim round starts when there may be work: at start, on a notification, when a job ends,
/// every poll interval, and when a job this worker rescheduled becomes due. A round claims from
/// the first queue until a batch comes back short (that queue is drained for now), then from the
/// next. While jobs run, a claim waits for a quarter of a batch of free capacity, so a busy
/// worker does not spend a query per finished job; an idle one claims for any capacity.
///
/// Up to `claimsInFlight` claims run at once, each for its share of the capacity (and at least
/// half a batch), once a full answer showed there is a backlog: while the database works on one,
/// the worker starts the jobs another returned (with one claim at a time, a worker of short jobs
/// leaves the database idle between its claims). An idle worker's poll is one claim.
struct WorkerScheduler<Instant: InstantProtocol> where Instant.Duration == Duration {
    struct Settings {
        var queues: [String]
        var concurrency: Int
        var batchSize: Int
        var pollInterval: Duration
        var shutdownGracePeriod: Duration
        /// Finished attempts waiting to be written beyond which nothing more is claimed (River's
        /// `maxBacklog`): a database that accepts claims but not finishes must not pile up work.
        var maxBacklog: Int
        /// Claims at once while there is a backlog (see `claimSize`).
        var claimsInFlight: Int = 1
    }

    enum Action: Equatable {
        /// Claim up to `limit` jobs from `queue`, then report `claimed` or `claimFailed`; the
        /// worker's loop goes on meanwhile (another claim may follow while this one is out).
        case claim(queue: String, limit: Int)
        /// Nothing to do until `until` (`nil`: until an event) or an event, whichever is first.
        case wait(until: Instant?)
        /// The grace period is over: cancel the running jobs (they go back to the queue).
        case interruptRunning
        /// Nothing runs and nothing will be claimed: the worker is done.
        case stop
    }

    private enum Phase: Equatable {
        case working
        case draining(deadline: Instant)
        /// Running jobs are to be cancelled (`interruptPending`) or were; waiting for them to end.
        case interrupted(interruptPending: Bool)
        case stopped
    }

    let settings: Settings
    private(set) var running = 0
    private var phase = Phase.working
    /// The queue a claim round tries next; `nil` between rounds.
    private var roundQueue: Int? = 0
    private(set) var claimsInFlight = 0
    /// The capacity the claims in flight asked for: reserved until they answer.
    private var capacityInFlight = 0
    /// A round was asked for while claims were in flight: that many answers may have missed the
    /// new work, so they must not end the round.
    private var answersBeforeTheAsk = 0
    /// The last answer was a full batch: there is a backlog, so claims may overlap.
    private var backlogSeen = false
    private var nextPoll: Instant
    /// When jobs this worker rescheduled become due, sorted (several hundred snoozed jobs each
    /// need their own wake-up, not just the earliest).
    private(set) var dueTimes: [Instant] = []
    /// Due times this close to one already noted share its wake-up.
    static var dueTimeMerge: Duration { .milliseconds(10) }

    init(settings: Settings, now: Instant) {
        self.settings = settings
        nextPoll = now.advanced(by: settings.pollInterval)
    }

    /// The smallest free capacity worth a claim while jobs run.
    var claimThreshold: Int { max(1, min(settings.batchSize, settings.concurrency) / 4) }

    // MARK: events

    /// A claim of `limit` jobs from `queue` answered with `count` jobs, reported before they start.
    mutating func claimed(_ count: Int, limit: Int, queue: String) {
        answered(limit: limit)
        running += count
        backlogSeen = count == limit
        if answersBeforeTheAsk > 0 {
            answersBeforeTheAsk -= 1
            startRound()
        } else if count < limit, let index = settings.queues.firstIndex(of: queue), let round = roundQueue,
            round <= index
        {
            // A short batch means this queue is drained for now: the round moves on.
            roundQueue = index + 1
        }
        // Jobs that arrive after the running ones were interrupted are interrupted too.
        if case .interrupted = phase, count > 0 { phase = .interrupted(interruptPending: true) }
    }

    /// A claim of `limit` jobs failed: the next try is at the next poll.
    mutating func claimFailed(limit: Int) {
        answered(limit: limit)
        roundQueue = nil
        backlogSeen = false
    }

    private mutating func answered(limit: Int) {
        assert(claimsInFlight > 0, "a claim answered that was not asked")
        claimsInFlight = max(0, claimsInFlight - 1)
        capacityInFlight = max(0, capacityInFlight - limit)
        answersBeforeTheAsk = min(answersBeforeTheAsk, claimsInFlight + 1)
    }

    /// A job ended (a retry's due time is reported by `rescheduled` once its finish is written).
    /// Returns whether `next` now has something for the worker's loop to do (a claim, the
    /// end of a shutdown): a busy worker's loop is woken once per claim, not once per job.
    @discardableResult
    mutating func finished() -> Bool {
        assert(running > 0, "a job ended that was not reported claimed")
        running = max(0, running - 1)
        startRound()
        switch phase {
        case .working: return claimsInFlight < claimsAllowed && freeCapacity >= claimMinimum
        case .draining, .interrupted: return nothingOut
        case .stopped: return true
        }
    }

    /// No job runs and no claim is out: a shutdown can end.
    private var nothingOut: Bool { running == 0 && claimsInFlight == 0 }

    /// The most one claim asks for: its share of the capacity, but never less than a claim beside
    /// it would need (a share too small for another claim to follow would only make claims smaller).
    private var claimSize: Int {
        let share = (settings.concurrency + settings.claimsInFlight - 1) / settings.claimsInFlight
        return min(settings.batchSize, max(share, claimThreshold, settings.batchSize / 2))
    }

    private var claimsAllowed: Int { backlogSeen ? settings.claimsInFlight : 1 }

    /// Capacity neither running nor asked for by a claim in flight.
    private var freeCapacity: Int { settings.concurrency - running - capacityInFlight }

    /// The free capacity a claim needs: any while nothing runs, a quarter batch otherwise.
    /// A claim beside another one in flight asks for at least half a batch: the database spends
    /// more per job on small claims than the overlap gains (measured: claims of 25 beside each
    /// other at concurrency 50 cost it a third more CPU per job than one claim at a time).
    private var claimMinimum: Int {
        if claimsInFlight > 0 { return max(claimThreshold, settings.batchSize / 2) }
        return running + capacityInFlight > 0 ? claimThreshold : 1
    }

    /// A job this worker rescheduled (its finish is written) becomes due at `dueAt`.
    mutating func rescheduled(dueAt: Instant) { noteDue(dueAt) }

    /// There may be new work (a notification, rescued jobs, a wake-up request).
    mutating func woke() { startRound() }

    /// Graceful shutdown: stop claiming; running jobs have the grace period from `now`.
    mutating func shutdownRequested(now: Instant) {
        guard phase == .working else { return }
        phase = .draining(deadline: now.advanced(by: settings.shutdownGracePeriod))
    }

    /// The worker's task was cancelled: running jobs are interrupted at once.
    mutating func cancelled() {
        switch phase {
        case .working, .draining: phase = .interrupted(interruptPending: true)
        case .interrupted, .stopped: break
        }
    }

    // MARK: decision

    /// What to do now. `backlog`: finished attempts not yet written.
    mutating func next(now: Instant, backlog: Int = 0) -> Action {
        switch phase {
        case .stopped:
            return .stop
        case .interrupted(let interruptPending):
            if nothingOut {
                phase = .stopped
                return .stop
            }
            if interruptPending {
                phase = .interrupted(interruptPending: false)
                return .interruptRunning
            }
            return .wait(until: nil)
        case .draining(let deadline):
            if nothingOut {
                phase = .stopped
                return .stop
            }
            if now >= deadline {
                phase = .interrupted(interruptPending: false)
                return .interruptRunning
            }
            return .wait(until: deadline)
        case .working:
            break
        }
        // Each answer rings the loop.
        if claimsInFlight >= claimsAllowed { return .wait(until: nil) }
        if now >= nextPoll {
            nextPoll = now.advanced(by: settings.pollInterval)
            startRound()
        }
        let passed = dueTimes.prefix { $0 <= now }.count
        if passed > 0 {
            dueTimes.removeFirst(passed)
            startRound()
        }
        if let queue = roundQueue, backlog < settings.maxBacklog {
            if queue < settings.queues.count, freeCapacity >= claimMinimum {
                let limit = min(freeCapacity, claimSize)
                claimsInFlight += 1
                capacityInFlight += limit
                return .claim(queue: settings.queues[queue], limit: limit)
            }
            // Every queue came back short, or there is too little capacity: the next event or
            // timer starts a new round (a full answer of a claim in flight continues this one).
            if claimsInFlight == 0 { roundQueue = nil }
        }
        // With too large a backlog the round stays open: the completer rings when it has written.
        return .wait(until: dueTimes.first.map { min($0, nextPoll) } ?? nextPoll)
    }

    private mutating func startRound() {
        guard phase == .working else { return }
        answersBeforeTheAsk = claimsInFlight
        roundQueue = 0
    }

    private mutating func noteDue(_ instant: Instant) {
        var low = 0
        var high = dueTimes.count
        while low < high {
            let middle = (low + high) / 2
            if dueTimes[middle] < instant { low = middle + 1 } else { high = middle }
        }
        for index in [low - 1, low] where dueTimes.indices.contains(index) {
            let (earlier, later) = dueTimes[index] < instant ? (dueTimes[index], instant) : (instant, dueTimes[index])
            if earlier.duration(to: later) < Self.dueTimeMerge { return }
        }
        dueTimes.insert(instant, at: low)
    }
}
