import SwitchboardStore
import Testing

/// A price from Twilio's answer is checked before it goes into a batch statement: one bad value
/// must not fail the batch.
@Suite struct PublishedPriceTests {
    @Test func decimalsAndCurrenciesAreKept() {
        #expect(PublishedPrice(sid: "SM1", price: "-0.00790", unit: "USD")?.price == "-0.00790")
        #expect(PublishedPrice(sid: "SM1", price: "0", unit: "eur")?.unit == "EUR")
        #expect(PublishedPrice(sid: "SM1", price: "+1.5", unit: "GBP") != nil)
    }

    @Test(arguments: [
        (String?.none, String?.some("USD")), ("", "USD"), ("-", "USD"), ("1.", "USD"), (".5", "USD"),
        ("1e3", "USD"), ("NaN", "USD"), ("0.1; DROP TABLE", "USD"), ("-0.0079", nil), ("-0.0079", "US"),
        ("-0.0079", "U$D"), (String(repeating: "9", count: 40), "USD"),
    ])
    func anythingElseIsRefused(price: String?, unit: String?) {
        #expect(PublishedPrice(sid: "SM1", price: price, unit: unit) == nil)
    }
}
