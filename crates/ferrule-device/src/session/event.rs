//! What a [`Session`](super::Session) reports to the application.

use ferrule_proto::coap::Code;
use ferrule_proto::edhoc::{self, ConnectionId};

use super::SessionError;

/// Names one message queued with [`Session::send`](super::Session::send) or
/// [`Session::fetch_command`](super::Session::fetch_command), in the events about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageHandle(pub(crate) u32);

impl MessageHandle {
    /// The handle's number: handles count up from 1 in the order messages were queued.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// The bytes of a command from the cloud (the payload of a `2.04` to `POST /t` or of a `2.05`
/// to `GET /c`), copied into a buffer of `N` bytes. Dereferences to `[u8]`.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandPayload<const N: usize = 64> {
    bytes: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> CommandPayload<N> {
    /// Copies a payload; keeps the first `N` bytes of a longer one.
    pub(crate) fn new(payload: &[u8]) -> Self {
        let mut bytes = [0u8; N];
        let len = payload.len().min(N);
        bytes[..len].copy_from_slice(&payload[..len]);
        Self {
            bytes,
            len,
            truncated: payload.len() > N,
        }
    }

    /// The command bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Whether the command was longer than `N` bytes and only its start is kept (the cloud
    /// considers it delivered): choose the session's `CMD` for the largest command.
    pub const fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl<const N: usize> core::ops::Deref for CommandPayload<N> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<const N: usize> AsRef<[u8]> for CommandPayload<N> {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<const N: usize> core::fmt::Debug for CommandPayload<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CommandPayload")
            .field("bytes", &self.as_slice())
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// Why the cloud refused a handshake (docs/protocol.md: "Errors and recovery"). The session
/// backs off before it tries again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The cloud answered with an EDHOC error message (RFC 9528 Section 6): ERR_CODE 1 (a
    /// reason), 2 (no common cipher suite), 3 (unknown credential); `response` is the CoAP code
    /// it came in (4.00, 4.01, 5.00).
    EdhocError {
        /// ERR_CODE.
        err_code: i64,
        /// The CoAP response code.
        response: Code,
    },
    /// The cloud refused a handshake request with this CoAP code and no EDHOC error message:
    /// `4.01 Unauthorized` to the combined request means an unknown or revoked device.
    Refused(Code),
    /// The cloud's message_2 or message_4 failed here: it is not the configured cloud, or the
    /// message was damaged or forged.
    Handshake(edhoc::Error),
}

/// Why the session lost its link to the cloud. A pending message stays pending and is sent
/// again after the back-off (or at once, for [`DisconnectReason::ContextLost`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// No answer after MAX_RETRANSMIT retransmissions (RFC 7252 Section 4.2), or no separate
    /// response within EXCHANGE_LIFETIME after an empty acknowledgement.
    Timeout,
    /// The cloud answered a request with a Reset.
    Reset,
    /// The cloud answered an OSCORE request with this unprotected error (`4.01` "Security
    /// context not found" after a restart, RFC 8613 Section 8.2): the context is dropped and a
    /// new handshake starts at once.
    ContextLost(Code),
    /// The cloud, or a proxy on the way, answered with an unprotected error that is neither a
    /// refusal nor an OSCORE verification failure (a `5.03` when overloaded, say): the context,
    /// if confirmed, is kept.
    Error(Code),
    /// A step failed here (storage, crypto provider, buffer size).
    Failed(SessionError),
}

/// What happened, in order, since the last [`Session::poll_event`](super::Session::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<const CMD: usize = 64> {
    /// A security context is established and confirmed by the cloud (message_4, or the first
    /// protected response); also after a rekey and after a [`Event::Disconnected`].
    Connected {
        /// C_R, the connection identifier the cloud chose: the device's OSCORE Sender ID.
        c_r: ConnectionId,
    },
    /// The message was answered with a verified protected success response: for telemetry,
    /// the cloud accepted it (it is in the sink). Reported exactly once per message.
    Delivered(MessageHandle),
    /// A command from the cloud (docs/protocol.md: the payload of a `2.04` to `POST /t`, or of
    /// a `2.05` to `GET /c`). It arrives before the [`Event::Delivered`] of the message whose
    /// response carried it.
    Command {
        /// The command bytes (at most `CMD`; see [`CommandPayload::is_truncated`]).
        payload: CommandPayload<CMD>,
        /// Its Content-Format, if the cloud sent one.
        content_format: Option<u16>,
    },
    /// The cloud answered the message with a verified protected error (for example `4.00` for
    /// a payload it refused, `5.00` if its sink failed). The message is dropped: send it
    /// again if it should be retried.
    Refused {
        /// The message.
        handle: MessageHandle,
        /// The inner response code.
        code: Code,
    },
    /// The cloud refused the handshake. The message stays pending; the session backs off.
    Rejected {
        /// Why.
        reason: RejectReason,
    },
    /// The link was lost. The message stays pending; the session backs off.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
}

