//! Method and response codes (RFC 7252 Section 3 and 12.1; FETCH from RFC 8132).

use core::fmt;

/// A CoAP code: a 3-bit class and a 5-bit detail, written `c.dd` (RFC 7252 Section 3).
///
/// Class 0 holds the Empty message (0.00) and the request methods, classes 2, 4 and 5 the
/// responses (success, client error, server error). Every byte value is a code; the named
/// constants cover the registry entries Ferrule uses (RFC 7252 Section 12.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(u8);

impl Code {
    /// 0.00 Empty message.
    pub const EMPTY: Self = Self::new(0, 0);
    /// 0.01 GET.
    pub const GET: Self = Self::new(0, 1);
    /// 0.02 POST.
    pub const POST: Self = Self::new(0, 2);
    /// 0.03 PUT.
    pub const PUT: Self = Self::new(0, 3);
    /// 0.04 DELETE.
    pub const DELETE: Self = Self::new(0, 4);
    /// 0.05 FETCH (RFC 8132).
    pub const FETCH: Self = Self::new(0, 5);
    /// 0.06 PATCH (RFC 8132).
    pub const PATCH: Self = Self::new(0, 6);
    /// 0.07 iPATCH (RFC 8132).
    pub const IPATCH: Self = Self::new(0, 7);
    /// 2.01 Created.
    pub const CREATED: Self = Self::new(2, 1);
    /// 2.02 Deleted.
    pub const DELETED: Self = Self::new(2, 2);
    /// 2.03 Valid.
    pub const VALID: Self = Self::new(2, 3);
    /// 2.04 Changed.
    pub const CHANGED: Self = Self::new(2, 4);
    /// 2.05 Content.
    pub const CONTENT: Self = Self::new(2, 5);
    /// 2.31 Continue (RFC 7959).
    pub const CONTINUE: Self = Self::new(2, 31);
    /// 4.00 Bad Request.
    pub const BAD_REQUEST: Self = Self::new(4, 0);
    /// 4.01 Unauthorized.
    pub const UNAUTHORIZED: Self = Self::new(4, 1);
    /// 4.02 Bad Option.
    pub const BAD_OPTION: Self = Self::new(4, 2);
    /// 4.03 Forbidden.
    pub const FORBIDDEN: Self = Self::new(4, 3);
    /// 4.04 Not Found.
    pub const NOT_FOUND: Self = Self::new(4, 4);
    /// 4.05 Method Not Allowed.
    pub const METHOD_NOT_ALLOWED: Self = Self::new(4, 5);
    /// 4.06 Not Acceptable.
    pub const NOT_ACCEPTABLE: Self = Self::new(4, 6);
    /// 4.08 Request Entity Incomplete (RFC 7959).
    pub const REQUEST_ENTITY_INCOMPLETE: Self = Self::new(4, 8);
    /// 4.12 Precondition Failed.
    pub const PRECONDITION_FAILED: Self = Self::new(4, 12);
    /// 4.13 Request Entity Too Large.
    pub const REQUEST_ENTITY_TOO_LARGE: Self = Self::new(4, 13);
    /// 4.15 Unsupported Content-Format.
    pub const UNSUPPORTED_CONTENT_FORMAT: Self = Self::new(4, 15);
    /// 5.00 Internal Server Error.
    pub const INTERNAL_SERVER_ERROR: Self = Self::new(5, 0);
    /// 5.01 Not Implemented.
    pub const NOT_IMPLEMENTED: Self = Self::new(5, 1);
    /// 5.02 Bad Gateway.
    pub const BAD_GATEWAY: Self = Self::new(5, 2);
    /// 5.03 Service Unavailable.
    pub const SERVICE_UNAVAILABLE: Self = Self::new(5, 3);
    /// 5.04 Gateway Timeout.
    pub const GATEWAY_TIMEOUT: Self = Self::new(5, 4);
    /// 5.05 Proxying Not Supported.
    pub const PROXYING_NOT_SUPPORTED: Self = Self::new(5, 5);

    /// The code `class.detail`; `class` is truncated to 3 bits and `detail` to 5.
    pub const fn new(class: u8, detail: u8) -> Self {
        Self(((class & 0x07) << 5) | (detail & 0x1f))
    }

    /// The code as the byte on the wire.
    pub const fn from_byte(byte: u8) -> Self {
        Self(byte)
    }

    /// The byte on the wire.
    pub const fn to_byte(self) -> u8 {
        self.0
    }

    /// The class (0 to 7).
    pub const fn class(self) -> u8 {
        self.0 >> 5
    }

    /// The detail (0 to 31).
    pub const fn detail(self) -> u8 {
        self.0 & 0x1f
    }

    /// Whether this is 0.00, the code of an Empty message.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether this is a request method (class 0, detail 1-31).
    pub const fn is_request(self) -> bool {
        self.class() == 0 && self.detail() != 0
    }

    /// Whether this is a response code (class 2, 4 or 5).
    pub const fn is_response(self) -> bool {
        matches!(self.class(), 2 | 4 | 5)
    }

    /// Whether this is a success response (class 2).
    pub const fn is_success(self) -> bool {
        self.class() == 2
    }

    /// Whether this is an error response (class 4 or 5).
    pub const fn is_error(self) -> bool {
        matches!(self.class(), 4 | 5)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.class(), self.detail())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({self})")
    }
}

impl From<u8> for Code {
    fn from(byte: u8) -> Self {
        Self(byte)
    }
}

impl From<Code> for u8 {
    fn from(code: Code) -> Self {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_and_detail() {
        assert_eq!(Code::CONTENT.to_byte(), 0x45);
        assert_eq!(Code::CHANGED.to_byte(), 0x44);
        assert_eq!(Code::UNAUTHORIZED.to_byte(), 0x81);
        assert_eq!(Code::BAD_OPTION.class(), 4);
        assert_eq!(Code::BAD_OPTION.detail(), 2);
        assert!(Code::FETCH.is_request());
        assert!(!Code::EMPTY.is_request());
        assert!(Code::INTERNAL_SERVER_ERROR.is_error());
        assert!(!Code::new(1, 0).is_response());
    }
}
