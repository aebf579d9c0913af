//! Reliable transmission of Confirmable messages, sans-IO (RFC 7252 Section 4.2 and 4.8).

use core::time::Duration;

use super::time::millis;
use super::{Instant, MessageId, MessageType};

/// Transmission parameters (RFC 7252 Section 4.8), with the RFC's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransmissionParameters {
    /// ACK_TIMEOUT: the base time to wait for an acknowledgement (default 2 s).
    pub ack_timeout: Duration,
    /// ACK_RANDOM_FACTOR in thousandths (default 1500, that is 1.5); at least 1000.
    pub ack_random_factor_milli: u32,
    /// MAX_RETRANSMIT: how often a Confirmable message is retransmitted (default 4).
    pub max_retransmit: u8,
    /// MAX_LATENCY: the longest time a datagram is expected to travel (default 100 s).
    pub max_latency: Duration,
}

impl Default for TransmissionParameters {
    fn default() -> Self {
        Self::RFC7252
    }
}

impl TransmissionParameters {
    /// The defaults of RFC 7252 Section 4.8.
    pub const RFC7252: Self = Self {
        ack_timeout: Duration::from_secs(2),
        ack_random_factor_milli: 1500,
        max_retransmit: 4,
        max_latency: Duration::from_secs(100),
    };

    fn factor(&self) -> u64 {
        u64::from(self.ack_random_factor_milli.max(1000))
    }

    fn scaled(&self, multiple: u64) -> Duration {
        let ms = millis(self.ack_timeout)
            .saturating_mul(multiple)
            .saturating_mul(self.factor())
            / 1000;
        Duration::from_millis(ms)
    }

    fn doublings(&self, n: u32) -> u64 {
        1u64.checked_shl(n).unwrap_or(u64::MAX).saturating_sub(1)
    }

    /// The initial timeout for a new Confirmable message: uniformly in
    /// `[ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]`, placed by `random` (the whole `u32`
    /// range maps onto the interval; RFC 7252 Section 4.2).
    pub fn initial_timeout(&self, random: u32) -> Duration {
        let base = millis(self.ack_timeout);
        let span = base.saturating_mul(self.factor() - 1000) / 1000;
        let extra = (u128::from(span) * u128::from(random) / u128::from(u32::MAX)) as u64;
        Duration::from_millis(base.saturating_add(extra))
    }

    /// MAX_TRANSMIT_SPAN: `ACK_TIMEOUT * (2^MAX_RETRANSMIT - 1) * ACK_RANDOM_FACTOR` (45 s by
    /// default).
    pub fn max_transmit_span(&self) -> Duration {
        self.scaled(self.doublings(u32::from(self.max_retransmit)))
    }

    /// MAX_TRANSMIT_WAIT: `ACK_TIMEOUT * (2^(MAX_RETRANSMIT + 1) - 1) * ACK_RANDOM_FACTOR` (93 s
    /// by default).
    pub fn max_transmit_wait(&self) -> Duration {
        self.scaled(self.doublings(u32::from(self.max_retransmit) + 1))
    }

    /// PROCESSING_DELAY, which RFC 7252 sets to ACK_TIMEOUT.
    pub const fn processing_delay(&self) -> Duration {
        self.ack_timeout
    }

    /// EXCHANGE_LIFETIME: `MAX_TRANSMIT_SPAN + 2 * MAX_LATENCY + PROCESSING_DELAY` (247 s by
    /// default): how long a Message ID must not be reused, and how long a duplicate can arrive.
    pub fn exchange_lifetime(&self) -> Duration {
        self.max_transmit_span()
            .saturating_add(self.max_latency.saturating_mul(2))
            .saturating_add(self.processing_delay())
    }

    /// NON_LIFETIME: `MAX_TRANSMIT_SPAN + MAX_LATENCY` (145 s by default).
    pub fn non_lifetime(&self) -> Duration {
        self.max_transmit_span().saturating_add(self.max_latency)
    }
}

/// What the caller does after [`Retransmission::on_timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutAction {
    /// The deadline has not passed: nothing to do yet.
    Wait,
    /// Send the message again (same bytes, same Message ID).
    Retransmit,
    /// MAX_RETRANSMIT was reached without acknowledgement: the transmission failed.
    GiveUp,
}

/// How a transmission ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The peer acknowledged the message (the ACK may carry a piggybacked response).
    Acknowledged,
    /// The peer rejected the message with a Reset.
    Reset,
    /// MAX_RETRANSMIT retransmissions went unacknowledged.
    TimedOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Waiting,
    Done(Outcome),
}

/// The retransmission state of one Confirmable message (RFC 7252 Section 4.2).
///
/// Sans-IO: the caller asks [`Retransmission::poll_timeout`] when to wake up, calls
/// [`Retransmission::on_timeout`] then, and hands every received Acknowledgement or Reset to
/// [`Retransmission::on_message`]. The timeout doubles after every retransmission.
///
/// ```
/// use ferrule_proto::coap::{Instant, MessageId, MessageType, Retransmission, TimeoutAction,
///     TransmissionParameters};
/// let params = TransmissionParameters::default();
/// let mut tx = Retransmission::new(&params, MessageId(1), Instant::ZERO, 0);
/// assert_eq!(tx.poll_timeout(), Some(Instant::from_millis(2000)));
/// assert_eq!(tx.on_timeout(Instant::from_millis(2000)), TimeoutAction::Retransmit);
/// assert_eq!(tx.poll_timeout(), Some(Instant::from_millis(6000)));
/// assert!(tx.on_message(MessageType::Acknowledgement, MessageId(1)).is_some());
/// assert_eq!(tx.poll_timeout(), None);
/// ```
#[derive(Clone, Debug)]
pub struct Retransmission {
    message_id: MessageId,
    deadline: Instant,
    timeout: Duration,
    retransmissions: u8,
    max_retransmit: u8,
    state: State,
}

