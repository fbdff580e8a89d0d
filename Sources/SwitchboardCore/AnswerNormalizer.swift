import Foundation

/// What the caller said or pressed for one question, as Twilio's `<Gather>` reports it.
public struct CallerInput: Sendable, Equatable, Codable {
    public var speech: String?
    public var digits: String?
    /// Speech recognition confidence, 0–1 (absent for keypad input).
    public var confidence: Double?

    public init(speech: String? = nil, digits: String? = nil, confidence: Double? = nil) {
        self.speech = speech
        self.digits = digits
        self.confidence = confidence
    }

    /// The raw answer: speech, else the digits pressed.
    public var text: String {
        if let speech, !speech.trimmingSpaces().isEmpty { return speech.trimmingSpaces() }
        return digits ?? ""
    }

    public var isSilent: Bool { text.isEmpty }
}

/// Turns what a caller said into the answer a question expects: numbers from digits or words
/// ("five years" → 5), yes/no from synonyms or keypad 1/2, a choice by keypad position or a close
/// match. `nil` means unclear.
public enum AnswerNormalizer {
    /// Below this speech confidence an answer counts as unclear (Twilio reports 0–1).
    public static let minimumConfidence = 0.3

    public static func normalize(_ input: CallerInput, for question: VoiceFlow.Question) -> String? {
        if let confidence = input.confidence, input.digits == nil, confidence < minimumConfidence { return nil }
        let text = input.text
        guard !text.isEmpty else { return nil }
        switch question.expectedAnswerType {
        case .text: return text
        case .number: return number(in: text).map(String.init)
        case .yesNo: return yesNo(text)
        case .multipleChoice: return choice(text, among: question.choices ?? [])
        }
    }

    // MARK: numbers

    static let units: [String: Int] = [
        "zero": 0, "none": 0, "no": 0, "one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5,
        "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
        "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
        "couple": 2, "few": 3,
    ]
    static let tens: [String: Int] = [
        "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    ]

    /// The first number in the text: digits ("10", "7.5" → 7), or words up to the hundreds
    /// ("twenty five", "a hundred and two"). "None" and "no" count as zero only when they are the
    /// whole answer ("none", "no experience"), since "no" also starts sentences.
    public static func number(in text: String) -> Int? {
        let words = tokens(text)
        for word in words {
            if let value = Int(word) { return value }
            if let value = Double(word), value.isFinite, abs(value) < 1e9 { return Int(value) }
        }
        var total: Int?
        var current = 0
        for (index, word) in words.enumerated() {
            if word == "and", total != nil { continue }
            if let value = tens[word] {
                current += value
                total = current
            } else if let value = units[word] {
                if ["a", "an", "no", "none"].contains(word) {
                    // Only a number when it stands for one: "a hundred", "none", "no experience".
                    let next = index + 1 < words.count ? words[index + 1] : nil
                    let standsAlone = words.count == 1 || (word == "no" && next == "experience")
                    guard next == "hundred" || (word != "a" && word != "an" && standsAlone) else {
                        if total != nil { break }
                        continue
                    }
                }
                current += value
                total = current
            } else if word == "hundred", total != nil || current > 0 {
                current = max(current, 1) * 100
                total = current
            } else if total != nil {
                break
            }
        }
        return total
    }

    // MARK: yes / no

    static let yesWords: Set<String> = [
        "yes", "yeah", "yep", "yup", "sure", "absolutely", "definitely", "certainly", "correct", "right", "ok", "okay",
        "affirmative", "of course", "i would", "i will", "i do", "please do", "1",
    ]
    static let noWords: Set<String> = [
        "no", "nope", "nah", "not really", "negative", "never", "no thanks", "no thank you", "i would not",
        "i wouldn't", "i don't", "i do not", "not at all", "2",
    ]

    /// "yes" or "no", from the whole answer or its opening words.
    public static func yesNo(_ text: String) -> String? {
        let words = tokens(text)
        guard !words.isEmpty else { return nil }
        for length in stride(from: min(4, words.count), through: 1, by: -1) {
            let phrase = words.prefix(length).joined(separator: " ")
            if noWords.contains(phrase) { return "no" }
            if yesWords.contains(phrase) { return "yes" }
        }
        return nil
    }

    // MARK: choices

    /// The choice named (by keypad position, by the choice's words appearing in the answer, or by a
    /// close spelling), as written in `choices`.
    public static func choice(_ text: String, among choices: [String]) -> String? {
        let answer = tokens(text)
        if answer.count == 1, let position = Int(answer[0]), choices.indices.contains(position - 1) {
            return choices[position - 1]
        }
        let joined = answer.joined(separator: " ")
        // Longest choice first, so "general inquiry" wins over a choice that is one of its words.
        for choice in choices.sorted(by: { $0.count > $1.count }) {
            let wanted = tokens(choice).joined(separator: " ")
            if !wanted.isEmpty && " \(joined) ".contains(" \(wanted) ") { return choice }
        }
        // Close spellings of any word of a choice ("billling", "technicle").
        var best: (choice: String, distance: Double)?
        for choice in choices {
            for wanted in tokens(choice) where wanted.count >= 4 {
                for word in answer where word.count >= 3 {
                    let distance = Double(editDistance(word, wanted)) / Double(max(word.count, wanted.count))
                    if distance <= 0.25 && distance < (best?.distance ?? 1) { best = (choice, distance) }
                }
            }
        }
        return best?.choice
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let left = Array(a)
        let right = Array(b)
        var previous = Array(0...right.count)
        for (i, l) in left.enumerated() {
            var current = [i + 1]
            for (j, r) in right.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (l == r ? 0 : 1)))
            }
            previous = current
        }
        return previous[right.count]
    }

    /// Lowercased words without punctuation ("Twenty-five years." → ["twenty", "five", "years"]).
    static func tokens(_ text: String) -> [String] {
        text.lowercased()
            .map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "'" ? $0 : " " }
            .split(separator: " ")
            .map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: ".'")) }
            .filter { !$0.isEmpty }
    }
}
