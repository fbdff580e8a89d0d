/// The outcome of one statement: rows copied out of libpq (so it is `Sendable` and outlives the
/// connection) plus the affected-row count.
public struct PostgresRows: Sendable, Sequence {
    public let columns: [String]
    let values: [[String?]]
    /// Rows affected by INSERT/UPDATE/DELETE/COPY (or returned by SELECT).
    public let affectedRows: Int

    init(columns: [String], values: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
    }

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    public var first: PostgresRow? { values.isEmpty ? nil : self[0] }

    public subscript(index: Int) -> PostgresRow {
        PostgresRow(columns: columns, values: values[index])
    }

    public func makeIterator() -> some IteratorProtocol<PostgresRow> {
        values.lazy.map { PostgresRow(columns: columns, values: $0) }.makeIterator()
    }
}

/// One row. Columns are read by position or name and decoded into a requested type.
public struct PostgresRow: Sendable {
    public let columns: [String]
    let values: [String?]

    /// The raw text of a column, `nil` for NULL.
    public func text(_ column: Int) -> String? { values[column] }

    public func decode<T: PostgresDecodable>(_ type: T.Type, at column: Int) throws -> T {
        guard column < values.count else {
            throw PostgresError(.decoding, message: "row has \(values.count) columns; asked for column \(column)")
        }
        guard let text = values[column] else {
            throw PostgresError(.decoding, message: "column '\(columns[column])' is NULL; decode it as \(T.self)?")
        }
        do {
            return try T(postgresText: text)
        } catch var error as PostgresError {
            error.message = "column '\(columns[column])': " + error.message
            throw error
        }
    }

    public func decode<T: PostgresDecodable>(_ type: T?.Type, at column: Int) throws -> T? {
        guard column < values.count else {
            throw PostgresError(.decoding, message: "row has \(values.count) columns; asked for column \(column)")
        }
        guard values[column] != nil else { return nil }
        return try decode(T.self, at: column)
    }

    public func decode<T: PostgresDecodable>(_ type: T.Type, _ name: String) throws -> T {
        try decode(type, at: try index(of: name))
    }

    public func decode<T: PostgresDecodable>(_ type: T?.Type, _ name: String) throws -> T? {
        try decode(type, at: try index(of: name))
    }

    private func index(of name: String) throws -> Int {
        guard let index = columns.firstIndex(of: name) else {
            throw PostgresError(
                .decoding, message: "no column named '\(name)' in result (\(columns.joined(separator: ", ")))")
        }
        return index
    }
}
