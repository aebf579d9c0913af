//! Shared by the server tests: a cloud directory with registered devices, a server on
//! 127.0.0.1 port 0, and a device client built directly on ferrule-proto (EDHOC initiator +
//! OSCORE context over a tokio UDP socket), plus a minimal HTTP/1.1 client for the admin API.
#![allow(dead_code)]

use core::net::SocketAddr;
use core::time::Duration;
use std::path::{Path, PathBuf};

use ferrule_cloud::paths::CloudDir;
use ferrule_cloud::registry::Registry;
use ferrule_cloud::server::{Server, ServerConfig, SinkSpec};
use ferrule_cloud::{provision_device, CloudIdentity, Overwrite};
use ferrule_crypto::{RustCrypto, SoftwareKey};
use ferrule_device::bundle::Bundle;
use ferrule_proto::coap::{Code, Message, MessageId, MessageType, MessageWriter, OptionNumber};
use ferrule_proto::cose::{Ccs, CoseKey, KeyType};
use ferrule_proto::edhoc::{
    write_continue_request, write_message_1_request, CipherSuite, ConnectionId, Credential,
    ErrorMessage, Initiator, InitiatorConfig, Method, SingleCredential, SuiteList,
};
use ferrule_proto::oscore::{
    build_combined_request, ContextParams, OscoreError, RequestId, SecurityContext,
};
use rand_core::OsRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

pub type Crypto = RustCrypto<OsRng>;

/// A cloud directory with an identity and a registry.
pub struct Cloud {
    pub tmp: tempfile::TempDir,
    pub identity: CloudIdentity,
    pub registry: Registry,
}

impl Cloud {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let identity = CloudIdentity::generate().unwrap();
        identity.save(tmp.path(), Overwrite::Refuse).unwrap();
        let registry = Registry::create(tmp.path()).unwrap();
        Self {
            tmp,
            identity,
            registry,
        }
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    pub fn sink_path(&self) -> PathBuf {
        self.dir().join("telemetry.jsonl")
    }

    /// Registers a device and reads back its bundle.
    pub fn add_device(&self, name: &str, method: Method, suite: CipherSuite) -> DeviceIdentity {
        let provisioned = provision_device(
            &CloudDir::new(self.dir()),
            &self.identity,
            &self.registry,
            name,
            method,
            suite,
        )
        .unwrap();
        DeviceIdentity::from_bundle(&std::fs::read(provisioned.bundle_path).unwrap())
    }

    /// The default configuration: loopback port 0, admin API on loopback port 0, JSON lines
    /// into `sink_path()`.
    pub fn config(&self) -> ServerConfig {
        let mut config = ServerConfig::new(self.dir());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.admin = Some("127.0.0.1:0".parse().unwrap());
        config.sink = SinkSpec::JsonLines(self.sink_path());
        config
    }

    pub async fn start(&self) -> Server {
        Server::bind(self.config()).await.unwrap()
    }

    /// The lines the sink holds, parsed.
    pub fn sink_lines(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.sink_path()).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// What a device holds: its key and credential, and the cloud credential it trusts.
pub struct DeviceIdentity {
    pub name: String,
    pub method: Method,
    pub suite: CipherSuite,
    pub key: SoftwareKey,
    pub credential: Vec<u8>,
    pub server_credential: Vec<u8>,
}

impl DeviceIdentity {
    pub fn from_bundle(bytes: &[u8]) -> Self {
        let bundle = Bundle::parse(bytes).unwrap();
        Self {
            name: bundle.name().to_owned(),
            method: bundle.method(),
            suite: bundle.suite(),
            key: bundle.private_key().unwrap(),
            credential: bundle.device_credential().bytes().to_vec(),
            server_credential: bundle.server_credential().bytes().to_vec(),
        }
    }

