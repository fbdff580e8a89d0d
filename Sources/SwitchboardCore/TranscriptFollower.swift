/// Follows a live session's transcript from one reading of it to the next, for `sessions watch`
/// and the dashboard's live page: what was said since, and which line changed meanwhile (an
/// answer the caller interrupted is kept only as far as it was heard).
public struct TranscriptFollower: Sendable {
    public enum Change: Sendable, Equatable {
        /// A new line, the `index`th of the transcript.
        case said(index: Int, SessionState.SpokenLine)
        /// The `index`th line, already shown, now reads `line` (cut to what the caller heard), or
        /// was taken back (`line` nil: nothing of it was heard).
        case revised(index: Int, SessionState.SpokenLine?)
    }

    private var shown: [SessionState.SpokenLine] = []

    public init() {}

    /// The changes from what was shown to `lines`; `lines` is what is shown afterwards.
    public mutating func update(_ lines: [SessionState.SpokenLine]) -> [Change] {
        var changes: [Change] = []
        var new: [Int] = Array(lines.indices.dropFirst(shown.count))
        for index in shown.indices {
            guard index < lines.count else {
                changes.append(.revised(index: index, nil))
                continue
            }
            let (before, now) = (shown[index], lines[index])
            guard before != now else { continue }
            if before.speaker == now.speaker, before.text.hasPrefix(now.text) {
                // Cut to what the caller heard.
                changes.append(.revised(index: index, now))
            } else {
                // Taken back, and something else said in its place.
                changes.append(.revised(index: index, nil))
                new.append(index)
            }
        }
        for index in new.sorted() { changes.append(.said(index: index, lines[index])) }
        shown = lines
        return changes
    }
}
