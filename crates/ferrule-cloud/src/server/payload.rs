//! Telemetry payloads as JSON, by CoAP Content-Format (RFC 7252 Section 12.3): CBOR (60) is
//! decoded and converted, JSON (50) is embedded, text (0) becomes a string, and anything else
//! (or no Content-Format) is carried as base64.
//!
//! A payload that does not match its declared format (bad CBOR, bad JSON, text that is not
//! UTF-8, trailing bytes) is refused, so what reaches the sink is always an exact reading of
//! what the device sent.

use core::fmt;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

/// Content-Format `text/plain; charset=utf-8`.
pub const CONTENT_FORMAT_TEXT: u16 = 0;
/// Content-Format `application/json`.
pub const CONTENT_FORMAT_JSON: u16 = 50;
/// Content-Format `application/cbor`.
pub const CONTENT_FORMAT_CBOR: u16 = 60;

/// A payload that does not match its Content-Format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Content-Format 60, but not exactly one well-formed CBOR item.
    Cbor(String),
    /// Content-Format 50, but not valid JSON.
    Json(String),
    /// Content-Format 0, but not UTF-8.
    Text,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cbor(e) => write!(f, "payload declared CBOR is not one CBOR item: {e}"),
            Self::Json(e) => write!(f, "payload declared JSON is not valid JSON: {e}"),
            Self::Text => f.write_str("payload declared text is not UTF-8"),
        }
    }
}

impl core::error::Error for PayloadError {}

/// The JSON form of a payload with the given Content-Format.
///
/// # Errors
/// [`PayloadError`] if the payload does not match its Content-Format.
pub fn payload_to_json(content_format: Option<u16>, payload: &[u8]) -> Result<Value, PayloadError> {
    match content_format {
        Some(CONTENT_FORMAT_CBOR) => {
            let mut rest = payload;
            let item: ciborium::Value = ciborium::de::from_reader(&mut rest)
                .map_err(|e| PayloadError::Cbor(e.to_string()))?;
            if !rest.is_empty() {
                return Err(PayloadError::Cbor(format!(
                    "{} bytes after the first item",
                    rest.len()
                )));
            }
            Ok(cbor_to_json(item))
        }
        Some(CONTENT_FORMAT_JSON) => {
            serde_json::from_slice(payload).map_err(|e| PayloadError::Json(e.to_string()))
        }
        Some(CONTENT_FORMAT_TEXT) => core::str::from_utf8(payload)
            .map(|s| Value::String(s.to_owned()))
            .map_err(|_| PayloadError::Text),
        _ => Ok(Value::String(base64_encode(payload))),
    }
}

/// Standard base64 with padding (RFC 4648 Section 4).
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Converts a CBOR data item to JSON the way RFC 8949 Section 6.1 suggests: byte strings as
/// base64, tags dropped (their content kept), non-finite floats as null, integers beyond 64 bits
/// as decimal strings, and map keys that are not text as their JSON text.
fn cbor_to_json(item: ciborium::Value) -> Value {
    use ciborium::Value as C;
    match item {
        C::Integer(i) => {
            let i = i128::from(i);
            if let Ok(v) = i64::try_from(i) {
                Value::Number(v.into())
            } else if let Ok(v) = u64::try_from(i) {
                Value::Number(v.into())
            } else {
                Value::String(i.to_string())
            }
        }
        C::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        C::Bytes(b) => Value::String(base64_encode(&b)),
        C::Text(s) => Value::String(s),
        C::Bool(b) => Value::Bool(b),
        C::Tag(_, inner) => cbor_to_json(*inner),
        C::Array(items) => Value::Array(items.into_iter().map(cbor_to_json).collect()),
        C::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = match cbor_to_json(k) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                map.insert(key, cbor_to_json(v));
            }
            Value::Object(map)
        }
        // Null, undefined and any future simple value.
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_content_format_has_its_json_form() {
        // {"t": 21.5, 1: h'0102', "n": [1, -2, null]}
        let cbor = [
            0xa3, 0x61, b't', 0xf9, 0x4d, 0x60, 0x01, 0x42, 1, 2, 0x61, b'n', 0x83, 0x01, 0x21,
            0xf6,
        ];
        assert_eq!(
            payload_to_json(Some(60), &cbor).unwrap(),
            json!({"t": 21.5, "1": "AQI=", "n": [1, -2, null]})
        );
        assert_eq!(
            payload_to_json(Some(50), br#"{"t":21.5}"#).unwrap(),
            json!({"t": 21.5})
        );
        assert_eq!(payload_to_json(Some(0), b"hi").unwrap(), json!("hi"));
        assert_eq!(payload_to_json(None, &[0, 255]).unwrap(), json!("AP8="));
        assert_eq!(payload_to_json(Some(42), b"").unwrap(), json!(""));
        // A bignum tag (2) over 64 bits is kept as its bytes; a large negative int as a string.
        assert_eq!(
            payload_to_json(
                Some(60),
                &[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
            )
            .unwrap(),
            json!("-18446744073709551616")
        );
    }

    #[test]
    fn mismatched_payloads_are_refused() {
        assert!(matches!(
            payload_to_json(Some(60), &[0x01, 0x02]),
            Err(PayloadError::Cbor(_))
        ));
        assert!(matches!(
            payload_to_json(Some(60), &[0x82, 0x01]),
            Err(PayloadError::Cbor(_))
        ));
        assert!(matches!(
            payload_to_json(Some(60), &[]),
            Err(PayloadError::Cbor(_))
        ));
        assert!(matches!(
            payload_to_json(Some(50), b"{"),
            Err(PayloadError::Json(_))
        ));
        assert_eq!(payload_to_json(Some(0), &[0xff]), Err(PayloadError::Text));
        // Deep nesting is refused, not a stack overflow.
        let deep = vec![0x81u8; 100_000];
        assert!(payload_to_json(Some(60), &deep).is_err());
        let deep_json = "[".repeat(100_000);
        assert!(payload_to_json(Some(50), deep_json.as_bytes()).is_err());
    }
}