    /// A P-256 device that is not registered, with the given kid, trusting `cloud`.
    pub fn unregistered(cloud: &Cloud, kid: &[u8]) -> Self {
        let key = SoftwareKey::generate_p256(&mut OsRng).unwrap();
        let (x, y) = (key.public_key(), key.public_key_y().unwrap());
        let ccs = Ccs {
            subject: Some("intruder"),
            key: CoseKey {
                key_type: KeyType::P256,
                kid: Some(kid),
                x: &x,
                y: Some(&y),
            },
        };
        let mut buf = [0u8; 256];
        let n = ccs.encode(&mut buf).unwrap();
        let (_, server) = cloud
            .identity
            .credential_for(Method::StaticStatic.responder(), CipherSuite::Suite2)
            .unwrap();
        Self {
            name: "intruder".into(),
            method: Method::StaticStatic,
            suite: CipherSuite::Suite2,
            key,
            credential: buf[..n].to_vec(),
            server_credential: server.to_vec(),
        }
    }
}

/// The device's C_I (its OSCORE Recipient ID).
pub const C_I: i8 = -24;

/// A CoAP client on its own UDP socket.
pub struct Client {
    pub socket: UdpSocket,
    pub server: SocketAddr,
    pub crypto: Crypto,
    mid: u16,
}

/// An answer to an OSCORE request, decrypted.
#[derive(Debug)]
pub struct Answer {
    pub code: Code,
    pub content_format: Option<u16>,
    pub payload: Vec<u8>,
}

impl Client {
    pub async fn new(server: SocketAddr) -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
            crypto: RustCrypto::from_os_rng(),
            mid: rand_core::RngCore::next_u32(&mut OsRng) as u16,
        }
    }

    pub fn next_mid(&mut self) -> u16 {
        self.mid = self.mid.wrapping_add(1);
        self.mid
    }

    /// Sends a datagram and waits (5 s at most) for the answer.
    pub async fn exchange(&self, datagram: &[u8]) -> Vec<u8> {
        self.socket.send_to(datagram, self.server).await.unwrap();
        self.receive().await.expect("no answer from the server")
    }

    /// The next datagram, if one comes within a short while.
    pub async fn receive_within(&self, wait: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 2048];
        match tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
            _ => None,
        }
    }

    async fn receive(&self) -> Option<Vec<u8>> {
        self.receive_within(Duration::from_secs(5)).await
    }

    /// A POST to /.well-known/edhoc.
    pub fn edhoc_post(&mut self, payload: &[u8]) -> Vec<u8> {
        let mid = self.next_mid();
        let mut buf = vec![0u8; 64 + payload.len()];
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::Confirmable,
            Code::POST,
            MessageId(mid),
            &mid.to_be_bytes(),
        )
        .unwrap();
        w.option(OptionNumber::UriPath, b".well-known").unwrap();
        w.option(OptionNumber::UriPath, b"edhoc").unwrap();
        w.uint_option(OptionNumber::ContentFormat, 65).unwrap();
        let n = w.payload(payload).unwrap();
        buf.truncate(n);
        buf
    }

    /// Runs a handshake. With `first`, the combined flow: `first` (a plain inner request) is
    /// protected and sent with message_3; the server's answer to it is returned. Without, the
    /// plain flow with message_4. `Err` holds the server's refusal (a raw CoAP response).
    pub async fn handshake(
        &mut self,
        device: &DeviceIdentity,
        first: Option<&[u8]>,
    ) -> Result<(SecurityContext, Option<Answer>), Vec<u8>> {
        let suites = SuiteList::from_suites(&[device.suite]).unwrap();
        let credential = Credential::ccs(&device.credential).unwrap();
        let config = InitiatorConfig {
            method: device.method,
            suites,
            c_i: ConnectionId::from_int(C_I).unwrap(),
            key: &device.key,
            credential,
            id_cred: credential.id_by_kid().unwrap(),
            known_ead: &[],
        };
        let mut m1 = [0u8; 128];
        let (initiator, n1) = Initiator::new(&config)
            .unwrap()
            .write_message_1(&mut self.crypto, &[], &mut m1)
            .unwrap();
        let mut payload = [0u8; 160];
        let n = write_message_1_request(&m1[..n1], &mut payload).unwrap();
        let request = self.edhoc_post(&payload[..n]);
        let response = self.exchange(&request).await;
        let m = Message::parse(&response).unwrap();
        if m.code() != Code::CHANGED {
            return Err(response);
        }
        let mut m2 = m.payload().to_vec();
        let server = Credential::ccs(&device.server_credential).unwrap();
        let (initiator, info) = initiator
            .read_message_2(&mut self.crypto, &mut SingleCredential(server), &mut m2)
            .unwrap();
        let mut m3 = [0u8; 512];
        let (initiator, n3) = initiator
            .write_message_3(&mut self.crypto, &[], &mut m3)
            .unwrap();
        match first {
            Some(plain) => {
                let mut context = context(&mut self.crypto, &initiator.established());
                let (protected, request_id) = self.protect(&mut context, plain);
                let mut combined = vec![0u8; protected.len() + n3 + 16];
                let len = build_combined_request(&protected, &m3[..n3], &mut combined).unwrap();
                combined.truncate(len);
                let response = self.exchange(&combined).await;
                match self.open(&context, &request_id, response.clone()) {
                    Ok(answer) => Ok((context, Some(answer))),
                    Err(_) => Err(response),
                }
            }
            None => {
                let mut payload = [0u8; 600];
                let n = write_continue_request(&info.c_r, &m3[..n3], &mut payload).unwrap();
                let request = self.edhoc_post(&payload[..n]);
                let response = self.exchange(&request).await;
                let m = Message::parse(&response).unwrap();
                if m.code() != Code::CHANGED {
                    return Err(response);
                }
                let mut m4 = m.payload().to_vec();
                let (session, _) = initiator
                    .read_message_4(&mut self.crypto, &[], &mut m4)
                    .unwrap();
                Ok((context(&mut self.crypto, &session), None))
            }
        }
    }

    /// Protects a plain request.
    pub fn protect(&mut self, context: &mut SecurityContext, plain: &[u8]) -> (Vec<u8>, RequestId) {
        let mut out = vec![0u8; plain.len() + 64];
        let (n, id) = context
            .protect_request(&mut self.crypto, &Message::parse(plain).unwrap(), &mut out)
            .unwrap();
        out.truncate(n);
        (out, id)
    }

    /// Verifies a protected response.
    pub fn open(
        &mut self,
        context: &SecurityContext,
        request_id: &RequestId,
        mut response: Vec<u8>,
    ) -> Result<Answer, OscoreError> {
        let m = context.verify_response(&mut self.crypto, request_id, &mut response)?;
        Ok(Answer {
            code: m.code(),
            content_format: m
                .option(OptionNumber::ContentFormat)
                .map(|v| ferrule_proto::coap::decode_uint(v).unwrap() as u16),
            payload: m.payload().to_vec(),
        })
    }

    /// Protects `plain`, sends it, and verifies the answer; `Err` holds an unprotected answer.
    pub async fn request(
        &mut self,
        context: &mut SecurityContext,
        plain: &[u8],
    ) -> Result<Answer, Vec<u8>> {
        let (protected, request_id) = self.protect(context, plain);
        let response = self.exchange(&protected).await;
        self.open(context, &request_id, response.clone())
            .map_err(|_| response)
    }

    /// An inner `POST /t`.
    pub fn telemetry(&mut self, content_format: Option<u16>, payload: &[u8]) -> Vec<u8> {
        let mid = self.next_mid();
        let mut buf = vec![0u8; 64 + payload.len()];
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::Confirmable,
            Code::POST,
            MessageId(mid),
            &[0x70, mid as u8],
        )
        .unwrap();
        w.option(OptionNumber::UriPath, b"t").unwrap();
        if let Some(cf) = content_format {
            w.uint_option(OptionNumber::ContentFormat, u32::from(cf))
                .unwrap();
        }
        let n = w.payload(payload).unwrap();
        buf.truncate(n);
        buf
    }

    /// An inner `GET /c`.
    pub fn get_command(&mut self) -> Vec<u8> {
        let mid = self.next_mid();
        let mut buf = vec![0u8; 32];
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::Confirmable,
            Code::GET,
            MessageId(mid),
            &[0x63, mid as u8],
        )
        .unwrap();
        w.option(OptionNumber::UriPath, b"c").unwrap();
        let n = w.finish();
        buf.truncate(n);
        buf
    }
}

