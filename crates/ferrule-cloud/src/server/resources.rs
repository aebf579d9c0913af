//! The resources behind OSCORE (docs/protocol.md): `POST /t` telemetry, written to the sink
//! before the 2.04 that acknowledges it (which carries the oldest pending command, if any), and
//! `GET /c`, which answers 2.05 with the oldest pending command (empty when none).

use core::net::SocketAddr;
use std::time::SystemTime;

use ferrule_proto::coap::{decode_uint, Code, OptionNumber};
use ferrule_proto::oscore::Unprotected;

use super::endpoint::Endpoint;
use super::events::Reason;
use super::payload::payload_to_json;
use super::sink::TelemetryRecord;

/// The inner (to be protected) response to an inner request.
#[derive(Debug)]
pub(crate) struct InnerResponse {
    pub(crate) code: Code,
    pub(crate) content_format: Option<u16>,
    pub(crate) payload: Vec<u8>,
    /// The command the payload is, to be marked delivered once sent.
    pub(crate) command: Option<i64>,
}

impl Endpoint<'_> {
    /// Routes a verified inner request to its resource.
    pub(crate) fn inner_request(
        &mut self,
        device: &str,
        kid: &[u8],
        peer: SocketAddr,
        request: &Unprotected<'_>,
    ) -> InnerResponse {
        let mut path = request
            .options()
            .filter(|o| o.number == OptionNumber::UriPath)
            .map(|o| o.value);
        let resource = match (path.next(), path.next()) {
            (Some(segment), None) => segment,
            _ => b"".as_slice(),
        };
        match (resource, request.code()) {
            (b"t", Code::POST) => self.telemetry(device, kid, peer, request),
            (b"c", Code::GET) => self.next_command(device, Code::CONTENT),
            (b"t" | b"c", _) => InnerResponse::code(Code::METHOD_NOT_ALLOWED),
            _ => {
                self.events.reject(
                    &self.registry,
                    Reason::NotFound,
                    Some(device),
                    "no such resource",
                    peer,
                );
                InnerResponse::code(Code::NOT_FOUND)
            }
        }
    }

    /// `POST /t`: to the sink, then 2.04 with the oldest pending command.
    fn telemetry(
        &mut self,
        device: &str,
        kid: &[u8],
        peer: SocketAddr,
        request: &Unprotected<'_>,
    ) -> InnerResponse {
        let content_format = match request.option(OptionNumber::ContentFormat) {
            None => None,
            Some(value) => match decode_uint(value).ok().and_then(|v| u16::try_from(v).ok()) {
                Some(cf) => Some(cf),
                None => return self.bad_payload(device, peer, "invalid Content-Format option"),
            },
        };
        let payload = match payload_to_json(content_format, request.payload()) {
            Ok(payload) => payload,
            Err(e) => return self.bad_payload(device, peer, &e.to_string()),
        };
        let record = TelemetryRecord {
            device: device.to_owned(),
            kid: kid.to_vec(),
            received_at: SystemTime::now(),
            content_format,
            payload,
        };
        if let Err(e) = self.sink.write(&record) {
            self.metrics.sink_failure();
            tracing::error!(device, error = %e, "the sink refused telemetry; answering 5.00");
            return InnerResponse::code(Code::INTERNAL_SERVER_ERROR);
        }
        self.metrics.telemetry();
        self.next_command(device, Code::CHANGED)
    }

    fn bad_payload(&mut self, device: &str, peer: SocketAddr, detail: &str) -> InnerResponse {
        self.events.reject(
            &self.registry,
            Reason::BadPayload,
            Some(device),
            detail,
            peer,
        );
        InnerResponse {
            code: Code::BAD_REQUEST,
            content_format: None,
            payload: detail.as_bytes().to_vec(),
            command: None,
        }
    }

    /// A response with `code` carrying the device's oldest pending command (empty if none).
    fn next_command(&mut self, device: &str, code: Code) -> InnerResponse {
        match self.registry.pending_commands(device) {
            Ok(commands) => match commands.into_iter().next() {
                Some(command) => InnerResponse {
                    code,
                    content_format: command.content_format,
                    payload: command.payload,
                    command: Some(command.id),
                },
                None => InnerResponse::code(code),
            },
            Err(e) => {
                // The telemetry is kept; the command waits for the next exchange.
                tracing::error!(device, error = %e, "cannot read pending commands");
                InnerResponse::code(code)
            }
        }
    }
}
