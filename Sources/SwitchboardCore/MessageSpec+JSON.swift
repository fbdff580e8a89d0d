extension MessageSpec {
    /// The spec as JSON, field for field what its `Encodable` conformance writes (fields that are
    /// nil are left out), built by hand: a campaign import writes one per recipient, and
    /// `JSONEncoder` was a quarter of the import's CPU (its generic, boxed encoding per field).
    /// A test decodes this and compares it with the encoder's output for every field.
    public var jsonText: String {
        var out = "{"
        var first = true
        func key(_ name: String) {
            if !first { out += "," }
            first = false
            out += "\"" + name + "\":"
        }
        func string(_ name: String, _ value: String?) {
            guard let value else { return }
            key(name)
            out += JSONValue.quote(value)
        }
        func integer(_ name: String, _ value: Int64?) {
            guard let value else { return }
            key(name)
            out += String(value)
        }
        string("account", account)
        string("body", body)
        integer("campaignId", campaignId)
        string("channel", channel.rawValue)
        string("contentSid", contentSid)
        string("contentVariables", contentVariables)
        string("encoding", encoding.rawValue)
        string("from", from)
        key("mediaUrls")
        out += "[" + mediaUrls.map(JSONValue.quote).joined(separator: ",") + "]"
        string("messagingServiceSid", messagingServiceSid)
        string("pool", pool)
        integer("segments", Int64(segments))
        string("sendWindow", sendWindow)
        key("smartEncoding")
        out += smartEncoding ? "true" : "false"
        string("statusCallback", statusCallback)
        string("timezone", timezone)
        string("to", to)
        integer("validityPeriod", validityPeriod.map(Int64.init))
        return out + "}"
    }
}
