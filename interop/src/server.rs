//! A Ferrule OSCORE server with the resources of aiocoap's OSCORE plugtest server, on a std UDP
//! socket in a thread of its own.
//!
//! Protected requests are looked up by 'kid' and 'kid context' among the plugtest's server
//! contexts B and D, verified (RFC 8613 Section 8.2) and answered with protected responses
//! (Section 8.3); failures get the unprotected error responses of Section 8.2; a server started
//! with [`ServerOptions::state_lost`] has lost its replay windows and answers the first request
//! of each context with a protected 4.01 carrying Echo (Appendix B.1.2). Observations of
//! `/oscore/observe1` and `/oscore/observe2` get the plugtest's notifications "two" and then
//! a final 5.00 "Terminate Observe".
//!
//! As the plugtest server does, each resource checks the request options it receives and
//! records what does not match ([`Server::failures`]).

use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::collections::VecDeque;
use std::io;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use ferrule_crypto::RustCrypto;
use ferrule_proto::coap::{Code, Message, MessageId, MessageIdSequence, MessageType, OptionNumber};
use ferrule_proto::oscore::{
    request_kid, MemoryStorage, OscoreError, RequestId, SecurityContext, Storage,
};
use rand_core::OsRng;

use crate::contexts::PlugtestContext;
use crate::message::{hex, Bytes, OwnedMessage};
use crate::Log;

/// The Sender Sequence Number bound a "restarted" server finds in its storage.
const STATE_LOST_BOUND: u64 = 1000;
/// K of RFC 8613 Appendix B.1.1.
const PERSIST_STEP: u32 = 16;
/// Responses kept for answering retransmitted requests (RFC 7252 Section 4.5).
const RESPONSE_CACHE: usize = 64;

/// How the server behaves.
#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    /// Whether the server speaks OSCORE; without it, the OSCORE option is an unrecognized
    /// critical option, answered with 4.02 Bad Option (RFC 7252 Section 5.4.1), and every
    /// resource is served unprotected (the plugtest's test 16 needs such a server).
    pub oscore: bool,
    /// Start as after an unclean restart: the Sender Sequence Numbers resume from a persisted
    /// bound and the replay windows are lost, so the first request of each context gets an Echo
    /// challenge (RFC 8613 Appendix B.1.1 and B.1.2).
    pub state_lost: bool,
    /// Time from an observation's registration to the first notification, and between
    /// notifications (the plugtest server uses 2 s).
    pub notification_interval: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            oscore: true,
            state_lost: false,
            notification_interval: Duration::from_millis(500),
        }
    }
}

/// Something the server did, for tests to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An unprotected request was answered.
    Plain {
        /// The request's Uri-Path.
        path: String,
        /// The response code.
        code: Code,
    },
    /// A protected request verified with this context and was answered with a protected
    /// response.
    Protected {
        /// The context (`'b'` or `'d'`).
        context: char,
        /// The request's Uri-Path.
        path: String,
        /// The (inner) response code.
        code: Code,
    },
    /// A protected request failed verification and got an unprotected error response.
    Rejected {
        /// Why.
        error: OscoreError,
        /// The response code sent.
        code: Code,
    },
    /// A verified request was answered with a protected Echo challenge.
    EchoChallenge {
        /// The context.
        context: char,
    },
    /// An OSCORE request reached a server without OSCORE and got 4.02 Bad Option.
    UnknownCriticalOption,
    /// A protected notification was sent.
    Notification {
        /// The context.
        context: char,
        /// The (inner) code.
        code: Code,
    },
    /// An observation ended.
    ObservationEnded {
        /// Why.
        reason: &'static str,
    },
}

#[derive(Default)]
struct Shared {
    events: Vec<Event>,
    failures: Vec<String>,
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running server; dropping it stops the thread.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Mutex<Shared>>,
    log: Log,
}

