/// Settings of the Twilio simulator.
public struct SimulatorConfiguration: Sendable {
    /// Address and port to listen on (port 0: any free port).
    public var host: String = "127.0.0.1"
    public var port: Int = 0

    public init() {}
}
