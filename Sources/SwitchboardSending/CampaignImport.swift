import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import Synchronization

/// Imports a campaign's recipients from CSV, streaming: rows are read, validated and rendered a
/// chunk at a time and copied into Postgres, so a million rows never sit in memory at once.
///
/// The header names the columns; `phone` (or `to`) is the recipient, every column is a template
/// variable. A row with a bad number or a missing variable is reported with its line number and
/// skipped; duplicates and opted-out recipients are counted.
public struct CampaignImport: Sendable {
    public struct Report: Sendable {
        public var rows = 0
        public var counts = CampaignImportCounts()
        /// The first invalid rows, as "line N: field: problem".
        public var invalid: [String] = []
        public var invalidCount = 0
    }

    public let campaigns: CampaignStore
    public static let chunkRows = 1000
    public static let reportedInvalidRows = 50

    public init(campaigns: CampaignStore) {
        self.campaigns = campaigns
    }

    public func run(
        path: String, campaign: CampaignRecord, progress: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws -> Report {
        guard let file = fopen(path, "r") else {
            throw InputError(field: "file", problem: "cannot open \(path)")
        }
        defer { fclose(file) }
        let reader = LineReader(file: file)
        var records = CSVRecordReader()
        var header: CSVRecordReader.Item?
        while header == nil, let text = reader.next() { header = records.add(text).first }
        if header == nil { header = records.finish().first }
        let columns: [String]
        switch header {
        case .record(let fields, _): columns = fields
        case .invalid(let line, let error): throw InputError(field: "file", problem: "line \(line): \(error)")
        case nil: throw InputError(field: "file", problem: "\(path) is empty")
        }
        guard let phoneColumn = columns.firstIndex(of: "phone") ?? columns.firstIndex(of: "to") else {
            throw InputError(
                field: "file", problem: "the header has no 'phone' (or 'to') column: \(columns.joined(separator: ","))")
        }
        // The template is read and its templates parsed once; each row only renders.
        var template = try campaign.template.decode([String: JSONValue].self)
        template["to"] = .string("{{phone}}")
        let prepared = try SendJobs.decode(MessageRequest.self, JSONValue.object(template).jsonText).prepared(
            channel: campaign.channel)
        let state = ImportState()
        let links = try await TrackedLinks.prepare(for: campaign, template: template, pool: campaigns.pool)
        let afterHeader = records
        let counts = try await campaigns.importRecipients(campaignID: campaign.id, accountID: campaign.accountID) {
            importBase in
            CampaignRows(
                reader: reader, records: afterHeader, columns: columns, phoneColumn: phoneColumn, message: prepared,
                campaign: campaign, state: state, progress: progress, links: links, importBase: importBase)
        }
        var report = state.report
        report.counts = counts
        return report
    }
}

/// Invalid rows and the row count, shared with the chunk producer.
final class ImportState: Sendable {
    private let storage = Mutex(CampaignImport.Report())
    var report: CampaignImport.Report { storage.withLock { $0 } }

    func rows(_ count: Int) { storage.withLock { $0.rows += count } }

    func invalid(line: Int, _ error: InputError) {
        storage.withLock { report in
            report.invalidCount += 1
            if report.invalid.count < CampaignImport.reportedInvalidRows {
                report.invalid.append("line \(line): \(error)")
            }
        }
    }
}

/// The COPY rows (`line \t recipient \t payload`) of an import, a chunk at a time.
struct CampaignRows: AsyncSequence {
    typealias Element = [UInt8]
    let reader: LineReader
    /// The reader's state after the header.
    let records: CSVRecordReader
    let columns: [String]
    let phoneColumn: Int
    let message: PreparedMessage
    let campaign: CampaignRecord
    let state: ImportState
    let progress: @Sendable (Int) -> Void
    /// The campaign's tracked links, when its template has any.
    let links: TrackedLinks?
    /// Each recipient's `seq` is this plus its line.
    let importBase: Int64

    func makeAsyncIterator() -> Iterator { Iterator(rows: self) }

    struct Iterator: AsyncIteratorProtocol {
        let rows: CampaignRows
        var records: CSVRecordReader
        var finished = false

        init(rows: CampaignRows) {
            self.rows = rows
            records = rows.records
        }

        mutating func next() async throws -> [UInt8]? {
            var items: [CSVRecordReader.Item] = []
            while items.count < CampaignImport.chunkRows, !finished {
                if let text = rows.reader.next() {
                    items += records.add(text)
                } else {
                    items += records.finish()
                    finished = true
                }
            }
            if items.isEmpty { return nil }
            // Rendering is most of an import's work: the chunk's rows are rendered on every core
            // at once, in slices put back in file order.
            let slices = CampaignRows.slices(items.count, parts: ProcessInfo.processInfo.activeProcessorCount)
            let rendered = await withTaskGroup(of: (Int, RenderedSlice).self) { group in
                for (index, range) in slices.enumerated() {
                    group.addTask { [rows, items] in (index, rows.render(items[range])) }
                }
                var parts = [RenderedSlice?](repeating: nil, count: slices.count)
                for await (index, part) in group { parts[index] = part }
                return parts.compactMap { $0 }
            }
            var chunk: [UInt8] = []
            for part in rendered {
                chunk += part.copyRows
                for (line, error) in part.invalid { rows.state.invalid(line: line, error) }
            }
            rows.state.rows(items.count)
            rows.progress(rows.state.report.rows)
            return chunk
        }
    }

