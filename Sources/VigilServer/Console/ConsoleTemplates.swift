import Foundation
import Mustache

/// The console's and the customer page's templates, compiled into the binary
/// (`Package.swift`, `ConsoleResources`) and parsed once. Every template renders with
/// `ScalarHTMLContentType`: its pragma is put in front of each one here, so no template can
/// forget it.
struct ConsoleTemplates: Sendable {
    let library: MustacheLibrary

    /// The page templates by name; each is a page's body, put inside `layout`.
    static let sources: [String: [UInt8]] = [
        "layout": PackageResources.layout_mustache, "sign-in": PackageResources.sign_in_mustache,
        "overview": PackageResources.overview_mustache, "orders": PackageResources.orders_mustache,
        "order": PackageResources.order_mustache, "review": PackageResources.review_mustache,
        "tasks": PackageResources.tasks_mustache, "audit": PackageResources.audit_mustache,
        "customer": PackageResources.customer_mustache, "message": PackageResources.message_mustache,
    ]
    static let stylesheet = String(decoding: PackageResources.console_css, as: UTF8.self)
    static let script = String(decoding: PackageResources.console_js, as: UTF8.self)

    static let shared: ConsoleTemplates = {
        MustacheContentTypes.register(ScalarHTMLContentType(), named: ScalarHTMLContentType.name)
        var templates: [String: MustacheTemplate] = [:]
        for (name, bytes) in sources {
            let text = "{{% CONTENT_TYPE: \(ScalarHTMLContentType.name)}}" + String(decoding: bytes, as: UTF8.self)
            do {
                templates[name] = try MustacheTemplate(string: text)
            } catch {
                // The templates are part of the binary and parsed by a test; this cannot pass CI.
                templates[name] = try? MustacheTemplate(string: "template \(name) does not parse: \(error)")
            }
        }
        return ConsoleTemplates(library: MustacheLibrary(templates: templates))
    }()

    /// A page: `template` rendered with `view`, inside the layout.
    func page(_ template: String, _ view: Any, layout: LayoutView) -> String {
        var layout = layout
        layout.body = library.render(view, withTemplate: template) ?? ""
        return library.render(layout, withTemplate: "layout") ?? ""
    }
}

/// What the layout shows around every page. (Templates see stored properties only.)
struct LayoutView {
    struct Nav { var href: String; var label: String; var current: Bool }
    var title: String
    /// The signed-in user, for the navigation and the sign-out form; nil on public pages.
    var user: String?
    var role: String?
    var csrf: String?
    var nav: [Nav]
    /// A one-line message after an action (`flash`) or an error.
    var flash: String?
    var error: String?
    /// Rendered already (escaped by its own template): put in as is.
    var body = ""
    var refreshSeconds: Int?

    init(title: String, user: String? = nil, role: String? = nil, csrf: String? = nil, section: String = "",
         flash: String? = nil, error: String? = nil, refreshSeconds: Int? = nil) {
        self.title = title
        self.user = user
        self.role = role
        self.csrf = csrf
        self.flash = flash
        self.error = error
        self.refreshSeconds = refreshSeconds
        nav = user == nil ? [] : [("overview", "/console", "Overview"), ("orders", "/console/orders", "Orders"),
                                  ("review", "/console/review", "Review"), ("tasks", "/console/tasks", "Tasks"),
                                  ("audit", "/console/audit", "Audit")].map { Nav(href: $0.1, label: $0.2, current: $0.0 == section) }
    }
}