/// An event as queued. A command's payload waits in the session's command slot, the reason of
/// the latest link-state change in the queue's status slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Note {
    Connected(ConnectionId),
    Delivered(MessageHandle),
    Command,
    Refused(MessageHandle, Code),
    Status,
}

/// The reason of a [`Note::Status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Rejected(RejectReason),
    Disconnected(DisconnectReason),
}

/// Capacity of the event queue.
pub(crate) const EVENT_CAPACITY: usize = 6;

/// The event queue: a fixed ring of small [`Note`]s, and one slot for the reason of a
/// [`Status`] (reasons are large, and only the latest one matters).
///
/// A status that is not read before the next one is replaced by it (the link state has moved
/// on). When the ring is full, the oldest [`Note::Connected`] or [`Note::Status`] makes room;
/// deliveries, refusals and commands are never dropped (the session refuses new messages
/// before they could be).
#[derive(Debug)]
pub(crate) struct Notes {
    items: [Option<Note>; EVENT_CAPACITY],
    head: usize,
    len: usize,
    status: Option<Status>,
}

impl Notes {
    pub(crate) const fn new() -> Self {
        Self {
            items: [None; EVENT_CAPACITY],
            head: 0,
            len: 0,
            status: None,
        }
    }

    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// Appends a note.
    pub(crate) fn push(&mut self, note: Note) {
        if self.len == EVENT_CAPACITY {
            let victim = self
                .position(|n| matches!(n, Note::Connected(_) | Note::Status))
                .unwrap_or(0);
            self.remove(victim);
        }
        self.items[(self.head + self.len) % EVENT_CAPACITY] = Some(note);
        self.len += 1;
    }

    /// Appends a status, replacing one not read yet.
    pub(crate) fn push_status(&mut self, status: Status) {
        if let Some(i) = self.position(|n| n == Note::Status) {
            self.remove(i);
        }
        self.status = Some(status);
        self.push(Note::Status);
    }

    /// Takes the oldest note, with the reason of a status.
    pub(crate) fn pop(&mut self) -> Option<(Note, Option<Status>)> {
        if self.len == 0 {
            return None;
        }
        let note = self.items[self.head].take()?;
        self.head = (self.head + 1) % EVENT_CAPACITY;
        self.len -= 1;
        let status = match note {
            Note::Status => self.status.take(),
            _ => None,
        };
        Some((note, status))
    }

    fn position(&self, f: impl Fn(Note) -> bool) -> Option<usize> {
        (0..self.len).find(|i| self.items[(self.head + i) % EVENT_CAPACITY].is_some_and(&f))
    }

    /// Removes the `i`-th oldest note.
    fn remove(&mut self, i: usize) {
        for k in i..self.len.saturating_sub(1) {
            self.items[(self.head + k) % EVENT_CAPACITY] =
                self.items[(self.head + k + 1) % EVENT_CAPACITY];
        }
        if self.len > 0 {
            self.items[(self.head + self.len - 1) % EVENT_CAPACITY] = None;
            self.len -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_coalesce_and_make_room() {
        let mut q = Notes::new();
        q.push(Note::Delivered(MessageHandle(1)));
        q.push_status(Status::Disconnected(DisconnectReason::Timeout));
        q.push(Note::Delivered(MessageHandle(2)));
        q.push_status(Status::Disconnected(DisconnectReason::Reset));
        assert_eq!(q.len(), 3);
        for i in 3..=6 {
            q.push(Note::Delivered(MessageHandle(i)));
        }
        assert_eq!(q.len(), EVENT_CAPACITY);
        for i in 1..=6 {
            assert_eq!(q.pop(), Some((Note::Delivered(MessageHandle(i)), None)));
        }
        assert!(q.pop().is_none());

        q.push_status(Status::Disconnected(DisconnectReason::Timeout));
        q.push(Note::Delivered(MessageHandle(7)));
        q.push_status(Status::Rejected(RejectReason::Refused(Code::UNAUTHORIZED)));
        assert_eq!(q.pop(), Some((Note::Delivered(MessageHandle(7)), None)));
        assert_eq!(
            q.pop(),
            Some((
                Note::Status,
                Some(Status::Rejected(RejectReason::Refused(Code::UNAUTHORIZED)))
            ))
        );
        assert!(q.pop().is_none());
    }
}
