import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// A parsed TwiML document: the verbs under `<Response>`, in order.
struct TwiMLElement: Sendable, Equatable {
    var name: String
    var attributes: [String: String]
    var text: String
    var children: [TwiMLElement]

    /// Parses a TwiML document; returns nil when it is not well-formed XML with a `<Response>` root
    /// (Twilio: error 12100).
    static func parse(_ xml: String) -> TwiMLElement? {
        let builder = TreeBuilder()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.delegate = builder
        guard parser.parse(), let root = builder.root, root.name == "Response" else { return nil }
        return root
    }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [TwiMLElement] = []
        var root: TwiMLElement?

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            stack.append(TwiMLElement(name: elementName, attributes: attributes, text: "", children: []))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(
            _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?
        ) {
            guard var element = stack.popLast() else { return }
            element.text = element.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if stack.isEmpty {
                root = element
            } else {
                stack[stack.count - 1].children.append(element)
            }
        }
    }
}
