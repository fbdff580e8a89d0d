import Foundation

/// A scripted voice interview in the format users write (the "JSON questions agent"): questions in
/// order, each with an expected answer type and optional conditional actions. Parsed from JSON and
/// validated as a whole, so a broken flow is refused at enqueue with the question and field named,
/// never discovered in the middle of a call.
public struct VoiceFlow: Sendable, Equatable, Codable {
    public var questions: [Question]

    public enum AnswerType: String, Sendable, Codable, CaseIterable {
        case text
        case number
        case yesNo = "yes_no"
        case multipleChoice = "multiple_choice"
    }

    public struct Question: Sendable, Equatable, Codable {
        public var id: String
        public var question: String
        public var expectedAnswerType: AnswerType
        public var choices: [String]?
        /// Re-prompts after an unclear or silent answer before giving up on the question.
        public var maxRetries: Int
        /// Seconds of silence before the answer counts as silent.
        public var timeout: Int
        public var conditionalActions: [ConditionalAction]
    }

    public struct ConditionalAction: Sendable, Equatable, Codable {
        public var condition: Condition
        public var action: Action
        public var nextQuestionId: String?
        public var customMessage: String?
    }

    public struct Condition: Sendable, Equatable, Codable {
        public var field: String
        public var `operator`: Operator
        public var value: String
    }

    public enum Operator: String, Sendable, Codable, CaseIterable {
        case equals
        case contains
        case notEquals = "not_equals"
        case anyOther = "any_other"
    }

    public enum Action: String, Sendable, Codable, CaseIterable {
        case continueFlow = "continue_flow"
        case endCall = "end_call"
    }

    public static let defaultMaxRetries = 2
    public static let defaultTimeout = 5

    public func index(of id: String) -> Int? { questions.firstIndex { $0.id == id } }
}

extension VoiceFlow {
    /// Parses and validates a flow: a JSON array of questions, or an object with `questions`.
    /// Errors name the question and the field (`questions[1] "experience".conditionalActions[0].nextQuestionId`).
    public init(json: JSONValue, field: String = "questions") throws {
        let items: [JSONValue]
        switch json {
        case .array(let array): items = array
        case .object(let object):
            guard case .array(let array)? = object["questions"] else {
                throw InputError(field: field, problem: "must be an array of questions")
            }
            items = array
        default: throw InputError(field: field, problem: "must be an array of questions")
        }
        guard !items.isEmpty else { throw InputError(field: field, problem: "must have at least one question") }
        var questions: [Question] = []
        var seen: Set<String> = []
        for (index, item) in items.enumerated() {
            let question = try Self.parseQuestion(item, path: "\(field)[\(index)]")
            guard seen.insert(question.id).inserted else {
                throw InputError(
                    field: "\(field)[\(index)].id", problem: "'\(question.id)' is used by an earlier question")
            }
            questions.append(question)
        }
        self.questions = questions
        try validateReferences(field: field)
    }

    private func validateReferences(field: String) throws {
        let ids = Set(questions.map(\.id))
        for (index, question) in questions.enumerated() {
            for (actionIndex, action) in question.conditionalActions.enumerated() {
                let path = "\(field)[\(index)] '\(question.id)'.conditionalActions[\(actionIndex)]"
                guard ids.contains(action.condition.field) else {
                    throw InputError(
                        field: "\(path).condition.field",
                        problem:
                            "'\(action.condition.field)' is not a question id (fields name the question whose answer is tested)"
                    )
                }
                if action.action == .continueFlow {
                    guard let next = action.nextQuestionId else {
                        throw InputError(field: "\(path).nextQuestionId", problem: "is required with continue_flow")
                    }
                    guard ids.contains(next) else {
                        throw InputError(field: "\(path).nextQuestionId", problem: "'\(next)' is not a question id")
                    }
                }
            }
        }
    }