impl core::fmt::Debug for Server {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds a fresh port on 127.0.0.1 and starts serving.
    ///
    /// # Errors
    /// If the socket cannot be bound, the contexts cannot be derived or the thread cannot be
    /// spawned.
    pub fn start(options: ServerOptions, log: Log) -> io::Result<Self> {
        let socket = UdpSocket::bind(("127.0.0.1", 0))?;
        let addr = socket.local_addr()?;
        let mut crypto = RustCrypto::from_os_rng();
        let mut contexts = Vec::new();
        for which in [PlugtestContext::B, PlugtestContext::D] {
            let mut ctx = which.derive().map_err(io::Error::other)?;
            let mut storage = MemoryStorage::new();
            if options.state_lost {
                storage
                    .store_sequence_bound(STATE_LOST_BOUND)
                    .map_err(io::Error::other)?;
            }
            ctx.resume(&mut storage, PERSIST_STEP)
                .map_err(io::Error::other)?;
            contexts.push(ServerContext {
                which,
                ctx,
                storage,
            });
        }
        let mids = MessageIdSequence::random(&mut crypto).map_err(io::Error::other)?;
        log.line(format_args!(
            "Ferrule plugtest server on {addr}: oscore {}, state lost {}",
            options.oscore, options.state_lost
        ));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            socket,
            crypto,
            contexts,
            options,
            mids,
            observations: Vec::new(),
            cache: VecDeque::new(),
            shared: Arc::clone(&shared),
            log: log.clone(),
        };
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ferrule-plugtest-server".into())
            .spawn(move || worker.run(&stop_flag))?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
            shared,
            log,
        })
    }

    /// The address the server listens on.
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's log.
    pub const fn log(&self) -> &Log {
        &self.log
    }

    /// Removes and returns the events so far.
    pub fn take_events(&self) -> Vec<Event> {
        core::mem::take(&mut lock(&self.shared).events)
    }

    /// Removes and returns the request checks that failed so far.
    pub fn failures(&self) -> Vec<String> {
        core::mem::take(&mut lock(&self.shared).failures)
    }

    /// Whether the server thread is still serving.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the thread and waits for it (within about 100 ms).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                self.log.line("server thread panicked");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

struct ServerContext {
    which: PlugtestContext,
    ctx: SecurityContext,
    storage: MemoryStorage,
}

struct Observed {
    peer: SocketAddr,
    token: Vec<u8>,
    context: usize,
    request_id: RequestId,
    notifications_sent: u32,
    due: Instant,
    /// Message IDs of the Confirmable notifications sent, to match a Reset.
    mids: Vec<u16>,
}

/// What a resource answers.
struct Answer {
    response: OwnedMessage,
    /// Register an observation (only for a protected request).
    observe: bool,
}

impl Answer {
    const fn plain(response: OwnedMessage) -> Self {
        Self {
            response,
            observe: false,
        }
    }
}

/// The transport fields of a reply to a request.
#[derive(Clone, Copy)]
struct Reply<'a> {
    peer: SocketAddr,
    msg_type: MessageType,
    mid: MessageId,
    token: &'a [u8],
}

struct Worker {
    socket: UdpSocket,
    crypto: RustCrypto<OsRng>,
    contexts: Vec<ServerContext>,
    options: ServerOptions,
    mids: MessageIdSequence,
    observations: Vec<Observed>,
    cache: VecDeque<(SocketAddr, u16, Vec<u8>)>,
    shared: Arc<Mutex<Shared>>,
    log: Log,
}

