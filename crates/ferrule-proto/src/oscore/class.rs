//! Which CoAP options OSCORE encrypts (RFC 8613 Section 4.1, Figure 5).

use crate::coap::OptionNumber;

/// How OSCORE treats an option (RFC 8613 Section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionClass {
    /// Class E: encrypted and integrity-protected, carried as an Inner option only.
    Encrypted,
    /// Class U: unprotected, carried as an Outer option only (proxies need it).
    Unprotected,
    /// Both an Inner and an Outer option, with the same value (Observe, RFC 8613
    /// Section 4.1.3.5); the Inner one wins on verification.
    Both,
}

/// The class of an option (RFC 8613 Section 4.1, Figure 5, and the registrations of later
/// RFCs).
///
/// - Outer only: Uri-Host, Uri-Port, Proxy-Scheme, Proxy-Uri (4.1.3.3; a Proxy-Uri is only
///   accepted for protection without path or query, see
///   [`super::SecurityContext::protect_request`]), the OSCORE option itself (class U with
///   special processing), and EDHOC (RFC 9668 Section 3.1).
/// - Both: Observe.
/// - Inner: everything else, including Max-Age, Block1/Block2/Size1/Size2 (no outer block-wise
///   transfer here), Echo and Request-Tag (RFC 9175), No-Response, and every unknown option
///   (RFC 8613 Section 4.1: unknown options are class E).
pub const fn option_class(number: OptionNumber) -> OptionClass {
    match number {
        OptionNumber::UriHost
        | OptionNumber::UriPort
        | OptionNumber::ProxyScheme
        | OptionNumber::ProxyUri
        | OptionNumber::Oscore
        | OptionNumber::Edhoc => OptionClass::Unprotected,
        OptionNumber::Observe => OptionClass::Both,
        _ => OptionClass::Encrypted,
    }
}

impl OptionClass {
    /// Whether the option goes into the plaintext.
    pub const fn is_inner(self) -> bool {
        matches!(self, Self::Encrypted | Self::Both)
    }

    /// Whether the option stays in the outer message.
    pub const fn is_outer(self) -> bool {
        matches!(self, Self::Unprotected | Self::Both)
    }
}