impl Retransmission {
    /// Starts tracking a Confirmable message first sent at `now`; `random` places the initial
    /// timeout in its interval (see [`TransmissionParameters::initial_timeout`]).
    pub fn new(
        params: &TransmissionParameters,
        message_id: MessageId,
        now: Instant,
        random: u32,
    ) -> Self {
        let timeout = params.initial_timeout(random);
        Self {
            message_id,
            deadline: now.saturating_add(timeout),
            timeout,
            retransmissions: 0,
            max_retransmit: params.max_retransmit,
            state: State::Waiting,
        }
    }

    /// The Message ID being tracked.
    pub const fn message_id(&self) -> MessageId {
        self.message_id
    }

    /// Retransmissions so far.
    pub const fn retransmissions(&self) -> u8 {
        self.retransmissions
    }

    /// When [`Retransmission::on_timeout`] wants to be called next; `None` once the
    /// transmission has ended.
    pub const fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting => Some(self.deadline),
            _ => None,
        }
    }

    /// Advances the timer to `now`.
    pub fn on_timeout(&mut self, now: Instant) -> TimeoutAction {
        if self.state != State::Waiting || now < self.deadline {
            return TimeoutAction::Wait;
        }
        if self.retransmissions >= self.max_retransmit {
            self.state = State::Done(Outcome::TimedOut);
            return TimeoutAction::GiveUp;
        }
        self.retransmissions += 1;
        self.timeout = self.timeout.saturating_mul(2);
        self.deadline = self.deadline.saturating_add(self.timeout);
        TimeoutAction::Retransmit
    }

    /// Offers a received message's type and Message ID; returns the outcome if it is the
    /// Acknowledgement or Reset of the tracked message (the caller has already checked that it
    /// comes from the same peer), `None` otherwise.
    pub fn on_message(&mut self, msg_type: MessageType, message_id: MessageId) -> Option<Outcome> {
        if self.state != State::Waiting || message_id != self.message_id {
            return None;
        }
        let outcome = match msg_type {
            MessageType::Acknowledgement => Outcome::Acknowledged,
            MessageType::Reset => Outcome::Reset,
            _ => return None,
        };
        self.state = State::Done(outcome);
        Some(outcome)
    }

    /// How the transmission ended, once it has.
    pub const fn outcome(&self) -> Option<Outcome> {
        match self.state {
            State::Waiting => None,
            State::Done(o) => Some(o),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_parameters_match_rfc7252() {
        let p = TransmissionParameters::default();
        assert_eq!(p.max_transmit_span(), Duration::from_secs(45));
        assert_eq!(p.max_transmit_wait(), Duration::from_secs(93));
        assert_eq!(p.exchange_lifetime(), Duration::from_secs(247));
        assert_eq!(p.non_lifetime(), Duration::from_secs(145));
        assert_eq!(p.initial_timeout(0), Duration::from_secs(2));
        assert_eq!(p.initial_timeout(u32::MAX), Duration::from_secs(3));
        assert_eq!(p.initial_timeout(u32::MAX / 2), Duration::from_millis(2499));
    }

    #[test]
    fn backs_off_exponentially_then_gives_up() {
        let p = TransmissionParameters::default();
        let mut tx = Retransmission::new(&p, MessageId(9), Instant::from_millis(1000), u32::MAX);
        let mut sent_at = [0u64; 5];
        let mut n = 0;
        while let Some(deadline) = tx.poll_timeout() {
            assert_eq!(
                tx.on_timeout(Instant::from_millis(deadline.as_millis() - 1)),
                TimeoutAction::Wait
            );
            match tx.on_timeout(deadline) {
                TimeoutAction::Retransmit => {
                    sent_at[n] = deadline.as_millis();
                    n += 1;
                }
                TimeoutAction::GiveUp => {
                    assert_eq!(deadline.as_millis(), 1000 + 93_000);
                }
                TimeoutAction::Wait => unreachable!(),
            }
        }
        assert_eq!(n, 4);
        assert_eq!(sent_at[..4], [4000, 10_000, 22_000, 46_000]);
        assert_eq!(tx.outcome(), Some(Outcome::TimedOut));
    }

    #[test]
    fn ack_and_reset_match_by_message_id() {
        let p = TransmissionParameters::default();
        let mut tx = Retransmission::new(&p, MessageId(9), Instant::ZERO, 0);
        assert_eq!(
            tx.on_message(MessageType::Acknowledgement, MessageId(8)),
            None
        );
        assert_eq!(tx.on_message(MessageType::Confirmable, MessageId(9)), None);
        assert_eq!(
            tx.on_message(MessageType::Reset, MessageId(9)),
            Some(Outcome::Reset)
        );
        assert_eq!(
            tx.on_message(MessageType::Acknowledgement, MessageId(9)),
            None
        );
        assert_eq!(tx.poll_timeout(), None);
        assert_eq!(
            tx.on_timeout(Instant::from_millis(1_000_000)),
            TimeoutAction::Wait
        );
    }
}
