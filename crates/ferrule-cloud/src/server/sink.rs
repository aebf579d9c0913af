//! Sinks: where accepted telemetry goes before the device is told it arrived.
//!
//! A device's message is acknowledged (2.04) only after [`Sink::write`] returned `Ok`, so a sink
//! must have handed the record on durably enough for its purpose by then: [`JsonLinesSink`]
//! writes one line and flushes it to the operating system, so killing the server loses nothing
//! that was acknowledged.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::time::SystemTime;

use serde_json::{json, Value};

use super::config::SinkSpec;

/// One accepted telemetry message.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryRecord {
    /// The device's registered name.
    pub device: String,
    /// The `kid` of the device's credential.
    pub kid: Vec<u8>,
    /// When the server received it.
    pub received_at: SystemTime,
    /// The inner request's Content-Format, if it had one.
    pub content_format: Option<u16>,
    /// The payload in JSON form ([`payload_to_json`](super::payload::payload_to_json)).
    pub payload: Value,
}

impl TelemetryRecord {
    /// The JSON object a line holds:
    /// `{"device","kid","received_at","content_format","payload"}` with the kid in lowercase hex
    /// and the time in RFC 3339 UTC with milliseconds.
    pub fn to_json(&self) -> Value {
        json!({
            "device": self.device,
            "kid": hex(&self.kid),
            "received_at": crate::timestamp::format_millis(self.received_at),
            "content_format": self.content_format,
            "payload": self.payload,
        })
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Receives accepted telemetry.
pub trait Sink: Send {
    /// Hands one record on; `Ok` means it is kept (the device is then acknowledged).
    ///
    /// # Errors
    /// Any I/O failure: the device gets 5.00 and sends the message again later.
    fn write(&mut self, record: &TelemetryRecord) -> io::Result<()>;
}

/// JSON lines (one object per line, [`TelemetryRecord::to_json`]) into any writer, flushed
/// after every line.
#[derive(Debug)]
pub struct JsonLinesSink<W: Write + Send> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write + Send> JsonLinesSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            line: Vec::with_capacity(256),
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> Sink for JsonLinesSink<W> {
    fn write(&mut self, record: &TelemetryRecord) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &record.to_json())?;
        self.line.push(b'\n');
        // One write call per line, so concurrent readers of the file never see half a line
        // from us (O_APPEND keeps it whole against other writers too).
        self.out.write_all(&self.line)?;
        self.out.flush()
    }
}

impl SinkSpec {
    /// Opens the sink: standard output, or the file appended to (created with mode 0644 if
    /// missing).
    ///
    /// # Errors
    /// The file cannot be opened; the message names it.
    pub fn open(&self) -> io::Result<Box<dyn Sink>> {
        match self {
            Self::Stdout => Ok(Box::new(JsonLinesSink::new(io::stdout()))),
            Self::JsonLines(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot open the sink file {}: {e}", path.display()),
                        )
                    })?;
                Ok(Box::new(JsonLinesSink::new(file)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;
    use std::time::UNIX_EPOCH;

    #[test]
    fn one_line_per_record() {
        let mut sink = JsonLinesSink::new(Vec::new());
        let record = TelemetryRecord {
            device: "sensor-1".into(),
            kid: vec![0x2b, 0x01],
            received_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            content_format: Some(60),
            payload: json!({"t": 21.5}),
        };
        sink.write(&record).unwrap();
        sink.write(&TelemetryRecord {
            content_format: None,
            payload: json!("AA=="),
            ..record
        })
        .unwrap();
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let first: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(
            first,
            json!({"device": "sensor-1", "kid": "2b01", "received_at": "2023-11-14T22:13:20.123Z",
                   "content_format": 60, "payload": {"t": 21.5}})
        );
        let second: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["content_format"], Value::Null);
    }

    #[test]
    fn a_full_disk_is_an_error() {
        let spec = SinkSpec::JsonLines("/dev/full".into());
        if let Ok(mut sink) = spec.open() {
            let record = TelemetryRecord {
                device: "d".into(),
                kid: vec![1],
                received_at: UNIX_EPOCH,
                content_format: None,
                payload: Value::Null,
            };
            assert!(sink.write(&record).is_err());
        }
        let err = SinkSpec::JsonLines("/nonexistent-dir/x.jsonl".into())
            .open()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/nonexistent-dir/x.jsonl"), "{err}");
    }
}
