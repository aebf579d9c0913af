//! Option numbers (RFC 7252 Section 5.4 and 12.2, and the registrations of later RFCs).

use core::fmt;

macro_rules! option_numbers {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        /// A CoAP option number, from the CoAP Option Numbers registry.
        ///
        /// Numbers without a name here are kept as [`OptionNumber::Unknown`]; their properties
        /// (critical, unsafe, no-cache-key) still follow from the number (RFC 7252 Section 5.4.6).
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum OptionNumber {
            $($(#[$doc])* $name,)*
            /// Any other option number.
            Unknown(u16),
        }

        impl OptionNumber {
            /// The option number for `value`; numbers with a name never map to `Unknown`.
            pub const fn new(value: u16) -> Self {
                match value {
                    $($value => Self::$name,)*
                    other => Self::Unknown(other),
                }
            }

            /// The number on the wire.
            pub const fn value(self) -> u16 {
                match self {
                    $(Self::$name => $value,)*
                    Self::Unknown(other) => other,
                }
            }
        }
    };
}

option_numbers! {
    /// If-Match, 1 (RFC 7252 Section 5.10.8.1).
    IfMatch = 1,
    /// Uri-Host, 3 (RFC 7252 Section 5.10.1).
    UriHost = 3,
    /// ETag, 4 (RFC 7252 Section 5.10.6).
    ETag = 4,
    /// If-None-Match, 5 (RFC 7252 Section 5.10.8.2).
    IfNoneMatch = 5,
    /// Observe, 6 (RFC 7641 Section 2).
    Observe = 6,
    /// Uri-Port, 7 (RFC 7252 Section 5.10.1).
    UriPort = 7,
    /// Location-Path, 8 (RFC 7252 Section 5.10.7).
    LocationPath = 8,
    /// OSCORE, 9 (RFC 8613 Section 2).
    Oscore = 9,
    /// Uri-Path, 11 (RFC 7252 Section 5.10.1).
    UriPath = 11,
    /// Content-Format, 12 (RFC 7252 Section 5.10.3).
    ContentFormat = 12,
    /// Max-Age, 14 (RFC 7252 Section 5.10.5).
    MaxAge = 14,
    /// Uri-Query, 15 (RFC 7252 Section 5.10.1).
    UriQuery = 15,
    /// Accept, 17 (RFC 7252 Section 5.10.4).
    Accept = 17,
    /// Location-Query, 20 (RFC 7252 Section 5.10.7).
    LocationQuery = 20,
    /// EDHOC, 21 (RFC 9668 Section 3.1): marks an EDHOC + OSCORE combined request.
    Edhoc = 21,
    /// Block2, 23 (RFC 7959 Section 2.1).
    Block2 = 23,
    /// Block1, 27 (RFC 7959 Section 2.1).
    Block1 = 27,
    /// Size2, 28 (RFC 7959 Section 4).
    Size2 = 28,
    /// Proxy-Uri, 35 (RFC 7252 Section 5.10.2).
    ProxyUri = 35,
    /// Proxy-Scheme, 39 (RFC 7252 Section 5.10.2).
    ProxyScheme = 39,
    /// Size1, 60 (RFC 7252 Section 5.10.9).
    Size1 = 60,
    /// Echo, 252 (RFC 9175 Section 2.2).
    Echo = 252,
    /// No-Response, 258 (RFC 7967 Section 2).
    NoResponse = 258,
    /// Request-Tag, 292 (RFC 9175 Section 3.2).
    RequestTag = 292,
}

impl OptionNumber {
    /// Whether the option is critical: an endpoint that does not understand it must reject the
    /// message (odd numbers, RFC 7252 Section 5.4.1).
    pub const fn is_critical(self) -> bool {
        self.value() & 0x01 != 0
    }

    /// Whether the option is elective (not critical).
    pub const fn is_elective(self) -> bool {
        !self.is_critical()
    }

    /// Whether the option is unsafe to forward by a proxy that does not understand it
    /// (RFC 7252 Section 5.4.2).
    pub const fn is_unsafe(self) -> bool {
        self.value() & 0x02 != 0
    }

    /// Whether the option is safe to forward and not part of the cache key (RFC 7252
    /// Section 5.4.6).
    pub const fn is_no_cache_key(self) -> bool {
        self.value() & 0x1e == 0x1c
    }
}

impl From<u16> for OptionNumber {
    fn from(value: u16) -> Self {
        Self::new(value)
    }
}

impl From<OptionNumber> for u16 {
    fn from(number: OptionNumber) -> Self {
        number.value()
    }
}

impl PartialOrd for OptionNumber {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OptionNumber {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.value().cmp(&other.value())
    }
}

impl fmt::Debug for OptionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::IfMatch => "If-Match",
            Self::UriHost => "Uri-Host",
            Self::ETag => "ETag",
            Self::IfNoneMatch => "If-None-Match",
            Self::Observe => "Observe",
            Self::UriPort => "Uri-Port",
            Self::LocationPath => "Location-Path",
            Self::Oscore => "OSCORE",
            Self::UriPath => "Uri-Path",
            Self::ContentFormat => "Content-Format",
            Self::MaxAge => "Max-Age",
            Self::UriQuery => "Uri-Query",
            Self::Accept => "Accept",
            Self::LocationQuery => "Location-Query",
            Self::Edhoc => "EDHOC",
            Self::Block2 => "Block2",
            Self::Block1 => "Block1",
            Self::Size2 => "Size2",
            Self::ProxyUri => "Proxy-Uri",
            Self::ProxyScheme => "Proxy-Scheme",
            Self::Size1 => "Size1",
            Self::Echo => "Echo",
            Self::NoResponse => "No-Response",
            Self::RequestTag => "Request-Tag",
            Self::Unknown(n) => return write!(f, "Option({n})"),
        };
        f.write_str(name)
    }
}

impl fmt::Display for OptionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_have_properties() {
        for n in 0..=1000u16 {
            assert_eq!(OptionNumber::new(n).value(), n);
        }
        assert_eq!(OptionNumber::new(21), OptionNumber::Edhoc);
        assert_eq!(OptionNumber::new(2), OptionNumber::Unknown(2));
        assert!(OptionNumber::UriHost.is_critical() && OptionNumber::UriHost.is_unsafe());
        assert!(OptionNumber::ETag.is_elective() && !OptionNumber::ETag.is_unsafe());
        assert!(OptionNumber::Size1.is_no_cache_key());
        assert!(OptionNumber::Size2.is_no_cache_key());
        assert!(!OptionNumber::UriPath.is_no_cache_key());
        assert!(OptionNumber::Oscore.is_critical() && !OptionNumber::Oscore.is_unsafe());
        assert!(OptionNumber::Edhoc.is_critical() && !OptionNumber::Edhoc.is_unsafe());
    }
}
