import Foundation

/// The three example interviews of the workflow description (support triage, job screening,
/// satisfaction survey), as the JSON a `voice_agent` job carries in `questions`. The demo runs the
/// survey; the tests run all three; docs/VOICE_AGENTS.md shows them with their paths.
public enum ExampleFlows {
    public static let triage = """
        [{"id": "issue_type", "question": "What type of issue are you experiencing today? You can say billing, technical, or general inquiry.",
          "expectedAnswerType": "multiple_choice", "choices": ["billing", "technical", "general inquiry"],
          "conditionalActions": [
            {"condition": {"field": "issue_type", "operator": "contains", "value": "billing"}, "action": "continue_flow", "nextQuestionId": "billing_details"},
            {"condition": {"field": "issue_type", "operator": "contains", "value": "technical"}, "action": "continue_flow", "nextQuestionId": "technical_details"}]},
         {"id": "billing_details", "question": "Please describe your billing concern in detail.", "expectedAnswerType": "text"},
         {"id": "technical_details", "question": "What technical problem are you experiencing?", "expectedAnswerType": "text"}]
        """
    public static let screening = """
        [{"id": "name", "question": "Please state your full name.", "expectedAnswerType": "text"},
         {"id": "experience", "question": "How many years of relevant experience do you have?", "expectedAnswerType": "number",
          "conditionalActions": [
            {"condition": {"field": "experience", "operator": "contains", "value": "senior"}, "action": "continue_flow", "nextQuestionId": "leadership_experience"},
            {"condition": {"field": "experience", "operator": "equals", "value": "none"}, "action": "end_call",
             "customMessage": "Thank you for your interest. We'll review entry-level positions and contact you soon."}]},
         {"id": "leadership_experience", "question": "Tell me about your leadership experience.", "expectedAnswerType": "text"},
         {"id": "availability", "question": "When would you be available to start?", "expectedAnswerType": "text"}]
        """
    public static let survey = """
        [{"id": "satisfaction_rating", "question": "On a scale of 1 to 10, how would you rate your recent experience with our service?",
          "expectedAnswerType": "number",
          "conditionalActions": [
            {"condition": {"field": "satisfaction_rating", "operator": "contains", "value": "9"}, "action": "continue_flow", "nextQuestionId": "testimonial_request"},
            {"condition": {"field": "satisfaction_rating", "operator": "contains", "value": "1,2,3,4,5"}, "action": "continue_flow", "nextQuestionId": "improvement_feedback"}]},
         {"id": "testimonial_request", "question": "Would you be willing to provide a testimonial about your experience?", "expectedAnswerType": "yes_no"},
         {"id": "improvement_feedback", "question": "What could we have done better to improve your experience?", "expectedAnswerType": "text"}]
        """

    public static func flow(_ json: String) throws -> VoiceFlow {
        try VoiceFlow(json: try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))
    }
}
