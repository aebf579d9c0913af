//! A sans-IO session for one device: the EDHOC initiator (RFC 9528), an OSCORE client
//! (RFC 8613) and CoAP reliability (RFC 7252), speaking the Ferrule wire protocol
//! (docs/protocol.md) to the cloud.
//!
//! The application owns the clock, the link and the loop. It hands the session the time and the
//! datagrams it receives, and sends the datagrams the session gives it; nothing blocks, sleeps
//! or allocates:
//!
//! ```
//! use ferrule_device::session::{Event, Instant, Session, Storage};
//! use ferrule_proto::crypto::Crypto;
//!
//! /// One turn of a device's loop: `received` is a datagram from the cloud, if one came.
//! fn turn<C: Crypto, S: Storage>(
//!     session: &mut Session<'_, C, S>,
//!     now: Instant,
//!     received: Option<&mut [u8]>,
//!     link: &mut dyn FnMut(&[u8]),
//! ) {
//!     if let Some(datagram) = received {
//!         session.handle_datagram(now, datagram);
//!     }
//!     if session.poll_timeout().is_some_and(|t| t <= now) {
//!         session.handle_timeout(now);
//!     }
//!     let mut out = [0u8; 256];
//!     while let Some(len) = session.poll_transmit(now, &mut out) {
//!         link(&out[..len]);
//!     }
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             Event::Delivered(handle) => { /* telemetry `handle` is in the cloud's sink */ }
//!             Event::Command { payload, content_format } => { /* act on &payload[..] */ }
//!             _ => {}
//!         }
//!     }
//!     // Then sleep until a datagram arrives or until session.poll_timeout().
//! }
//! ```
//!
//! # What the session does
//!
//! - [`Session::send`] queues telemetry (`POST /t`), [`Session::fetch_command`] a `GET /c`.
//!   One message is outstanding at a time; the next call returns [`SessionError::Busy`] until
//!   the message has ended with [`Event::Delivered`] or [`Event::Refused`] (or was
//!   [cancelled](Session::cancel)) and a received command has been read.
//! - With a message queued and no security context, [`Session::poll_transmit`] starts a
//!   handshake: message_1, then message_3 in the combined request with the message (RFC 9668),
//!   or with [`Flow::WithMessage4`] message_3 on its own and the message after message_4.
//! - Every request is Confirmable and retransmitted with exponential back-off
//!   ([`SessionConfig::transmission`]); piggybacked and separate responses are both accepted.
//!
//! # What the session decided, and why
//!
//! - **Nothing acknowledged is lost, nothing unacknowledged is dropped silently.** A message
//!   stays pending until a verified protected response ends it ([`Event::Delivered`] for a
//!   success, [`Event::Refused`] for an error code), or the application cancels it. When the
//!   cloud does not answer (MAX_RETRANSMIT reached), the session reports
//!   [`Event::Disconnected`] and tries again after a [`Backoff`]: a handshake in flight is
//!   dropped and redone; an OSCORE request under a confirmed context is kept byte for byte and
//!   retransmitted after the back-off with the same Message ID, so the cloud answers a copy it
//!   already processed from its duplicate cache instead of processing it twice. A duplicate at
//!   the cloud remains possible only if every response was lost and the cloud forgot its cache
//!   or its context before the retry (delivery is at least once, [`Event::Delivered`] exactly
//!   once).
//! - **Refusals back off harder.** An EDHOC error message, or `4.01` to message_3 or to the
//!   combined request (an unknown or revoked device), ends the handshake with
//!   [`Event::Rejected`] and counts as three failures in the back-off.
//! - **A lost context is re-established at once.** An unprotected `4.01` (or `4.00`, `4.02`:
//!   the errors of RFC 8613 Section 8.2) to an OSCORE request under a confirmed context means
//!   the cloud lost it (a restart): the context is dropped, [`Event::Disconnected`] reports
//!   [`DisconnectReason::ContextLost`], and a new handshake starts without back-off, after which
//!   the pending message is sent again. Any other unprotected error (`5.03` from an overloaded
//!   cloud or a proxy) keeps the context and backs off ([`DisconnectReason::Error`]); so does a
//!   `5.xx` without an EDHOC error message to a handshake message.
//! - **Keys are renewed** by a new handshake before the request that would exceed
//!   [`RekeyPolicy`], or when the sequence numbers run out; [`Event::Connected`] reports the new
//!   C_R.
//! - **Freshness challenges** (a protected `4.01` with an Echo option, RFC 8613 Appendix B.1.2,
//!   from a cloud that lost its replay window) are answered once per message by sending it again
//!   with the Echo value.
//! - **Sequence numbers** are persisted through the [`Storage`] with the context's
//!   [`resume`](SecurityContext::resume) / [`reserve`](SecurityContext::reserve) (RFC 8613
//!   Appendix B.1.1): `reserve` runs before every protection, so one write covers K requests.
//!   The storage holds one bound for the device, not one per context: every new context resumes
//!   from it, so the Partial IVs of a device only ever grow, across rekeys and reboots.
//! - **After a reboot** [`Session::new`] starts without a context and the first message runs a
//!   new handshake. Its fresh ephemeral keys give a fresh OSCORE Master Secret, so no nonce of a
//!   previous boot can repeat even if the storage were lost; keys are never persisted.
//! - **Events are never lost where it matters.** [`Event::Delivered`], [`Event::Refused`] and
//!   [`Event::Command`] are always reported (the session refuses new messages while more than
//!   three events are unread, and while a command is unread); a link-state event
//!   ([`Event::Rejected`], [`Event::Disconnected`]) that is still unread when the next one comes
//!   is replaced by it.
//!
//! # Invariants
//!
//! No heap, no `unsafe`, no panics on any received bytes (malformed, truncated, unrelated or
//! duplicate datagrams are ignored). Buffers are sized by `BUF` (datagrams) and `CMD` (one
//! received command). Keys live in the handshake states and the [`SecurityContext`], which are
//! zeroized when dropped.

