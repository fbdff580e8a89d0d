import SwitchboardCore
import Testing

@Suite struct TemplateTests {
    let customer: [String: JSONValue] = [
        "customerName": .string("Ana"), "orderNumber": .int(1042), "trackingUrl": .string("https://t.example/1042"),
        "order": .object(["total": .double(19.5), "items": .int(3)]), "rawPhone": .string("(555) 123-4567"),
        "empty": .string(""), "vip": .bool(true),
    ]

    @Test func substitutesVariablesAndPaths() throws {
        let template = try Template(
            "Hi {{customerName}}! Order #{{ orderNumber }} ({{order.items}} items, ${{order.total}}): {{trackingUrl}}")
        #expect(try template.render(customer) == "Hi Ana! Order #1042 (3 items, $19.5): https://t.example/1042")
        #expect(template.variables == ["customerName", "orderNumber", "order.items", "order.total", "trackingUrl"])
    }

    @Test func conditionals() throws {
        let template = try Template(
            "{{#if trackingNumber}}Track: {{trackingNumber}}{{else}}No tracking yet{{/if}}.{{#unless vip}} Join VIP!{{/unless}}{{#if empty}}x{{/if}}"
        )
        #expect(try template.render(customer) == "No tracking yet.")
        var shipped = customer
        shipped["trackingNumber"] = .string("1Z999")
        shipped["vip"] = .bool(false)
        #expect(try template.render(shipped) == "Track: 1Z999. Join VIP!")
    }

    /// Issue 11 §2: 5,000 nested blocks crashed every worker that claimed the job (stack overflow).
    @Test func deepNestingIsRefusedNamingTheField() throws {
        let hostile = String(repeating: "{{#if a}}", count: 5000) + "x" + String(repeating: "{{/if}}", count: 5000)
        #expect {
            _ = try Template(hostile, field: "body")
        } throws: { error in
            let input = error as? InputError
            return input?.field == "body" && input?.problem.contains("nested more than 32 deep") == true
        }
        let deepest = String(repeating: "{{#if a}}", count: 32) + "x" + String(repeating: "{{/if}}", count: 32)
        #expect(try Template(deepest).render(["a": .bool(true)]) == "x")
    }

    @Test func nestedBlocks() throws {
        let template = try Template("{{#if vip}}{{#if order}}VIP order {{orderNumber}}{{/if}}{{else}}regular{{/if}}")
        #expect(try template.render(customer) == "VIP order 1042")
    }

    @Test func helpersInBothSyntaxes() throws {
        #expect(try Template("{{formatPhoneNumber rawPhone}}").render(customer) == "+15551234567")
        #expect(try Template("{{formatPhoneNumber(rawPhone)}}").render(customer) == "+15551234567")
        #expect(try Template("{{upper customerName}} {{lower 'HeLLo'}}").render(customer) == "ANA hello")
        #expect(try Template("Hi {{default nickname \"friend\"}}").render(customer) == "Hi friend")
        #expect(try Template("Hi {{default(customerName, 'friend')}}").render(customer) == "Hi Ana")
    }

    @Test func strictAboutMissingVariables() throws {
        let error = #expect(throws: InputError.self) {
            try Template("Hi {{name}}", field: "body").render(customer, field: "body")
        }
        #expect(error?.description == "body: variable 'name' is missing")
        let nested = #expect(throws: InputError.self) { try Template("{{order.shipping.city}}").render(customer) }
        #expect(nested?.problem == "variable 'order.shipping.city' is missing")
        let helper = #expect(throws: InputError.self) {
            try Template("{{formatPhoneNumber customerName}}").render(customer, field: "to")
        }
        #expect(helper?.field == "to")
    }

    @Test(arguments: [
        ("Hi {{name", "'{{' is never closed with '}}' at line 1, column 4"),
        ("{{#if x}}open", "'{{#if}}' is never closed with '{{/if}}'"),
        ("{{/if}}", "does not close an open block"),
        ("{{#if x}}a{{/unless}}", "does not close an open block"),
        ("{{else}}", "'{{else}}' outside"),
        ("{{#each items}}{{/each}}", "unknown block"),
        ("{{#if}}x{{/if}}", "needs a condition"),
        ("{{}}", "empty"),
        ("{{shout name}}", "unknown helper 'shout'"),
        ("{{bad name!}}", "unknown helper 'bad'"),
        ("{{na!me}}", "is not a variable name"),
        ("line one\n{{upper 'x}}", "unterminated string in '{{upper 'x}}' at line 2, column 1"),
    ])
    func syntaxErrorsSayWhere(source: String, message: String) {
        let error = #expect(throws: InputError.self) { try Template(source, field: "body") }
        #expect(error?.field == "body")
        #expect(error?.problem.contains(message) == true, "\(error?.problem ?? "no error")")
    }

    @Test func localizedTextFallsBack() throws {
        let text = LocalizedText(["en": "Hello", "es": "Hola", "pt-BR": "Olá"])
        #expect(try text.text(for: "es-MX", field: "body") == "Hola")
        #expect(try text.text(for: "pt-BR", field: "body") == "Olá")
        #expect(try text.text(for: "fr", field: "body") == "Hello")
        #expect(try text.text(for: nil, field: "body") == "Hello")
        let error = #expect(throws: InputError.self) {
            try LocalizedText(["es": "Hola"]).text(for: "fr", field: "body")
        }
        #expect(error?.problem.contains("have: es") == true)
    }
}

