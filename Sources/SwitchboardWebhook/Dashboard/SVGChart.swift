import Foundation
import SwitchboardCore

/// Small server-rendered line charts: inline SVG, no script, readable in any browser.
enum SVGChart {
    struct Series {
        var name: String
        var color: String
        /// Values per minute; minutes without a value count as 0.
        var values: [Date: Double]
    }

    /// One line per series over `minutes` (oldest first), with the maximum on the y axis and the
    /// time range on the x axis.
    static func lines(_ series: [Series], minutes: [Date], unit: String, width: Int = 640, height: Int = 160) -> String
    {
        let left = 44.0
        let bottom = 18.0
        let plotWidth = Double(width) - left - 8
        let plotHeight = Double(height) - bottom - 8
        let maximum = max(1, series.flatMap { $0.values.values }.max() ?? 1)
        func x(_ index: Int) -> Double { left + plotWidth * Double(index) / Double(max(1, minutes.count - 1)) }
        func y(_ value: Double) -> Double { 8 + plotHeight * (1 - value / maximum) }
        var svg =
            "<svg class=\"chart\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(HTML.escape(unit))\">"
        svg += "<line x1=\"\(left)\" y1=\"\(y(0))\" x2=\"\(left + plotWidth)\" y2=\"\(y(0))\" class=\"axis\"/>"
        svg += "<line x1=\"\(left)\" y1=\"8\" x2=\"\(left + plotWidth)\" y2=\"8\" class=\"grid\"/>"
        svg += "<text x=\"\(left - 4)\" y=\"14\" class=\"label\" text-anchor=\"end\">\(format(maximum))</text>"
        svg += "<text x=\"\(left - 4)\" y=\"\(y(0))\" class=\"label\" text-anchor=\"end\">0</text>"
        if let first = minutes.first, let last = minutes.last {
            svg += "<text x=\"\(left)\" y=\"\(height - 4)\" class=\"label\">\(clock(first))</text>"
            svg +=
                "<text x=\"\(left + plotWidth)\" y=\"\(height - 4)\" class=\"label\" text-anchor=\"end\">\(clock(last))</text>"
        }
        for line in series {
            let points = minutes.enumerated().map { index, minute in
                String(format: "%.1f,%.1f", x(index), y(line.values[minute] ?? 0))
            }
            svg +=
                "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>"
        }
        svg += "</svg>"
        let legend = series.map {
            "<span class=\"key\"><i style=\"background:\($0.color)\"></i>\(HTML.escape($0.name))</span>"
        }.joined()
        return svg + "<div class=\"legend\">\(legend) <span class=\"unit\">\(HTML.escape(unit))</span></div>"
    }

    /// The minutes from `hours` ago to now, on minute boundaries.
    static func minutes(hours: Int, now: Date = Date()) -> [Date] {
        let end = (now.timeIntervalSince1970 / 60).rounded(.down) * 60
        return stride(from: end - Double(hours * 3600), through: end, by: 60).map { Date(timeIntervalSince1970: $0) }
    }

    static func format(_ value: Double) -> String {
        value >= 1000 ? String(format: "%.1fk", value / 1000) : String(format: "%g", value.rounded())
    }

    static func clock(_ date: Date) -> String {
        var seconds = Int(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%02d:%02d UTC", Int(parts.tm_hour), Int(parts.tm_min))
    }
}

enum HTML {
    /// The same five escapes as XML (TwiML): safe in HTML text and attribute values.
    static func escape(_ text: String) -> String { TwiML.escape(text) }
}