mod config;
mod error;
mod event;
mod wire;

use core::mem;

use ferrule_proto::coap::{
    CoapError, Code, Message, MessageId, MessageIdSequence, MessageType, OptionNumber,
    Retransmission, TimeoutAction, Token,
};
use ferrule_proto::crypto::Crypto;
use ferrule_proto::edhoc::{
    is_error_message, write_continue_request, write_message_1_request, CipherSuite, ConnectionId,
    ErrorInfo, ErrorMessage, Established, Initiator, InitiatorWaitM2, InitiatorWaitM4,
    SingleCredential,
};
use ferrule_proto::oscore::{
    build_combined_request, CombinedError, ContextParams, OscoreError, RequestId, SecurityContext,
};

pub use config::{Backoff, Flow, RekeyPolicy, SessionConfig, DEFAULT_C_I, DEFAULT_PERSIST_STEP};
pub use error::SessionError;
pub use event::{CommandPayload, DisconnectReason, Event, MessageHandle, RejectReason};
pub use ferrule_proto::coap::Instant;
pub use ferrule_proto::oscore::{MemoryStorage, Storage};

use event::{Note, Notes, Status, EVENT_CAPACITY};
use wire::{Head, Resource, TOKEN_LEN};

/// The most events one exchange can produce (Connected, Command, Delivered): `send` keeps this
/// much room in the event queue.
const EVENTS_PER_EXCHANGE: usize = 3;

/// How many failures a refusal counts for in the back-off.
const REJECT_PENALTY: u8 = 3;

/// Largest message_1 without EAD_1: method, SUITES_I (up to an array of 9), G_X, C_I.
const MESSAGE_1_MAX: usize = 64;

/// Where the handshake stands.
enum Link<'a> {
    /// No context and no handshake.
    Idle,
    /// message_1 sent.
    WaitM2(InitiatorWaitM2<'a>),
    /// message_3 sent in the plain flow.
    WaitM4(InitiatorWaitM4),
    /// A security context.
    Open(Open),
}

/// An established security context.
struct Open {
    ctx: SecurityContext,
    c_r: ConnectionId,
    /// When the handshake completed.
    since: Instant,
    /// OSCORE requests protected with it.
    requests: u32,
    /// Whether a protected response (or message_4) proved that the cloud has it.
    confirmed: bool,
}

/// What a request in flight carries.
#[derive(Clone, Copy, Debug)]
enum Step {
    Message1,
    Message3,
    Request(RequestId),
}

/// The Confirmable request in flight; its bytes are in the session's `tx` buffer.
struct Exchange {
    step: Step,
    message_id: MessageId,
    token: Token,
    retransmission: Retransmission,
    /// After an empty Acknowledgement: when to stop waiting for the separate response.
    response_deadline: Option<Instant>,
    len: usize,
    /// The bytes are to be (re)sent by the next `poll_transmit`.
    due: bool,
    /// Given up on for now; sent again, unchanged, after the back-off.
    parked: bool,
}

/// The message the application queued.
#[derive(Clone, Copy, Debug)]
struct Pending {
    handle: MessageHandle,
    resource: Resource,
    content_format: Option<u16>,
    len: usize,
    queued_at: Instant,
    echo_retried: bool,
}