@Suite struct TwilioErrorClassificationTests {
    @Test(arguments: [
        (20429, TwilioErrorAction.retry), (20500, .retry), (20503, .retry), (30001, .retry), (30022, .retry),
        (63018, .retry),
        (21211, .fail), (21212, .fail), (21408, .fail), (21606, .fail), (21612, .fail), (21614, .fail),
        (30004, .fail), (30005, .fail), (30006, .fail), (30007, .fail), (63016, .fail),
        (21610, .suppress), (20003, .flagAccount),
    ])
    func codes(code: Int, action: TwilioErrorAction) {
        #expect(TwilioErrorClassification.action(forCode: code) == action)
    }

    @Test func httpStatusesWithoutKnownCodes() {
        #expect(TwilioErrorClassification.action(forHTTPStatus: 503, code: nil) == .retry)
        #expect(TwilioErrorClassification.action(forHTTPStatus: 429, code: nil) == .retry)
        #expect(TwilioErrorClassification.action(forHTTPStatus: 401, code: nil) == .flagAccount)
        #expect(TwilioErrorClassification.action(forHTTPStatus: 400, code: 99999) == .fail)
        #expect(TwilioErrorClassification.action(forHTTPStatus: 500, code: 21211) == .fail)
    }
}

/// `{{link "…"}}`: its URLs found before import, every URL wrapped by `--shorten-urls`, and
/// refused outside a campaign.
@Suite struct TemplateLinkTests {
    @Test func linkURLsAreFoundOnceInOrder() throws {
        let template = try Template(
            #"Sale {{link "https://a.example/x?y=1"}} {{#if vip}}{{link "https://b.example"}}{{/if}} {{link "https://a.example/x?y=1"}}"#
        )
        #expect(try template.linkURLs() == ["https://a.example/x?y=1", "https://b.example"])
    }

    @Test(arguments: [
        #"{{link url}}"#, #"{{link "ftp://x.example"}}"#, #"{{link "https://a.example" "x"}}"#,
        #"{{link "not a url"}}"#,
    ])
    func badLinksAreRefusedNamingTheField(source: String) throws {
        #expect(throws: InputError.self) { try Template(source).linkURLs(field: "body") }
        do {
            _ = try Template(source).linkURLs(field: "body")
        } catch {
            #expect(error.field == "body" && error.description.contains("link"), "\(error)")
        }
    }

    @Test func theImportsShortLinksAreRendered() throws {
        let template = try Template(#"Go {{link "https://a.example/sale"}} now"#)
        let rendered = try template.render([
            Template.linksVariable: .object(["https://a.example/sale": .string("https://sb.example/l/1234")])
        ])
        #expect(rendered == "Go https://sb.example/l/1234 now")
        #expect(throws: InputError.self) { try template.render([:]) }
    }

    @Test func shorteningWrapsEveryURLOutsideTags() {
        #expect(
            Template.shorteningURLs(in: "See https://a.example/x?y=1. Or (http://b.example/p), {{name}}!")
                == #"See {{link "https://a.example/x?y=1"}}. Or ({{link "http://b.example/p"}}), {{name}}!"#)
        #expect(
            Template.shorteningURLs(in: #"Keep {{link "https://a.example"}} and {{default url "https://c.example"}}"#)
                == #"Keep {{link "https://a.example"}} and {{default url "https://c.example"}}"#)
        #expect(Template.shorteningURLs(in: "no links here, http: alone") == "no links here, http: alone")
    }
}
