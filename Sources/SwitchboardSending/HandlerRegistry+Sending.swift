import SwitchboardStore
import SwitchboardWorker
import Twilio

extension HandlerRegistry {
    /// The handlers of a sending worker: `noop`, and `sms`, `whatsapp`, `voice` and `voice_agent`
    /// through `client`. The CLI's worker, the demo, `bench send` and the tests all build it here,
    /// so what they run cannot drift apart.
    public static func sending(
        client: TwilioClient, accounts: AccountStore, deliveries: DeliveryStore, horizon: Duration = .seconds(300),
        webhookBaseURL: String? = nil, carrierWindow: Duration = .seconds(60)
    ) -> HandlerRegistry {
        var handlers = HandlerRegistry.standard
        TwilioSender(
            client: client, accounts: accounts, deliveries: deliveries, horizon: horizon,
            webhookBaseURL: webhookBaseURL,
            carrierWindow: carrierWindow
        ).register(in: &handlers)
        return handlers
    }
}
