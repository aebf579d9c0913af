//! Timestamps as the registry stores them: RFC 3339 in UTC with milliseconds,
//! `2025-06-01T12:34:56.789Z`. Strings of this form sort in time order.

use core::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z).
const LATEST: Duration = Duration::from_millis(253_402_300_799_999);

/// Clamps `time` into what RFC 3339 can write: not before 1970, not after year 9999.
fn clamp(time: SystemTime) -> SystemTime {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) if since <= LATEST => time,
        Ok(_) => UNIX_EPOCH + LATEST,
        Err(_) => UNIX_EPOCH,
    }
}

/// `time` as RFC 3339 UTC with milliseconds (times outside 1970-9999 are clamped to them).
pub fn format_millis(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(clamp(time)).to_string()
}

/// `time` as RFC 3339 UTC to the second, for people (times outside 1970-9999 are clamped).
pub fn format_seconds(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(clamp(time)).to_string()
}

/// Parses an RFC 3339 UTC timestamp; `None` if it is not one.
pub fn parse(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parses_and_clamps() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(format_millis(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_seconds(t), "2023-11-14T22:13:20Z");
        assert_eq!(parse("2023-11-14T22:13:20.123Z"), Some(t));
        assert_eq!(parse("yesterday"), None);
        assert_eq!(
            format_millis(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_millis(UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 100)),
            "9999-12-31T23:59:59.999Z"
        );
    }
}
