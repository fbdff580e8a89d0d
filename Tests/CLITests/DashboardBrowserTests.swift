import EmbeddedPostgres
import Foundation
import TestSupport
import Testing

/// The dashboard in a real browser: `Tests/Scripts/dashboard-screenshot.sh` runs the demo with
/// its dashboard, has headless Chromium (Debian's `chromium`) render the overview and a voice
/// session's transcript, checks what it rendered, and writes a screenshot.
@Suite struct DashboardBrowserTests {
    @Test func headlessChromiumRendersTheDashboardAndTakesAScreenshot() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
            .standardized
        let output = NSTemporaryDirectory() + "dashboard-\(UInt32.random(in: 0...UInt32.max)).png"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let script = try ChildProcess(
            root.path + "/Tests/Scripts/dashboard-screenshot.sh", [output],
            environment: ["SWITCHBOARD_BIN": try switchboardBinary()])
        #expect(await script.wait() == 0, "\(script.output)")
        let png = try Data(contentsOf: URL(fileURLWithPath: output))
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        #expect(png.count > 20_000, "a rendered page, not a blank one (\(png.count) bytes)")
    }
}
