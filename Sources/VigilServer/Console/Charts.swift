import Foundation
import VigilCore
import VigilStore

/// The overview's charts, drawn by the server as inline SVG (no script, no library, nothing
/// fetched): verifications per day by outcome, and the median time from order to decision.
enum Charts {
    struct Day: Equatable {
        var label: String
        var approved = 0
        var declined = 0
        var expired = 0
        /// Cancelled, not required, and the rest.
        var other = 0
        /// Hours from order to decision, of the day's decided sessions.
        var hours: [Double] = []

        var total: Int { approved + declined + expired + other }
        var medianHours: Double? {
            guard !hours.isEmpty else { return nil }
            let sorted = hours.sorted()
            let mid = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
        }
    }

    /// The last `days` days (oldest first, today last) in `timeZone`, with each decided session
    /// counted on the day it was decided.
    static func days(_ sessions: [DecidedSession], days: Int, now: Date, timeZone: TimeZone) -> [Day] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let today = calendar.startOfDay(for: now)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = timeZone
        formatter.dateFormat = "d MMM"
        var out: [Day] = []
        var starts: [Date] = []
        for back in stride(from: days - 1, through: 0, by: -1) {
            guard let start = calendar.date(byAdding: .day, value: -back, to: today) else { continue }
            starts.append(start)
            out.append(Day(label: formatter.string(from: start)))
        }
        for session in sessions {
            let start = calendar.startOfDay(for: session.decidedAt)
            guard let index = starts.firstIndex(of: start) else { continue }
            switch session.state {
            case .approved: out[index].approved += 1
            case .declined: out[index].declined += 1
            case .expired: out[index].expired += 1
            default: out[index].other += 1
            }
            if session.state != .notRequired {
                out[index].hours.append(max(0, session.decidedAt.timeIntervalSince(session.createdAt)) / 3600)
            }
        }
        return out
    }

    static let width = 560.0, height = 180.0, left = 36.0, bottom = 22.0

    /// Stacked bars: approved, declined, expired, other.
    static func outcomes(_ days: [Day]) -> String {
        let peak = max(1, days.map(\.total).max() ?? 1)
        let scale = niceCeiling(Double(peak))
        var bars = ""
        let slot = (width - left) / Double(max(days.count, 1))
        for (i, day) in days.enumerated() {
            var y = height - bottom
            let x = left + Double(i) * slot + slot * 0.15
            for (count, kind) in [(day.approved, "approved"), (day.declined, "declined"), (day.expired, "expired"), (day.other, "other")]
                where count > 0 {
                let h = Double(count) / scale * (height - bottom - 8)
                y -= h
                bars += "<rect class=\"bar \(kind)\" x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(slot * 0.7))\" height=\"\(fmt(h))\">"
                    + "<title>\(HTML.escape(day.label)): \(count) \(kind)</title></rect>"
            }
        }
        return frame(title: "Verifications per day by outcome", scale: scale, unit: "", days: days, content: bars)
    }

    /// Bars of the median hours from order to decision per day.
    static func timeToDecision(_ days: [Day]) -> String {
        let peak = max(1, days.compactMap(\.medianHours).max() ?? 1)
        let scale = niceCeiling(peak)
        var bars = ""
        let slot = (width - left) / Double(max(days.count, 1))
        for (i, day) in days.enumerated() {
            guard let median = day.medianHours else { continue }
            let h = median / scale * (height - bottom - 8)
            let x = left + Double(i) * slot + slot * 0.15
            bars += "<rect class=\"bar latency\" x=\"\(fmt(x))\" y=\"\(fmt(height - bottom - h))\" width=\"\(fmt(slot * 0.7))\" "
                + "height=\"\(fmt(h))\"><title>\(HTML.escape(day.label)): median \(fmt(median)) h</title></rect>"
        }
        return frame(title: "Median hours from order to decision", scale: scale, unit: " h", days: days, content: bars)
    }

    private static func frame(title: String, scale: Double, unit: String, days: [Day], content: String) -> String {
        let slot = (width - left) / Double(max(days.count, 1))
        var labels = ""
        for (i, day) in days.enumerated() where i % 2 == (days.count - 1) % 2 {
            labels += "<text class=\"axis\" x=\"\(fmt(left + Double(i) * slot + slot / 2))\" y=\"\(fmt(height - 6))\" "
                + "text-anchor=\"middle\">\(HTML.escape(day.label))</text>"
        }
        let top = "<text class=\"axis\" x=\"\(fmt(left - 4))\" y=\"14\" text-anchor=\"end\">\(fmt(scale))\(unit)</text>"
            + "<text class=\"axis\" x=\"\(fmt(left - 4))\" y=\"\(fmt(height - bottom))\" text-anchor=\"end\">0</text>"
        let axis = "<line class=\"axis-line\" x1=\"\(fmt(left))\" y1=\"\(fmt(height - bottom))\" x2=\"\(fmt(width))\" y2=\"\(fmt(height - bottom))\"/>"
        return "<svg class=\"chart\" viewBox=\"0 0 \(fmt(width)) \(fmt(height))\" role=\"img\" aria-label=\"\(HTML.escape(title))\" "
            + "xmlns=\"http://www.w3.org/2000/svg\"><title>\(HTML.escape(title))</title>\(axis)\(top)\(content)\(labels)</svg>"
    }

    /// 1, 2, 5, 10, 20, 50 …: an axis maximum at or above `value`.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 1 else { return 1 }
        let power = pow(10, floor(log10(value)))
        for step in [1.0, 2, 5, 10] where step * power >= value { return step * power }
        return 10 * power
    }

    static func fmt(_ value: Double) -> String {
        let tenths = (value * 10).rounded() / 10
        return tenths == tenths.rounded() ? String(Int(tenths)) : String(format: "%.1f", tenths)
    }
}