    /// What a slice of a chunk became: COPY rows, and the rows refused with their reasons.
    struct RenderedSlice: Sendable {
        var copyRows: [UInt8] = []
        var invalid: [(line: Int, error: InputError)] = []
    }

    /// `count` items cut into at most `parts` contiguous ranges of about equal size.
    static func slices(_ count: Int, parts: Int) -> [Range<Int>] {
        let parts = Swift.max(1, Swift.min(parts, count))
        let size = (count + parts - 1) / parts
        return stride(from: 0, to: count, by: size).map { $0..<Swift.min($0 + size, count) }
    }

    func render(_ items: ArraySlice<CSVRecordReader.Item>) -> RenderedSlice {
        var slice = RenderedSlice()
        for item in items {
            switch item {
            case .record(let fields, let line):
                do {
                    let (recipient, payload) = try render(fields, line: line)
                    slice.copyRows.append(contentsOf: "\(line)\t\(recipient)\t".utf8)
                    JobStore.appendField(payload, to: &slice.copyRows)
                    slice.copyRows.append(10)
                } catch let error as InputError {
                    slice.invalid.append((line, error))
                } catch {
                    slice.invalid.append((line, InputError(field: "row", problem: "\(error)")))
                }
            case .invalid(let line, let error):
                slice.invalid.append((line, error))
            }
        }
        return slice
    }

    func render(_ fields: [String], line: Int) throws -> (String, String) {
        guard fields.count == columns.count else {
            throw InputError(field: "row", problem: "has \(fields.count) fields; the header has \(columns.count)")
        }
        if let column = fields.firstIndex(where: { $0.unicodeScalars.contains("\0") }) {
            throw InputError(field: columns[column], problem: "contains a NUL byte")
        }
        var variables: [String: JSONValue] = [:]
        for (name, value) in zip(columns, fields) { variables[name] = .string(value) }
        let phone = try PhoneNumber.normalise(fields[phoneColumn], field: columns[phoneColumn])
        variables["phone"] = .string(phone.e164)
        if let links { variables[Template.linksVariable] = links.shortLinks(recipient: importBase + Int64(line)) }
        var spec = try SendJobs.withQuietHours(try message.resolve(variables: variables, recipient: phone))
        spec.campaignId = campaign.id
        return (spec.to, spec.jsonText)
    }
}

/// A campaign's tracked links during an import: the link rows for the template's URLs (made
/// before the first row renders), the key, and the base URL the short links point to.
struct TrackedLinks: Sendable {
    let base: String
    let ids: [String: Int64]
    let key: LinkKey

    /// Nil when the template has no `{{link …}}`; refused when it has and the campaign has no
    /// link base URL.
    static func prepare(for campaign: CampaignRecord, template: [String: JSONValue], pool: PostgresPool) async throws
        -> TrackedLinks?
    {
        var bodies: [String] = []
        switch template["body"] {
        case .string(let body)?: bodies = [body]
        case .object(let localized)?:
            bodies = localized.values.compactMap { if case .string(let text) = $0 { text } else { nil } }
        default: break
        }
        var urls: [String] = []
        for body in bodies {
            for url in try Template(body, field: "body").linkURLs() where !urls.contains(url) { urls.append(url) }
        }
        guard !urls.isEmpty else { return nil }
        guard let base = campaign.linkBaseURL else {
            throw InputError(
                field: "link_base_url",
                problem:
                    "the template has tracked links but the campaign no link base URL (campaign create --link-base-url)"
            )
        }
        let store = LinkStore(pool: pool)
        return TrackedLinks(
            base: base, ids: try await store.ensureLinks(campaignID: campaign.id, urls: urls),
            key: try await store.key())
    }

    /// The recipient's short link for each URL.
    func shortLinks(recipient: Int64) -> JSONValue {
        .object(
            ids.mapValues { id in
                .string("\(base)/l/\(TrackedLink.code(.init(linkID: id, recipient: recipient), key: key))")
            })
    }
}

/// Reads a file line by line with `getline` (no whole-file buffer).
final class LineReader: @unchecked Sendable {
    // One reader per import, used by one task at a time (the COPY producer).
    let file: UnsafeMutablePointer<FILE>
    init(file: UnsafeMutablePointer<FILE>) { self.file = file }

    func next() -> String? {
        var buffer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(buffer) }
        let length = getline(&buffer, &capacity, file)
        guard length >= 0, let buffer else { return nil }
        // With its line ending (CSVRecordReader drops LF and CRLF); decoded by length, so a NUL
        // byte does not cut the line short.
        return String(decoding: UnsafeRawBufferPointer(start: buffer, count: length), as: UTF8.self)
    }
}
