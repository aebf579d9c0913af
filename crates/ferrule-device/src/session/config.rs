//! How a [`Session`](super::Session) is set up: identity, peer, flow and timing.

use ferrule_proto::coap::TransmissionParameters;
use ferrule_proto::crypto::PrivateKey;
use ferrule_proto::edhoc::{
    CipherSuite, ConnectionId, Credential, InitiatorConfig, Method, SuiteList,
};

use super::SessionError;
use crate::bundle::Bundle;

/// How message_3 reaches the cloud (docs/protocol.md, Handshake).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flow {
    /// message_3 rides in the first OSCORE request, with the EDHOC option (RFC 9668): one round
    /// trip less. Key confirmation comes from the first protected response.
    #[default]
    Combined,
    /// message_3 in its own `POST /.well-known/edhoc`, answered by message_4 (RFC 9528
    /// Appendix A.2); OSCORE requests follow.
    WithMessage4,
}

/// When to renew the keys with a new handshake. The limits are checked before each new request
/// (never in the middle of an exchange); `None` disables a limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RekeyPolicy {
    /// Renew after this many OSCORE requests under one security context.
    pub after_messages: Option<u32>,
    /// Renew once the security context is this many milliseconds old.
    pub after_ms: Option<u64>,
}

/// The wait before a new attempt after an attempt failed (the cloud did not answer, or refused):
/// `initial_ms` doubled per consecutive failure up to `max_ms`, plus up to half as much again
/// at random so that a fleet does not retry in step. A refusal counts as three failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure, in milliseconds.
    pub initial_ms: u64,
    /// The longest wait (before jitter), in milliseconds.
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial_ms: 5_000,
            max_ms: 600_000,
        }
    }
}

/// The persistence step K by default: one storage write per 32 OSCORE requests.
pub const DEFAULT_PERSIST_STEP: u32 = 32;

/// The C_I a device uses by default (`-24`, one byte on the wire). The cloud picks C_R different
/// from it, so every device may use the same C_I.
pub const DEFAULT_C_I: i8 = -24;

/// Everything a [`Session`](super::Session) needs besides its crypto provider and storage.
///
/// The session borrows it for its whole life (the EDHOC handshake states refer to it), so keep
/// it in a `static`, or in a variable that outlives the session.
///
/// ```
/// # fn demo(key: &dyn ferrule_proto::crypto::PrivateKey,
/// #         device: ferrule_proto::edhoc::Credential<'_>,
/// #         cloud: ferrule_proto::edhoc::Credential<'_>) -> Result<(), ferrule_device::session::SessionError> {
/// use ferrule_device::session::{Flow, SessionConfig};
/// let mut config = SessionConfig::new(key, device, cloud)?; // method 3, suite 2, combined flow
/// config.flow = Flow::WithMessage4;
/// config.rekey.after_messages = Some(10_000);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct SessionConfig<'a> {
    /// The EDHOC initiator: method, suite preferences, C_I, private key, own credential and how
    /// message_3 names it (RFC 9528 Section 3).
    pub edhoc: InitiatorConfig<'a>,
    /// The one cloud credential this device trusts (CRED_R).
    pub server: Credential<'a>,
    /// Combined request (default) or the plain flow with message_4.
    pub flow: Flow,
    /// CoAP retransmission (RFC 7252 Section 4.8): ACK_TIMEOUT, ACK_RANDOM_FACTOR,
    /// MAX_RETRANSMIT.
    pub transmission: TransmissionParameters,
    /// When to renew the keys.
    pub rekey: RekeyPolicy,
    /// K of RFC 8613 Appendix B.1.1: the sequence-number bound is stored every K requests.
    pub persist_step: u32,
    /// The wait between failed attempts.
    pub backoff: Backoff,
}

impl<'a> SessionConfig<'a> {
    /// A configuration with the protocol defaults: EDHOC method 3 with cipher suite 2, C_I
    /// [`DEFAULT_C_I`], the device credential named by its `kid` (by value if it has none), the
    /// combined request, RFC 7252 transmission parameters, no rekey limit, K =
    /// [`DEFAULT_PERSIST_STEP`], the default [`Backoff`].
    ///
    /// # Errors
    /// [`SessionError::NoCredentialId`] for an X.509 credential (set `edhoc.id_cred` yourself:
    /// build the struct directly).
    pub fn new(
        key: &'a dyn PrivateKey,
        credential: Credential<'a>,
        server: Credential<'a>,
    ) -> Result<Self, SessionError> {
        let id_cred = credential
            .id_by_kid()
            .or_else(|| credential.id_by_value())
            .ok_or(SessionError::NoCredentialId)?;
        // Never fails: -24 is a one-byte connection identifier.
        let c_i = ConnectionId::from_int(DEFAULT_C_I)
            .ok_or(SessionError::Edhoc(ferrule_proto::edhoc::Error::TooLarge))?;
        Ok(Self {
            edhoc: InitiatorConfig {
                method: Method::StaticStatic,
                suites: suites(CipherSuite::Suite2),
                c_i,
                key,
                credential,
                id_cred,
                known_ead: &[],
            },
            server,
            flow: Flow::Combined,
            transmission: TransmissionParameters::RFC7252,
            rekey: RekeyPolicy::default(),
            persist_step: DEFAULT_PERSIST_STEP,
            backoff: Backoff::default(),
        })
    }

    /// A configuration from a device bundle (its method, suite and both credentials) and the
    /// key it holds (from [`Bundle::private_key`]), with the other defaults of
    /// [`SessionConfig::new`].
    ///
    /// # Errors
    /// As [`SessionConfig::new`].
    pub fn from_bundle(bundle: &Bundle<'a>, key: &'a dyn PrivateKey) -> Result<Self, SessionError> {
        Ok(
            Self::new(key, bundle.device_credential(), bundle.server_credential())?
                .with_method(bundle.method())
                .with_suite(bundle.suite()),
        )
    }

    /// The same configuration with another EDHOC method.
    #[must_use]
    pub const fn with_method(mut self, method: Method) -> Self {
        self.edhoc.method = method;
        self
    }

    /// The same configuration offering only `suite`.
    #[must_use]
    pub fn with_suite(mut self, suite: CipherSuite) -> Self {
        self.edhoc.suites = suites(suite);
        self
    }

    /// The same configuration with another flow.
    #[must_use]
    pub const fn with_flow(mut self, flow: Flow) -> Self {
        self.flow = flow;
        self
    }
}

/// A preference list of one suite.
fn suites(suite: CipherSuite) -> SuiteList {
    let mut list = SuiteList::new();
    // A list always has room for one suite.
    let _ = list.push(suite);
    list
}
