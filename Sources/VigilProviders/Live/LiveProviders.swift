import AsyncHTTPClient
import Foundation
import VigilCore

/// What the live providers need to know; the server builds it from its configuration, which has
/// already refused missing credentials.
public struct LiveProviderSettings: Sendable {
    public enum Gateway: Sendable {
        case stripe(apiKey: Secret)
        case authorizeNet(loginId: Secret, transactionKey: Secret)
    }

    public var veriffBaseURL: String
    public var veriffAPIKey: Secret
    /// Signs outgoing Veriff requests: the integration's shared secret key.
    public var veriffSigningSecret: Secret
    public var veriffCallbackURL: String?
    public var sendgridBaseURL: String
    public var sendgridAPIKey: Secret
    public var emailFrom: String
    public var emailTemplates: [EmailKind: String]
    public var paymentsBaseURL: String
    public var gateway: Gateway
    public var lightspeedBaseURL: String
    public var lightspeedCredentials: Secret
    public var lightspeedHoldStatus: String
    public var lightspeedReleaseStatus: String

    public init(veriffBaseURL: String, veriffAPIKey: Secret, veriffSigningSecret: Secret, veriffCallbackURL: String?,
                sendgridBaseURL: String, sendgridAPIKey: Secret, emailFrom: String, emailTemplates: [EmailKind: String],
                paymentsBaseURL: String, gateway: Gateway, lightspeedBaseURL: String, lightspeedCredentials: Secret,
                lightspeedHoldStatus: String, lightspeedReleaseStatus: String) {
        self.veriffBaseURL = veriffBaseURL
        self.veriffAPIKey = veriffAPIKey
        self.veriffSigningSecret = veriffSigningSecret
        self.veriffCallbackURL = veriffCallbackURL
        self.sendgridBaseURL = sendgridBaseURL
        self.sendgridAPIKey = sendgridAPIKey
        self.emailFrom = emailFrom
        self.emailTemplates = emailTemplates
        self.paymentsBaseURL = paymentsBaseURL
        self.gateway = gateway
        self.lightspeedBaseURL = lightspeedBaseURL
        self.lightspeedCredentials = lightspeedCredentials
        self.lightspeedHoldStatus = lightspeedHoldStatus
        self.lightspeedReleaseStatus = lightspeedReleaseStatus
    }
}

/// The four live providers over one shared HTTP client.
public enum LiveProviders {
    public static func make(_ settings: LiveProviderSettings, http: ProviderHTTPClient) -> Providers {
        let payments: any PaymentGateway
        switch settings.gateway {
        case .stripe(let key):
            payments = StripeGateway(http: http, baseURL: trimmed(settings.paymentsBaseURL), apiKey: key)
        case .authorizeNet(let login, let key):
            payments = AuthorizeNetGateway(http: http, baseURL: trimmed(settings.paymentsBaseURL),
                                           loginId: login, transactionKey: key)
        }
        return Providers(
            identity: VeriffClient(http: http, baseURL: trimmed(settings.veriffBaseURL),
                                   apiKey: settings.veriffAPIKey, sharedSecret: settings.veriffSigningSecret,
                                   callbackURL: settings.veriffCallbackURL),
            email: SendGridClient(http: http, baseURL: trimmed(settings.sendgridBaseURL),
                                  apiKey: settings.sendgridAPIKey, from: settings.emailFrom, templates: settings.emailTemplates),
            payments: payments,
            shop: LightspeedClient(http: http, baseURL: trimmed(settings.lightspeedBaseURL),
                                   credentials: settings.lightspeedCredentials, holdStatus: settings.lightspeedHoldStatus,
                                   releaseStatus: settings.lightspeedReleaseStatus),
            circuits: { now in http.openCircuits(now: now) })
    }

    static func trimmed(_ url: String) -> String {
        url.hasSuffix("/") ? String(url.dropLast()) : url
    }
}
