//! The server's replay window (RFC 8613 Section 7.4) and its Echo recovery (Appendix B.1.2).

use super::OscoreError;

/// Length of the Echo values this implementation generates for replay-window recovery.
pub const ECHO_LEN: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing received yet under a fresh context: every sequence number is new.
    Empty,
    /// `top` is the highest sequence number received; bit `i` of `seen` is sequence number
    /// `top - i`.
    Active { top: u64, seen: u64 },
    /// The window was lost (a restart): no request is accepted until one returns the Echo value
    /// (generated on the first challenge).
    Uninitialized { echo: Option<[u8; ECHO_LEN]> },
}

/// A sliding-window replay detector over Partial IVs (RFC 8613 Section 7.4), 1 to 64 sequence
/// numbers wide (default 32).
///
/// [`ReplayWindow::check`] before decryption, [`ReplayWindow::accept`] only after the request
/// verified. A window restored after a power cut is uninitialized: see
/// [`super::OscoreError::EchoRequired`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    size: u8,
    state: State,
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self {
            size: Self::DEFAULT_SIZE,
            state: State::Empty,
        }
    }
}

impl ReplayWindow {
    /// The default window size, 32 (as for DTLS, RFC 6347 Section 4.1.2.6).
    pub const DEFAULT_SIZE: u8 = 32;
    /// The largest window size.
    pub const MAX_SIZE: u8 = 64;

    /// An empty window of `size` sequence numbers, for a freshly established context.
    ///
    /// # Errors
    /// [`OscoreError::InvalidParameters`] unless `1 <= size <= 64`.
    pub const fn new(size: u8) -> Result<Self, OscoreError> {
        if size == 0 || size > Self::MAX_SIZE {
            return Err(OscoreError::InvalidParameters);
        }
        Ok(Self {
            size,
            state: State::Empty,
        })
    }

    /// The window size.
    pub const fn size(&self) -> u8 {
        self.size
    }

    /// Whether the window holds valid state (it does not after [`ReplayWindow::invalidate`]).
    pub const fn is_initialized(&self) -> bool {
        !matches!(self.state, State::Uninitialized { .. })
    }

    /// The highest sequence number accepted, if any.
    pub const fn highest(&self) -> Option<u64> {
        match self.state {
            State::Active { top, .. } => Some(top),
            _ => None,
        }
    }

    /// Forgets the window: from now on a request is only accepted once it returns an Echo
    /// value (RFC 8613 Appendix B.1.2). Used when state was lost.
    pub fn invalidate(&mut self) {
        self.state = State::Uninitialized { echo: None };
    }

    fn mask(&self) -> u64 {
        if self.size >= 64 {
            u64::MAX
        } else {
            (1u64 << self.size) - 1
        }
    }

    /// Whether `sequence_number` may be accepted: new and not older than the window. An
    /// uninitialized window answers `Ok`; the caller must then require an Echo.
    ///
    /// # Errors
    /// [`OscoreError::Replay`].
    pub fn check(&self, sequence_number: u64) -> Result<(), OscoreError> {
        match self.state {
            State::Empty | State::Uninitialized { .. } => Ok(()),
            State::Active { top, seen } => {
                if sequence_number > top {
                    return Ok(());
                }
                let age = top - sequence_number;
                if age >= u64::from(self.size) || (seen >> age) & 1 == 1 {
                    Err(OscoreError::Replay)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Records `sequence_number` as received; call only after the message verified.
    pub fn accept(&mut self, sequence_number: u64) {
        let mask = self.mask();
        self.state = match self.state {
            State::Empty | State::Uninitialized { .. } => State::Active {
                top: sequence_number,
                seen: 1,
            },
            State::Active { top, seen } => {
                if sequence_number > top {
                    let shift = sequence_number - top;
                    let seen = if shift >= 64 { 0 } else { seen << shift };
                    State::Active {
                        top: sequence_number,
                        seen: (seen | 1) & mask,
                    }
                } else {
                    let age = top - sequence_number;
                    let bit = if age >= 64 { 0 } else { 1u64 << age };
                    State::Active {
                        top,
                        seen: (seen | bit) & mask,
                    }
                }
            }
        };
    }

    /// Initializes a lost window from a request proven fresh by the Echo option: the request is
    /// the highest received and everything older counts as received (RFC 8613 Appendix B.1.2).
    pub(crate) fn initialize_fresh(&mut self, sequence_number: u64) {
        self.state = State::Active {
            top: sequence_number,
            seen: self.mask(),
        };
    }

    /// The Echo value of a pending recovery, if one was generated.
    pub fn pending_echo(&self) -> Option<&[u8; ECHO_LEN]> {
        match &self.state {
            State::Uninitialized { echo: Some(e) } => Some(e),
            _ => None,
        }
    }

    /// Sets the Echo value of a pending recovery (only while uninitialized).
    pub(crate) fn set_echo(&mut self, value: [u8; ECHO_LEN]) {
        if let State::Uninitialized { echo } = &mut self.state {
            *echo = Some(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window() {
        let mut w = ReplayWindow::new(32).unwrap();
        for s in [5u64, 3, 4, 40, 9, 39] {
            w.check(s).unwrap();
            w.accept(s);
        }
        for s in [5u64, 3, 4, 40, 9, 39, 8, 0] {
            assert_eq!(w.check(s), Err(OscoreError::Replay), "{s}");
        }
        w.check(10).unwrap();
        w.check(38).unwrap();
        w.check(41).unwrap();
        w.accept(1000);
        assert_eq!(w.check(968), Err(OscoreError::Replay));
        w.check(969).unwrap();
        assert_eq!(w.check(40), Err(OscoreError::Replay));
        assert!(ReplayWindow::new(0).is_err() && ReplayWindow::new(65).is_err());
        let mut w = ReplayWindow::new(64).unwrap();
        w.accept(u64::from(u32::MAX));
        w.check(u64::from(u32::MAX) - 63).unwrap();
    }

    #[test]
    fn recovery_state() {
        let mut w = ReplayWindow::default();
        w.accept(7);
        w.invalidate();
        assert!(!w.is_initialized());
        w.check(0).unwrap();
        w.set_echo([1; ECHO_LEN]);
        assert_eq!(w.pending_echo(), Some(&[1; ECHO_LEN]));
        w.initialize_fresh(100);
        assert!(w.is_initialized());
        assert_eq!(w.check(99), Err(OscoreError::Replay));
        assert_eq!(w.check(100), Err(OscoreError::Replay));
        w.check(101).unwrap();
    }
}