impl Worker {
    fn run(&mut self, stop: &AtomicBool) {
        if let Err(e) = self
            .socket
            .set_read_timeout(Some(Duration::from_millis(20)))
        {
            self.log
                .line(format_args!("cannot set a read timeout: {e}"));
            return;
        }
        let mut buf = vec![0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            self.send_due_notifications();
            match self.socket.recv_from(&mut buf) {
                Ok((n, peer)) => {
                    let datagram = buf[..n].to_vec();
                    self.handle(&datagram, peer);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(e) => {
                    self.log.line(format_args!("socket error, stopping: {e}"));
                    return;
                }
            }
        }
        self.log.line("server stopped");
    }

    fn event(&self, event: Event) {
        self.log.line(format_args!("event: {event:?}"));
        lock(&self.shared).events.push(event);
    }

    fn failure(&self, what: String) {
        self.log.line(format_args!("CHECK FAILED: {what}"));
        lock(&self.shared).failures.push(what);
    }

    fn send(&self, bytes: &[u8], peer: SocketAddr) {
        if let Err(e) = self.socket.send_to(bytes, peer) {
            self.log.line(format_args!("sending to {peer} failed: {e}"));
        }
    }

    fn handle(&mut self, datagram: &[u8], peer: SocketAddr) {
        let msg = match Message::parse(datagram) {
            Ok(m) => m,
            Err(e) => {
                self.log.line(format_args!(
                    "<- {peer}: malformed datagram dropped ({e}): {}",
                    hex(datagram)
                ));
                return;
            }
        };
        self.log.line(format_args!(
            "<- {peer}: {:?} {} MID {} token {}: {}",
            msg.msg_type(),
            msg.code(),
            msg.message_id().0,
            hex(msg.token()),
            hex(datagram)
        ));
        match msg.msg_type() {
            MessageType::Acknowledgement => return,
            MessageType::Reset => {
                self.cancel_by_reset(peer, msg.message_id());
                return;
            }
            MessageType::Confirmable | MessageType::NonConfirmable => {}
        }
        if !msg.code().is_request() {
            if msg.msg_type() == MessageType::Confirmable {
                self.send_reset(peer, msg.message_id());
            }
            return;
        }
        let mid = msg.message_id();
        if let Some((_, _, cached)) = self
            .cache
            .iter()
            .find(|(p, m, _)| *p == peer && *m == mid.0)
        {
            self.log.line("duplicate request: resending the response");
            self.send(cached, peer);
            return;
        }
        let token = msg.token().to_vec();
        let reply = Reply {
            peer,
            msg_type: if msg.msg_type() == MessageType::Confirmable {
                MessageType::Acknowledgement
            } else {
                MessageType::NonConfirmable
            },
            mid: if msg.msg_type() == MessageType::Confirmable {
                mid
            } else {
                self.mids.next_id()
            },
            token: &token,
        };
        let response = if msg.option(OptionNumber::Oscore).is_none() {
            self.handle_plain(&OwnedMessage::from_message(&msg), reply)
        } else if self.options.oscore {
            self.handle_protected(datagram, reply)
        } else {
            self.event(Event::UnknownCriticalOption);
            OwnedMessage::new(Code::BAD_OPTION)
                .with_payload(b"Unrecognized critical option 9 (OSCORE)")
                .encode(reply.msg_type, reply.mid, reply.token)
                .ok()
        };
        if let Some(bytes) = response {
            self.log.line(format_args!("-> {peer}: {}", hex(&bytes)));
            self.send(&bytes, peer);
            if self.cache.len() >= RESPONSE_CACHE {
                self.cache.pop_front();
            }
            self.cache.push_back((peer, mid.0, bytes));
        }
    }

    fn handle_plain(&mut self, request: &OwnedMessage, reply: Reply<'_>) -> Option<Vec<u8>> {
        let path = request.path();
        self.log.line(format_args!("plain request {request}"));
        let response = if !self.options.oscore || path == "oscore/hello/coap" {
            self.resource(request, None, reply).response
        } else {
            // The plugtest's protected resources require OSCORE (its test 17).
            OwnedMessage::new(Code::UNAUTHORIZED)
                .with_payload(b"This resource requires OSCORE (option 9)")
        };
        self.event(Event::Plain {
            path,
            code: response.code,
        });
        self.log.line(format_args!("plain response {response}"));
        response.encode(reply.msg_type, reply.mid, reply.token).ok()
    }

    /// The context for a request's 'kid' and 'kid context': the one whose Recipient ID and ID
    /// Context match exactly; without a kid context, the first whose Recipient ID matches.
    fn find_context(&self, kid: &[u8], kid_context: Option<&[u8]>) -> Option<usize> {
        self.contexts
            .iter()
            .position(|c| {
                c.ctx.recipient_id().as_slice() == kid
                    && c.ctx.id_context().map(|i| i.as_slice()) == kid_context
            })
            .or_else(|| {
                self.contexts
                    .iter()
                    .position(|c| c.ctx.matches(kid, kid_context))
            })
    }

    fn reject(&self, error: OscoreError, reply: Reply<'_>) -> Option<Vec<u8>> {
        let mut out = [0u8; 128];
        match error.write_error_response(reply.msg_type, reply.mid, reply.token, &mut out) {
            Ok(Some(len)) => {
                if let Some(code) = error.response_code() {
                    self.event(Event::Rejected { error, code });
                }
                Some(out[..len].to_vec())
            }
            Ok(None) => {
                self.log
                    .line(format_args!("request dropped without response: {error}"));
                None
            }
            Err(e) => {
                self.log
                    .line(format_args!("cannot write the error response: {e}"));
                None
            }
        }
    }

    fn handle_protected(&mut self, datagram: &[u8], reply: Reply<'_>) -> Option<Vec<u8>> {
        let (kid, kid_context) = match request_kid(datagram) {
            Ok(k) => (k.kid.to_vec(), k.kid_context.map(<[u8]>::to_vec)),
            Err(e) => return self.reject(e, reply),
        };
        let Some(index) = self.find_context(&kid, kid_context.as_deref()) else {
            self.log.line(format_args!(
                "no context for kid {} kid context {}",
                hex(&kid),
                kid_context.as_deref().map_or_else(|| "-".into(), hex)
            ));
            return self.reject(OscoreError::ContextNotFound, reply);
        };
        let name = self.contexts[index].which.name();
        let mut buf = datagram.to_vec();
        let verified = {
            let c = &mut self.contexts[index];
            c.ctx
                .verify_request(&mut self.crypto, &mut buf)
                .map(|v| (OwnedMessage::from_unprotected(&v.message), v.request_id))
        };
        let (request, mut request_id) = match verified {
            Ok(v) => v,
            Err(OscoreError::EchoRequired(request_id)) => {
                let c = &mut self.contexts[index];
                let mut out = vec![0u8; 256];
                let written = c.ctx.reserve(&mut c.storage).and_then(|_| {
                    c.ctx.protect_echo_challenge(
                        &mut self.crypto,
                        &request_id,
                        reply.msg_type,
                        reply.mid,
                        reply.token,
                        &mut out,
                    )
                });
                return match written {
                    Ok(len) => {
                        self.event(Event::EchoChallenge { context: name });
                        out.truncate(len);
                        Some(out)
                    }
                    Err(e) => {
                        self.log
                            .line(format_args!("cannot protect the Echo challenge: {e}"));
                        None
                    }
                };
            }
            Err(e) => {
                self.log
                    .line(format_args!("context {name}: request does not verify: {e}"));
                return self.reject(e, reply);
            }
        };
        self.log.line(format_args!(
            "context {name}: verified request piv {} {request}",
            request_id.partial_iv().value()
        ));
        let answer = self.resource(&request, Some(index), reply);
        let plain = answer
            .response
            .encode(reply.msg_type, reply.mid, reply.token)
            .ok()?;
        let c = &mut self.contexts[index];
        let mut out = vec![0u8; plain.len() + 64];
        let protected = Message::parse(&plain)
            .map_err(OscoreError::Coap)
            .and_then(|m| {
                c.ctx.reserve(&mut c.storage)?;
                c.ctx
                    .protect_response(&mut self.crypto, &mut request_id, &m, &mut out)
            });
        match protected {
            Ok(len) => {
                out.truncate(len);
                self.log
                    .line(format_args!("context {name}: response {}", answer.response));
                self.event(Event::Protected {
                    context: name,
                    path: request.path(),
                    code: answer.response.code,
                });
                if answer.observe {
                    self.observations.push(Observed {
                        peer: reply.peer,
                        token: reply.token.to_vec(),
                        context: index,
                        request_id,
                        notifications_sent: 0,
                        due: Instant::now() + self.options.notification_interval,
                        mids: Vec::new(),
                    });
                }
                Some(out)
            }
            Err(e) => {
                self.log
                    .line(format_args!("cannot protect the response: {e}"));
                None
            }
        }
    }

    /// Records a failure unless the request's options (without Uri-Path and Echo) are exactly
    /// `expected`, and its payload `payload` (the plugtest server's "additional verify").
    fn expect(
        &self,
        request: &OwnedMessage,
        expected: &OwnedMessage,
        ignore: &[OptionNumber],
        payload: &[u8],
    ) {
        let mut skip = vec![OptionNumber::UriPath, OptionNumber::Echo];
        skip.extend_from_slice(ignore);
        let got = request.options_except(&skip);
        let want = expected.options_except(&skip);
        if got != want {
            self.failure(format!(
                "{}: request options {:?} differ from the expected {:?}",
                request.path(),
                OwnedMessage {
                    code: request.code,
                    options: got,
                    payload: Vec::new()
                },
                OwnedMessage {
                    code: request.code,
                    options: want,
                    payload: Vec::new()
                },
            ));
        }
        if request.payload != payload {
            self.failure(format!(
                "{}: request payload {} differs from the expected {}",
                request.path(),
                Bytes(&request.payload),
                Bytes(payload)
            ));
        }
    }

    /// The plugtest's resources (aiocoap `contrib/oscore-plugtest/plugtest-server`, by
    /// behaviour).
    fn resource(
        &mut self,
        request: &OwnedMessage,
        context: Option<usize>,
        reply: Reply<'_>,
    ) -> Answer {
        let none = OwnedMessage::new(request.code);
        let hello = OwnedMessage::new(Code::CONTENT)
            .with_uint(OptionNumber::ContentFormat, 0)
            .with_payload(b"Hello World!");
        let path = request.path();
        let observe = request.uint(OptionNumber::Observe);
        match (path.as_str(), request.code) {
            ("oscore/hello/coap" | "oscore/hello/1", Code::GET) => {
                // An Observe request on a resource that is not observable (test 5) is
                // answered like any GET, without Observe.
                self.expect(request, &none, &[OptionNumber::Observe], b"");
                Answer::plain(hello)
            }
            ("oscore/hello/2", Code::GET) => {
                let expected = none.with_option(OptionNumber::UriQuery, b"first=1");
                self.expect(request, &expected, &[], b"");
                Answer::plain(hello.with_option(OptionNumber::ETag, b"\x2b"))
            }
            ("oscore/hello/3", Code::GET) => {
                let expected = none.with_uint(OptionNumber::Accept, 0);
                self.expect(request, &expected, &[], b"");
                Answer::plain(hello.with_uint(OptionNumber::MaxAge, 5))
            }
            ("oscore/observe1" | "oscore/observe2", Code::GET) => {
                let one = OwnedMessage::new(Code::CONTENT)
                    .with_uint(OptionNumber::ContentFormat, 0)
                    .with_payload(b"one");
                let before = self.observations.len();
                self.observations
                    .retain(|o| !(o.peer == reply.peer && o.token == reply.token));
                if self.observations.len() != before {
                    // Deregistration (RFC 7641 Section 3.6): Observe 1, or a GET without
                    // Observe with the observation's token.
                    self.event(Event::ObservationEnded {
                        reason: "deregistered",
                    });
                }
                if observe == Some(0) && context.is_some() {
                    // Notifications carry increasing Observe values 1, 2, ...: the Outer value
                    // must increase (aiocoap's CoAP layer drops a notification whose Outer
                    // Observe is not newer, RFC 7641 Section 3.4). RFC 8613 Section 4.1.3.5.2
                    // wants the Inner Observe of a notification empty, but `protect_response`
                    // copies the same value inside; aiocoap ignores the Inner value.
                    self.expect(request, &none.with_uint(OptionNumber::Observe, 0), &[], b"");
                    Answer {
                        response: one.with_uint(OptionNumber::Observe, 1),
                        observe: true,
                    }
                } else {
                    Answer::plain(one)
                }
            }
            ("oscore/hello/6", Code::POST) => {
                let expected = none.with_uint(OptionNumber::ContentFormat, 0);
                self.expect(request, &expected, &[], b"\x4a");
                Answer::plain(
                    OwnedMessage::new(Code::CHANGED)
                        .with_uint(OptionNumber::ContentFormat, 0)
                        .with_payload(b"\x4a"),
                )
            }
            ("oscore/hello/7", Code::PUT) => {
                if request.option(OptionNumber::IfNoneMatch).is_some() {
                    let expected = none
                        .with_option(OptionNumber::IfNoneMatch, b"")
                        .with_uint(OptionNumber::ContentFormat, 0);
                    self.expect(request, &expected, &[], b"\x8a");
                    Answer::plain(OwnedMessage::new(Code::PRECONDITION_FAILED))
                } else {
                    let expected = none
                        .with_option(OptionNumber::IfMatch, b"\x7b")
                        .with_uint(OptionNumber::ContentFormat, 0);
                    self.expect(request, &expected, &[], b"\x7a");
                    Answer::plain(OwnedMessage::new(Code::CHANGED))
                }
            }
            ("oscore/test", Code::DELETE) => {
                self.expect(request, &none, &[], b"");
                Answer::plain(OwnedMessage::new(Code::DELETED))
            }
            (
                "oscore/hello/coap" | "oscore/hello/1" | "oscore/hello/2" | "oscore/hello/3"
                | "oscore/observe1" | "oscore/observe2" | "oscore/hello/6" | "oscore/hello/7"
                | "oscore/test",
                _,
            ) => Answer::plain(OwnedMessage::new(Code::METHOD_NOT_ALLOWED)),
            _ => Answer::plain(OwnedMessage::new(Code::NOT_FOUND)),
        }
    }

    fn send_due_notifications(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.observations.len() {
            if self.observations[i].due > now {
                i += 1;
                continue;
            }
            let finished = self.notify(i);
            if finished {
                self.observations.remove(i);
                self.event(Event::ObservationEnded {
                    reason: "terminated by the server",
                });
            } else {
                i += 1;
            }
        }
    }

    /// Sends the next notification of observation `i` (Confirmable, with a Partial IV of its
    /// own, RFC 8613 Section 8.3); returns whether the observation is over.
    fn notify(&mut self, i: usize) -> bool {
        let mid = self.mids.next_id();
        let interval = self.options.notification_interval;
        let Some(o) = self.observations.get_mut(i) else {
            return true;
        };
        let message = if o.notifications_sent == 0 {
            OwnedMessage::new(Code::CONTENT)
                .with_uint(OptionNumber::Observe, 2)
                .with_uint(OptionNumber::ContentFormat, 0)
                .with_payload(b"two")
        } else {
            // An error ends the observation and carries no Observe option (RFC 7641
            // Section 3.2 and 4.2).
            OwnedMessage::new(Code::INTERNAL_SERVER_ERROR)
                .with_uint(OptionNumber::ContentFormat, 0)
                .with_payload(b"Terminate Observe")
        };
        o.notifications_sent += 1;
        o.due = Instant::now() + interval;
        o.mids.push(mid.0);
        let finished = o.notifications_sent >= 2;
        let (peer, context, token) = (o.peer, o.context, o.token.clone());
        let Ok(plain) = message.encode(MessageType::Confirmable, mid, &token) else {
            return true;
        };
        let Some(c) = self.contexts.get_mut(context) else {
            return true;
        };
        let mut out = vec![0u8; plain.len() + 64];
        let protected = Message::parse(&plain)
            .map_err(OscoreError::Coap)
            .and_then(|m| {
                c.ctx.reserve(&mut c.storage)?;
                c.ctx
                    .protect_response(&mut self.crypto, &mut o.request_id, &m, &mut out)
            });
        let name = c.which.name();
        match protected {
            Ok(len) => {
                self.log.line(format_args!(
                    "-> {peer}: notification {message}: {}",
                    hex(&out[..len])
                ));
                self.send(&out[..len], peer);
                self.event(Event::Notification {
                    context: name,
                    code: message.code,
                });
            }
            Err(e) => {
                self.log
                    .line(format_args!("cannot protect a notification: {e}"));
                return true;
            }
        }
        finished
    }

    fn cancel_by_reset(&mut self, peer: SocketAddr, mid: MessageId) {
        let before = self.observations.len();
        self.observations
            .retain(|o| !(o.peer == peer && o.mids.contains(&mid.0)));
        if self.observations.len() != before {
            self.event(Event::ObservationEnded {
                reason: "reset by the client",
            });
        }
    }

    fn send_reset(&self, peer: SocketAddr, mid: MessageId) {
        if let Ok(bytes) = OwnedMessage::new(Code::EMPTY).encode(MessageType::Reset, mid, &[]) {
            self.send(&bytes, peer);
        }
    }
}
