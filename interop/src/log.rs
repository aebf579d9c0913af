//! A shared, timestamped log that tests print when they fail.

use core::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// A log shared between a test and the endpoint it drives (possibly on another thread).
///
/// Lines are kept in memory; [`Log::dump`] returns them with the time since the log was
/// created. Cloning shares the log.
#[derive(Clone)]
pub struct Log {
    name: &'static str,
    start: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Log {
    /// An empty log; `name` prefixes its dump.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            start: Instant::now(),
            lines: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Appends a line.
    pub fn line(&self, text: impl fmt::Display) {
        let elapsed = self.start.elapsed();
        let line = format!(
            "[{:>4}.{:03}] {text}",
            elapsed.as_secs(),
            elapsed.subsec_millis()
        );
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    /// The whole log, one line per entry, under a header with its name.
    pub fn dump(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = format!("----- {} log ({} lines) -----\n", self.name, lines.len());
        for l in lines.iter() {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log").field("name", &self.name).finish()
    }
}
