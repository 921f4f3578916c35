import Foundation
import Mustache

/// HTML text escaping over Unicode scalars. Escaping by `Character` is not enough: a quote followed
/// by a combining mark (`"` U+0301) is one Character that equals no quote, so a Character-level
/// escaper lets it through and the attribute it sits in ends early.
enum HTML {
    static func escape(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        out.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&#39;".unicodeScalars)
            case "`": out.append(contentsOf: "&#96;".unicodeScalars)
            case "=": out.append(contentsOf: "&#61;".unicodeScalars)
            default:
                // Control characters other than tab and newline have no business in a page.
                if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" || (0x7F...0x9F).contains(scalar.value) {
                    out.append("\u{FFFD}")
                } else {
                    out.append(scalar)
                }
            }
        }
        return String(out)
    }

    /// A path segment or query value percent-encoded, for `href`s built from ids.
    static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    private static let unreserved = CharacterSet(charactersIn:
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}

/// The content type every console template renders with (set by `ConsoleTemplates`).
struct ScalarHTMLContentType: MustacheContentType {
    static let name = "VIGIL_HTML"
    func escapeText(_ text: String) -> String { HTML.escape(text) }
}