/// A device's session with its cloud: see the [module documentation](self).
///
/// `C` is the crypto provider and `S` the sequence-number storage, both owned (`&mut T` works
/// for either too). `BUF` bounds every datagram, in and out, and the payload of a message
/// ([`Session::MAX_PAYLOAD`]); `CMD` bounds a received command.
pub struct Session<'a, C, S, const BUF: usize = 256, const CMD: usize = 64> {
    config: &'a SessionConfig<'a>,
    crypto: C,
    storage: S,
    link: Link<'a>,
    exchange: Option<Exchange>,
    pending: Option<Pending>,
    command: Option<(CommandPayload<CMD>, Option<u16>)>,
    events: Notes,
    mids: MessageIdSequence,
    next_handle: u32,
    /// No new attempt before this.
    retry_at: Option<Instant>,
    /// Consecutive failures, for the back-off.
    failures: u8,
    /// The suite chosen after an ERR_CODE 2 (RFC 9528 Section 6.3.2).
    suite: Option<CipherSuite>,
    connected: bool,
    /// A Confirmable separate response to acknowledge.
    ack_due: Option<MessageId>,
    /// The last Confirmable separate response acknowledged (to acknowledge its duplicates).
    last_separate: Option<MessageId>,
    echo: [u8; 40],
    echo_len: u8,
    /// The request in flight.
    tx: [u8; BUF],
    /// The pending message's payload.
    payload: [u8; BUF],
}

impl<'a, C: Crypto, S: Storage, const BUF: usize, const CMD: usize> Session<'a, C, S, BUF, CMD> {
    /// The largest payload [`Session::send`] accepts: `BUF` less the worst-case overhead of an
    /// OSCORE request (48 bytes).
    pub const MAX_PAYLOAD: usize = BUF.saturating_sub(wire::REQUEST_OVERHEAD);

    /// A session without a security context: the first message starts a handshake.
    ///
    /// # Errors
    /// [`SessionError::InvalidPersistStep`] for K = 0; [`SessionError::Edhoc`] if the key does
    /// not suit the method and suite or no configured suite is implemented;
    /// [`SessionError::Crypto`] if the RNG fails.
    pub fn new(
        config: &'a SessionConfig<'a>,
        mut crypto: C,
        storage: S,
    ) -> Result<Self, SessionError> {
        if config.persist_step == 0 {
            return Err(SessionError::InvalidPersistStep);
        }
        Initiator::new(&config.edhoc)?;
        let mids = MessageIdSequence::random(&mut crypto)?;
        Ok(Self {
            config,
            crypto,
            storage,
            link: Link::Idle,
            exchange: None,
            pending: None,
            command: None,
            events: Notes::new(),
            mids,
            next_handle: 0,
            retry_at: None,
            failures: 0,
            suite: None,
            connected: false,
            ack_due: None,
            last_separate: None,
            echo: [0; 40],
            echo_len: 0,
            tx: [0; BUF],
            payload: [0; BUF],
        })
    }

    /// Queues telemetry: `POST /t` with `payload` and, if given, its Content-Format (60 for
    /// CBOR). It goes out from the next [`Session::poll_transmit`], after a handshake if needed.
    ///
    /// # Errors
    /// [`SessionError::Busy`] while a message is outstanding or a command or too many events
    /// are unread; [`SessionError::TooLarge`] beyond [`Session::MAX_PAYLOAD`].
    pub fn send(
        &mut self,
        now: Instant,
        payload: &[u8],
        content_format: Option<u16>,
    ) -> Result<MessageHandle, SessionError> {
        self.queue(now, Resource::Telemetry, payload, content_format)
    }

    /// Queues `GET /c`, which fetches the oldest command pending for the device: an
    /// [`Event::Command`] if there was one, then [`Event::Delivered`].
    ///
    /// # Errors
    /// As [`Session::send`].
    pub fn fetch_command(&mut self, now: Instant) -> Result<MessageHandle, SessionError> {
        self.queue(now, Resource::Command, &[], None)
    }

    /// Drops the pending message unless its OSCORE request is being transmitted right now, and
    /// returns its handle. A message that was sent before (and given up on) may or may not have
    /// reached the cloud.
    pub fn cancel(&mut self) -> Option<MessageHandle> {
        if let Some(ex) = &self.exchange {
            match ex.step {
                Step::Request(_) if !ex.parked => return None,
                Step::Request(_) => self.exchange = None,
                Step::Message1 | Step::Message3 => {}
            }
        }
        self.echo_len = 0;
        self.pending.take().map(|p| p.handle)
    }

    /// The pending message and when it was queued.
    pub fn pending(&self) -> Option<(MessageHandle, Instant)> {
        self.pending.map(|p| (p.handle, p.queued_at))
    }

    /// Whether a confirmed security context is in use (between [`Event::Connected`] and the
    /// next [`Event::Disconnected`], [`Event::Rejected`] or rekey).
    pub const fn is_connected(&self) -> bool {
        self.connected
    }

    /// C_R of the current security context, if there is one.
    pub fn c_r(&self) -> Option<ConnectionId> {
        match &self.link {
            Link::Open(open) => Some(open.c_r),
            _ => None,
        }
    }