    static func parseQuestion(_ value: JSONValue, path: String) throws -> Question {
        guard case .object(let object) = value else {
            throw InputError(field: path, problem: "must be an object with id, question and expectedAnswerType")
        }
        let id = try requiredString(object["id"], field: "\(path).id")
        guard id.range(of: "^[A-Za-z_][A-Za-z0-9_.-]{0,63}$", options: .regularExpression) != nil else {
            throw InputError(
                field: "\(path).id", problem: "'\(id)' must be a name (letters, digits, _ . -; up to 64 characters)")
        }
        let named = "\(path) '\(id)'"
        let text = try requiredString(object["question"], field: "\(named).question")
        let typeName = try requiredString(object["expectedAnswerType"], field: "\(named).expectedAnswerType")
        guard let type = AnswerType(rawValue: typeName) else {
            throw InputError(
                field: "\(named).expectedAnswerType",
                problem: "'\(typeName)' is not one of \(AnswerType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var choices: [String]?
        if let raw = object["choices"], raw != .null {
            guard case .array(let array) = raw else {
                throw InputError(field: "\(named).choices", problem: "must be an array of strings")
            }
            choices = try array.enumerated().map { try requiredString($1, field: "\(named).choices[\($0)]") }
        }
        if type == .multipleChoice && (choices ?? []).count < 2 {
            throw InputError(field: "\(named).choices", problem: "multiple_choice needs at least two choices")
        }
        let maxRetries = try optionalInt(
            object["maxRetries"], field: "\(named).maxRetries", range: 0...10, default: VoiceFlow.defaultMaxRetries)
        let timeout = try optionalInt(
            object["timeout"], field: "\(named).timeout", range: 1...60, default: VoiceFlow.defaultTimeout)
        var actions: [ConditionalAction] = []
        if let raw = object["conditionalActions"], raw != .null {
            guard case .array(let array) = raw else {
                throw InputError(field: "\(named).conditionalActions", problem: "must be an array")
            }
            for (index, item) in array.enumerated() {
                actions.append(try parseAction(item, path: "\(named).conditionalActions[\(index)]"))
            }
        }
        return Question(
            id: id, question: text, expectedAnswerType: type, choices: choices, maxRetries: maxRetries,
            timeout: timeout, conditionalActions: actions)
    }

    static func parseAction(_ value: JSONValue, path: String) throws -> ConditionalAction {
        guard case .object(let object) = value, case .object(let condition)? = object["condition"] else {
            throw InputError(field: "\(path).condition", problem: "must be an object with field, operator and value")
        }
        let field = try requiredString(condition["field"], field: "\(path).condition.field")
        let operatorName = try requiredString(condition["operator"], field: "\(path).condition.operator")
        guard let op = Operator(rawValue: operatorName) else {
            throw InputError(
                field: "\(path).condition.operator",
                problem: "'\(operatorName)' is not one of \(Operator.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        // Values are text; a number is accepted as its text ("numbers should be strings").
        let conditionValue: String
        switch condition["value"] {
        case .string(let text)?: conditionValue = text
        case .int(let number)?: conditionValue = String(number)
        case .double(let number)?: conditionValue = JSONValue.double(number).description
        case nil, .null?:
            guard op == .anyOther else {
                throw InputError(field: "\(path).condition.value", problem: "is required with \(op.rawValue)")
            }
            conditionValue = ""
        default: throw InputError(field: "\(path).condition.value", problem: "must be a string")
        }
        let actionName = try requiredString(object["action"], field: "\(path).action")
        guard let action = Action(rawValue: actionName) else {
            throw InputError(
                field: "\(path).action",
                problem: "'\(actionName)' is not one of \(Action.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return ConditionalAction(
            condition: Condition(field: field, operator: op, value: conditionValue), action: action,
            nextQuestionId: object["nextQuestionId"]?.stringValue, customMessage: object["customMessage"]?.stringValue)
    }

    static func requiredString(_ value: JSONValue?, field: String) throws -> String {
        guard case .string(let text)? = value else { throw InputError(field: field, problem: "is required (a string)") }
        guard !text.trimmingSpaces().isEmpty else { throw InputError(field: field, problem: "must not be empty") }
        return text
    }

    static func optionalInt(_ value: JSONValue?, field: String, range: ClosedRange<Int>, default fallback: Int) throws
        -> Int
    {
        switch value {
        case nil, .null?: return fallback
        case .int(let number)? where range.contains(Int(number)): return Int(number)
        default:
            throw InputError(
                field: field, problem: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
    }
}