/// The device's OSCORE context from a completed handshake (RFC 9528 Appendix A.1).
pub fn context(
    crypto: &mut Crypto,
    session: &ferrule_proto::edhoc::Established,
) -> SecurityContext {
    let p = session.oscore_parameters(crypto).unwrap();
    let mut params = ContextParams::new(
        &p.master_secret,
        p.sender_id.as_bytes(),
        p.recipient_id.as_bytes(),
    );
    params.master_salt = Some(&p.master_salt);
    SecurityContext::derive(crypto, &params).unwrap()
}

/// The code and payload of an unprotected response.
pub fn code_and_payload(response: &[u8]) -> (Code, Vec<u8>) {
    let m = Message::parse(response).unwrap();
    (m.code(), m.payload().to_vec())
}

/// The EDHOC error code in an unprotected response's payload.
pub fn edhoc_err_code(response: &[u8]) -> i64 {
    let (_, payload) = code_and_payload(response);
    ErrorMessage::parse(&payload).unwrap().code
}

/// A minimal HTTP/1.1 request to the admin API; returns status and body.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    http_with_headers(addr, method, path, &[], body).await
}

pub async fn http_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // The API answers with Content-Length; no chunked bodies to undo.
    (status, body.to_owned())
}

/// The value of one metric line (`name{labels}`) in Prometheus text.
pub fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no metric {series} in\n{text}"))
        .parse()
        .unwrap()
}