    /// The next datagram to send, written into `out` (which must hold `BUF` bytes): an
    /// acknowledgement, a retransmission, or a new request (message_1, message_3, an OSCORE
    /// request) once the back-off allows. Call it until it returns `None` after every other
    /// call.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        if let Some(mid) = self.ack_due.take() {
            if let Ok(n) = wire::empty_ack(out, mid) {
                return Some(n);
            }
        }
        self.start(now);
        let ex = self.exchange.as_mut()?;
        if !ex.due {
            return None;
        }
        let bytes = self.tx.get(..ex.len)?;
        out.get_mut(..ex.len)?.copy_from_slice(bytes);
        ex.due = false;
        Some(ex.len)
    }

    /// Handles a datagram from the cloud. The payload is decrypted in place, so `datagram` is
    /// modified. Anything that is not a response to the request in flight is ignored.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &mut [u8]) {
        let Some(head) = Head::read(datagram) else {
            return;
        };
        if head.msg_type == MessageType::Confirmable
            && head.code.is_response()
            && self.last_separate == Some(head.message_id)
        {
            // A duplicate of a separate response already handled: acknowledge it again.
            self.ack_due = Some(head.message_id);
            return;
        }
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        let ours = head.message_id == ex.message_id;
        match head.msg_type {
            MessageType::Reset if ours => {
                self.exchange = None;
                self.fail(now, DisconnectReason::Reset);
                return;
            }
            MessageType::Acknowledgement if ours && head.code.is_empty() => {
                // The response follows separately (RFC 7252 Section 5.2.2).
                if !ex.parked && ex.response_deadline.is_none() {
                    ex.retransmission
                        .on_message(MessageType::Acknowledgement, head.message_id);
                    let lifetime = self.config.transmission.exchange_lifetime();
                    ex.response_deadline = Some(now.saturating_add(lifetime));
                    ex.due = false;
                }
                return;
            }
            MessageType::Acknowledgement if ours => {}
            MessageType::Confirmable | MessageType::NonConfirmable => {}
            _ => return,
        }
        if !head.code.is_response() || head.token != ex.token {
            return;
        }
        let Some(ex) = self.exchange.take() else {
            return;
        };
        let accepted = match ex.step {
            Step::Message1 => self.on_message_2(now, &head, datagram),
            Step::Message3 => self.on_message_4(now, &head, datagram),
            Step::Request(id) => self.on_response(now, &head, &id, datagram),
        };
        if !accepted {
            self.exchange = Some(ex);
        } else if head.msg_type == MessageType::Confirmable {
            self.ack_due = Some(head.message_id);
            self.last_separate = Some(head.message_id);
        }
    }

    /// When [`Session::handle_timeout`] wants to run next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.exchange {
            Some(ex) if ex.parked => self.retry_at,
            Some(ex) => ex
                .response_deadline
                .or_else(|| ex.retransmission.poll_timeout()),
            None if self.pending.is_some() => self.retry_at,
            None => None,
        }
    }

    /// Advances the timers to `now`: a retransmission falls due, or the request is given up on
    /// ([`Event::Disconnected`]). The next attempt after a back-off starts from
    /// [`Session::poll_transmit`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        if ex.parked {
            return;
        }
        if let Some(deadline) = ex.response_deadline {
            if now >= deadline {
                self.give_up(now);
            }
            return;
        }
        match ex.retransmission.on_timeout(now) {
            TimeoutAction::Retransmit => ex.due = true,
            TimeoutAction::GiveUp => self.give_up(now),
            TimeoutAction::Wait => {}
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event<CMD>> {
        loop {
            let event = match self.events.pop()? {
                (Note::Connected(c_r), _) => Event::Connected { c_r },
                (Note::Delivered(handle), _) => Event::Delivered(handle),
                (Note::Command, _) => match self.command.take() {
                    Some((payload, content_format)) => Event::Command {
                        payload,
                        content_format,
                    },
                    None => continue,
                },
                (Note::Refused(handle, code), _) => Event::Refused { handle, code },
                (Note::Status, Some(Status::Rejected(reason))) => Event::Rejected { reason },
                (Note::Status, Some(Status::Disconnected(reason))) => {
                    Event::Disconnected { reason }
                }
                (Note::Status, None) => continue,
            };
            return Some(event);
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &'a SessionConfig<'a> {
        self.config
    }

    /// The crypto provider.
    pub fn crypto_mut(&mut self) -> &mut C {
        &mut self.crypto
    }

    /// The sequence-number storage.
    pub const fn storage(&self) -> &S {
        &self.storage
    }

    /// The sequence-number storage, mutably.
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// Ends the session and returns the crypto provider and the storage.
    pub fn into_parts(self) -> (C, S) {
        (self.crypto, self.storage)
    }

    fn queue(
        &mut self,
        now: Instant,
        resource: Resource,
        payload: &[u8],
        content_format: Option<u16>,
    ) -> Result<MessageHandle, SessionError> {
        if self.pending.is_some()
            || self.command.is_some()
            || self.events.len() + EVENTS_PER_EXCHANGE > EVENT_CAPACITY
        {
            return Err(SessionError::Busy);
        }
        let len = payload.len();
        if len > Self::MAX_PAYLOAD {
            return Err(SessionError::TooLarge);
        }
        self.payload
            .get_mut(..len)
            .ok_or(SessionError::TooLarge)?
            .copy_from_slice(payload);
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        let handle = MessageHandle(self.next_handle);
        self.pending = Some(Pending {
            handle,
            resource,
            content_format,
            len,
            queued_at: now,
            echo_retried: false,
        });
        self.echo_len = 0;
        Ok(handle)
    }

    /// Starts what is due at `now`: a parked request after its back-off, or the next step for the
    /// pending message.
    fn start(&mut self, now: Instant) {
        if self.retry_at.is_some_and(|t| now < t) {
            return;
        }
        if let Some(ex) = self.exchange.as_mut() {
            if ex.parked {
                let mut random = [0u8; 4];
                if let Err(e) = self.crypto.fill_random(&mut random) {
                    self.fail(now, DisconnectReason::Failed(e.into()));
                    return;
                }
                self.retry_at = None;
                ex.retransmission = Retransmission::new(
                    &self.config.transmission,
                    ex.message_id,
                    now,
                    u32::from_le_bytes(random),
                );
                ex.parked = false;
                ex.due = true;
            }
            return;
        }
        if self.pending.is_none() {
            return;
        }
        self.retry_at = None;
        if let Err(e) = self.try_start(now) {
            self.fail(now, DisconnectReason::Failed(e));
        }
    }

    fn try_start(&mut self, now: Instant) -> Result<(), SessionError> {
        if let Link::Open(open) = &self.link {
            if self.rekey_due(open, now) {
                self.rekey();
            }
        }
        if !matches!(self.link, Link::Open(_)) {
            self.link = Link::Idle;
            return self.start_handshake(now);
        }
        match self.start_request(now, None) {
            Err(SessionError::Oscore(OscoreError::SequenceNumberExhausted)) => {
                self.rekey();
                self.start_handshake(now)
            }
            Err(SessionError::Coap(CoapError::BufferTooSmall))
            | Err(SessionError::Oscore(OscoreError::BufferTooSmall))
                if self.echo_len > 0 =>
            {
                // The Echo value of a freshness challenge does not fit with this payload.
                self.refuse_pending(Code::UNAUTHORIZED);
                Ok(())
            }
            other => other,
        }
    }

    fn rekey_due(&self, open: &Open, now: Instant) -> bool {
        let rekey = &self.config.rekey;
        rekey.after_messages.is_some_and(|n| open.requests >= n)
            || rekey.after_ms.is_some_and(|ms| {
                now.saturating_duration_since(open.since).as_millis() >= u128::from(ms)
            })
    }

    /// Drops the context so that the next request runs a new handshake.
    fn rekey(&mut self) {
        self.link = Link::Idle;
        self.connected = false;
    }

    fn start_handshake(&mut self, now: Instant) -> Result<(), SessionError> {
        let config: &'a SessionConfig<'a> = self.config;
        let initiator = match self.suite {
            Some(suite) => Initiator::with_suite(&config.edhoc, suite)?,
            None => Initiator::new(&config.edhoc)?,
        };
        let mut m1 = [0u8; MESSAGE_1_MAX];
        let (state, n1) = initiator.write_message_1(&mut self.crypto, &[], &mut m1)?;
        let (message_id, token) = self.next_ids()?;
        let message_1 = m1.get(..n1).unwrap_or(&[]);
        let len = wire::edhoc_request(&mut self.tx, message_id, &token, |out| {
            write_message_1_request(message_1, out)
        })?;
        self.link = Link::WaitM2(state);
        self.begin(now, Step::Message1, message_id, token, len)
    }

    /// Protects the pending message into `tx` and starts its exchange; with `message_3`, as the
    /// combined request.
    fn start_request(
        &mut self,
        now: Instant,
        message_3: Option<&[u8]>,
    ) -> Result<(), SessionError> {
        let (Some(p), Link::Open(open)) = (self.pending, &mut self.link) else {
            return Ok(());
        };
        open.ctx.reserve(&mut self.storage)?;
        let message_id = self.mids.next_id();
        let token = Token::random(&mut self.crypto, TOKEN_LEN)?;
        let echo = self.echo.get(..usize::from(self.echo_len)).unwrap_or(&[]);
        let payload = self.payload.get(..p.len).unwrap_or(&[]);
        let mut scratch = [0u8; BUF];
        let (len, id) = match message_3 {
            None => {
                let n = wire::inner_request(
                    &mut scratch,
                    message_id,
                    &token,
                    p.resource,
                    p.content_format,
                    echo,
                    payload,
                )?;
                let inner = Message::parse(scratch.get(..n).unwrap_or(&[]))?;
                open.ctx
                    .protect_request(&mut self.crypto, &inner, &mut self.tx)?
            }
            Some(m3) => {
                let n = wire::inner_request(
                    &mut self.tx,
                    message_id,
                    &token,
                    p.resource,
                    p.content_format,
                    echo,
                    payload,
                )?;
                let inner = Message::parse(self.tx.get(..n).unwrap_or(&[]))?;
                let (n, id) = open
                    .ctx
                    .protect_request(&mut self.crypto, &inner, &mut scratch)?;
                let protected = scratch.get(..n).unwrap_or(&[]);
                let len =
                    build_combined_request(protected, m3, &mut self.tx).map_err(|e| match e {
                        CombinedError::Coap(c) => SessionError::Coap(c),
                        _ => SessionError::Coap(CoapError::BufferTooSmall),
                    })?;
                (len, id)
            }
        };
        open.requests = open.requests.saturating_add(1);
        self.begin(now, Step::Request(id), message_id, token, len)
    }

    fn next_ids(&mut self) -> Result<(MessageId, Token), SessionError> {
        Ok((
            self.mids.next_id(),
            Token::random(&mut self.crypto, TOKEN_LEN)?,
        ))
    }

    fn begin(
        &mut self,
        now: Instant,
        step: Step,
        message_id: MessageId,
        token: Token,
        len: usize,
    ) -> Result<(), SessionError> {
        let mut random = [0u8; 4];
        self.crypto.fill_random(&mut random)?;
        let retransmission = Retransmission::new(
            &self.config.transmission,
            message_id,
            now,
            u32::from_le_bytes(random),
        );
        self.exchange = Some(Exchange {
            step,
            message_id,
            token,
            retransmission,
            response_deadline: None,
            len,
            due: true,
            parked: false,
        });
        Ok(())
    }

    /// The OSCORE context of a completed handshake (RFC 9528 Appendix A.1), resumed from the
    /// storage.
    fn derive(&mut self, session: &Established) -> Result<SecurityContext, SessionError> {
        let p = session.oscore_parameters(&mut self.crypto)?;
        let mut params = ContextParams::new(
            &p.master_secret,
            p.sender_id.as_bytes(),
            p.recipient_id.as_bytes(),
        );
        params.master_salt = Some(&p.master_salt);
        if let Some(suite) = session.suite().parameters() {
            params.aead = suite.application_aead;
        }
        let mut ctx = SecurityContext::derive(&mut self.crypto, &params)?;
        ctx.resume(&mut self.storage, self.config.persist_step)?;
        Ok(ctx)
    }

    /// The response to message_1: message_2, or a refusal.
    fn on_message_2(&mut self, now: Instant, head: &Head, datagram: &mut [u8]) -> bool {
        let Link::WaitM2(state) = mem::replace(&mut self.link, Link::Idle) else {
            return true;
        };
        let Some(payload) = datagram.get_mut(head.payload_start..) else {
            return true;
        };
        if head.code != Code::CHANGED || is_error_message(payload) {
            self.handshake_refused(now, head.code, payload);
            return true;
        }
        let mut server = SingleCredential(self.config.server);
        let verified = match state.read_message_2(&mut self.crypto, &mut server, payload) {
            Ok((verified, _info)) => verified,
            Err(e) => {
                self.reject(now, RejectReason::Handshake(e));
                return true;
            }
        };
        let mut m3 = [0u8; BUF];
        let result = match verified.write_message_3(&mut self.crypto, &[], &mut m3) {
            Ok((state, n3)) => self.after_message_3(now, state, m3.get(..n3).unwrap_or(&[])),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = result {
            self.fail(now, DisconnectReason::Failed(e));
        }
        true
    }

    /// Sends message_3: in the combined request with the pending message if the flow is
    /// combined and it fits, else on its own (plain flow).
    fn after_message_3(
        &mut self,
        now: Instant,
        state: InitiatorWaitM4,
        message_3: &[u8],
    ) -> Result<(), SessionError> {
        let c_r = state.session().c_r();
        if self.config.flow == Flow::Combined && self.pending.is_some() {
            let ctx = self.derive(state.session())?;
            self.link = Link::Open(Open {
                ctx,
                c_r,
                since: now,
                requests: 0,
                confirmed: false,
            });
            match self.start_request(now, Some(message_3)) {
                Err(SessionError::Coap(CoapError::BufferTooSmall))
                | Err(SessionError::Oscore(OscoreError::BufferTooSmall)) => {}
                other => return other,
            }
        }
        let (message_id, token) = self.next_ids()?;
        let len = wire::edhoc_request(&mut self.tx, message_id, &token, |out| {
            write_continue_request(&c_r, message_3, out)
        })?;
        self.link = Link::WaitM4(state);
        self.begin(now, Step::Message3, message_id, token, len)
    }

    /// The response to message_3 in the plain flow: message_4, or a refusal.
    fn on_message_4(&mut self, now: Instant, head: &Head, datagram: &mut [u8]) -> bool {
        let Link::WaitM4(state) = mem::replace(&mut self.link, Link::Idle) else {
            return true;
        };
        let Some(payload) = datagram.get_mut(head.payload_start..) else {
            return true;
        };
        if head.code != Code::CHANGED || is_error_message(payload) {
            self.handshake_refused(now, head.code, payload);
            return true;
        }
        let config: &'a SessionConfig<'a> = self.config;
        let established =
            match state.read_message_4(&mut self.crypto, config.edhoc.known_ead, payload) {
                Ok((established, _ead)) => established,
                Err(e) => {
                    self.reject(now, RejectReason::Handshake(e));
                    return true;
                }
            };
        match self.derive(&established) {
            Ok(ctx) => {
                let c_r = established.c_r();
                self.link = Link::Open(Open {
                    ctx,
                    c_r,
                    since: now,
                    requests: 0,
                    confirmed: true,
                });
                self.confirmed(c_r);
            }
            Err(e) => self.fail(now, DisconnectReason::Failed(e)),
        }
        true
    }

    /// The response to an OSCORE request. Returns `false` for a protected response that does
    /// not verify: it is dropped (RFC 8613 Section 8.4) and the request stays in flight.
    fn on_response(
        &mut self,
        now: Instant,
        head: &Head,
        id: &RequestId,
        datagram: &mut [u8],
    ) -> bool {
        let Link::Open(open) = &mut self.link else {
            return true;
        };
        if !head.protected {
            if !head.code.is_error() {
                // An unprotected success cannot be authentic.
                return false;
            }
            let confirmed = open.confirmed;
            let oscore_failure = matches!(
                head.code,
                Code::BAD_REQUEST | Code::UNAUTHORIZED | Code::BAD_OPTION
            );
            if !confirmed {
                // The combined request: its message_3 was refused.
                self.link = Link::Idle;
                let payload = datagram.get(head.payload_start..).unwrap_or(&[]);
                self.handshake_refused(now, head.code, payload);
            } else if oscore_failure {
                // The cloud could not verify the request with our context (RFC 8613
                // Section 8.2): it lost the context. Start again at once.
                self.link = Link::Idle;
                self.connected = false;
                self.events
                    .push_status(Status::Disconnected(DisconnectReason::ContextLost(
                        head.code,
                    )));
            } else {
                self.fail(now, DisconnectReason::Error(head.code));
            }
            return true;
        }
        let Ok(response) = open.ctx.verify_response(&mut self.crypto, id, datagram) else {
            return false;
        };
        open.confirmed = true;
        let c_r = open.c_r;
        self.confirmed(c_r);
        let Some(p) = self.pending else {
            return true;
        };
        let code = response.code();
        let echo = response.option(OptionNumber::Echo).unwrap_or(&[]);
        if code.is_success() {
            let payload = response.payload();
            if !payload.is_empty() {
                let content_format =
                    wire::content_format(response.option(OptionNumber::ContentFormat));
                self.command = Some((CommandPayload::new(payload), content_format));
                self.events.push(Note::Command);
            }
            self.pending = None;
            self.echo_len = 0;
            self.events.push(Note::Delivered(p.handle));
        } else if code == Code::UNAUTHORIZED && !p.echo_retried && !echo.is_empty() {
            if let Some(slot) = self.echo.get_mut(..echo.len()) {
                slot.copy_from_slice(echo);
                self.echo_len = echo.len() as u8;
                self.pending = Some(Pending {
                    echo_retried: true,
                    ..p
                });
            } else {
                self.refuse_pending(code);
            }
        } else {
            self.refuse_pending(code);
        }
        true
    }

    /// Ends the pending message with [`Event::Refused`].
    fn refuse_pending(&mut self, code: Code) {
        if let Some(p) = self.pending.take() {
            self.events.push(Note::Refused(p.handle, code));
        }
        self.echo_len = 0;
    }

    /// A verified answer under a context: the link works.
    fn confirmed(&mut self, c_r: ConnectionId) {
        self.failures = 0;
        self.retry_at = None;
        if !self.connected {
            self.connected = true;
            self.events.push(Note::Connected(c_r));
        }
    }

    /// The cloud refused a handshake message with `code` and `payload`.
    fn handshake_refused(&mut self, now: Instant, code: Code, payload: &[u8]) {
        let message = if is_error_message(payload) {
            ErrorMessage::parse(payload).ok()
        } else {
            None
        };
        let Some(message) = message else {
            if code.class() == 5 {
                // The cloud's own failure, not a refusal: an ordinary back-off.
                self.fail(now, DisconnectReason::Error(code));
            } else {
                self.reject(now, RejectReason::Refused(code));
            }
            return;
        };
        if let (2, ErrorInfo::Suites(suites_r), None) = (message.code, message.info, self.suite) {
            // Wrong selected suite: start again at once with a suite both sides support
            // (RFC 9528 Section 6.3.2), once.
            if let Ok(initiator) = Initiator::after_suite_error(&self.config.edhoc, &suites_r) {
                self.suite = Some(initiator.suite());
                self.link = Link::Idle;
                return;
            }
        }
        self.suite = None;
        self.reject(
            now,
            RejectReason::EdhocError {
                err_code: message.code,
                response: code,
            },
        );
    }

    fn reject(&mut self, now: Instant, reason: RejectReason) {
        self.link = Link::Idle;
        self.exchange = None;
        self.connected = false;
        self.events.push_status(Status::Rejected(reason));
        self.back_off(now, REJECT_PENALTY);
    }

    /// MAX_RETRANSMIT reached, or no separate response came.
    fn give_up(&mut self, now: Instant) {
        let confirmed = matches!(&self.link, Link::Open(open) if open.confirmed);
        match self.exchange.as_mut() {
            Some(ex) if confirmed && matches!(ex.step, Step::Request(_)) => {
                ex.parked = true;
                ex.due = false;
                ex.response_deadline = None;
            }
            _ => {
                self.exchange = None;
                if !confirmed {
                    self.link = Link::Idle;
                }
            }
        }
        self.connected = false;
        self.events
            .push_status(Status::Disconnected(DisconnectReason::Timeout));
        self.back_off(now, 1);
    }

    /// An attempt failed without an answer to wait for: drop what is in flight (an unconfirmed
    /// context with it) and back off.
    fn fail(&mut self, now: Instant, reason: DisconnectReason) {
        self.exchange = None;
        if !matches!(&self.link, Link::Open(open) if open.confirmed) {
            self.link = Link::Idle;
        }
        self.connected = false;
        self.events.push_status(Status::Disconnected(reason));
        self.back_off(now, 1);
    }

    fn back_off(&mut self, now: Instant, penalty: u8) {
        self.failures = self.failures.saturating_add(penalty);
        let backoff = &self.config.backoff;
        let doublings = u32::from(self.failures.saturating_sub(1)).min(32);
        let wait = backoff
            .initial_ms
            .saturating_mul(1u64 << doublings)
            .min(backoff.max_ms);
        let mut random = [0u8; 4];
        let jitter = match self.crypto.fill_random(&mut random) {
            Ok(()) => {
                (u128::from(wait / 2) * u128::from(u32::from_le_bytes(random))
                    / u128::from(u32::MAX)) as u64
            }
            Err(_) => 0,
        };
        self.retry_at = Some(Instant::from_millis(
            now.as_millis().saturating_add(wait).saturating_add(jitter),
        ));
    }
}

impl<C, S, const BUF: usize, const CMD: usize> core::fmt::Debug for Session<'_, C, S, BUF, CMD> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let link = match &self.link {
            Link::Idle => "idle",
            Link::WaitM2(_) => "waiting for message_2",
            Link::WaitM4(_) => "waiting for message_4",
            Link::Open(open) if open.confirmed => "connected",
            Link::Open(_) => "waiting for key confirmation",
        };
        f.debug_struct("Session")
            .field("link", &link)
            .field("pending", &self.pending.map(|p| p.handle))
            .field("retry_at", &self.retry_at)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);

    impl rand_core::RngCore for Rng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                *b = self.next_u64() as u8;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand_core::CryptoRng for Rng {}

    type Suite2Session = Session<'static, ferrule_crypto::RustCrypto<Rng>, MemoryStorage>;

    #[test]
    fn session_size() {
        use core::mem::size_of;
        std::println!(
            "Session<RustCrypto<8-byte RNG>, MemoryStorage, 256, 64>: {} B \
             (Link {} B, SecurityContext {} B, InitiatorWaitM2 {} B, InitiatorWaitM4 {} B, \
             Exchange {} B, Notes {} B, CommandPayload<64> {} B, Event<64> {} B)",
            size_of::<Suite2Session>(),
            size_of::<Link<'static>>(),
            size_of::<SecurityContext>(),
            size_of::<InitiatorWaitM2<'static>>(),
            size_of::<InitiatorWaitM4>(),
            size_of::<Exchange>(),
            size_of::<Notes>(),
            size_of::<CommandPayload<64>>(),
            size_of::<Event<64>>(),
        );
        std::println!(
            "edhoc::Error {} B, OscoreError {} B, SessionError {} B, RejectReason {} B, \
             DisconnectReason {} B, Note {} B",
            size_of::<ferrule_proto::edhoc::Error>(),
            size_of::<OscoreError>(),
            size_of::<SessionError>(),
            size_of::<RejectReason>(),
            size_of::<DisconnectReason>(),
            size_of::<Note>(),
        );
        assert!(size_of::<Suite2Session>() <= 2048);
    }
}
