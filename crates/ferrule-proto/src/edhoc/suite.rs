//! EDHOC cipher suites (RFC 9528 Section 3.6 and the "EDHOC Cipher Suites" registry, Section 10.2).

use crate::crypto::{AeadAlgorithm, Curve, SignatureAlgorithm};

/// A cipher suite as it appears in SUITES_I / SUITES_R.
///
/// Suites 0-3 are implemented. Any other registered or private value can still be listed in a
/// preference list (so that negotiation behaves as RFC 9528 Section 6.3 describes), but is never
/// selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherSuite {
    /// Suite 0: AES-CCM-16-64-128, SHA-256, MAC length 8, X25519, EdDSA.
    Suite0,
    /// Suite 1: AES-CCM-16-128-128, SHA-256, MAC length 16, X25519, EdDSA.
    Suite1,
    /// Suite 2: AES-CCM-16-64-128, SHA-256, MAC length 8, P-256, ES256.
    Suite2,
    /// Suite 3: AES-CCM-16-128-128, SHA-256, MAC length 16, P-256, ES256.
    Suite3,
    /// Any other suite value: listed, never selected.
    Unknown(i32),
}

/// The algorithms of an implemented suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteParameters {
    /// EDHOC AEAD algorithm (for message_3 and message_4).
    pub aead: AeadAlgorithm,
    /// EDHOC MAC length in bytes, used for MAC_2 / MAC_3 with static DH authentication.
    pub mac_len: usize,
    /// EDHOC key exchange curve.
    pub curve: Curve,
    /// EDHOC signature algorithm.
    pub signature: SignatureAlgorithm,
    /// Application AEAD algorithm (OSCORE), RFC 9528 Appendix A.1.
    pub application_aead: AeadAlgorithm,
}

impl CipherSuite {
    /// The suites this implementation can complete a handshake with, lightest first.
    pub const IMPLEMENTED: [Self; 4] = [Self::Suite0, Self::Suite1, Self::Suite2, Self::Suite3];

    /// The suite with the given registry value.
    pub const fn from_id(id: i32) -> Self {
        match id {
            0 => Self::Suite0,
            1 => Self::Suite1,
            2 => Self::Suite2,
            3 => Self::Suite3,
            other => Self::Unknown(other),
        }
    }

    /// The registry value.
    pub const fn id(self) -> i32 {
        match self {
            Self::Suite0 => 0,
            Self::Suite1 => 1,
            Self::Suite2 => 2,
            Self::Suite3 => 3,
            Self::Unknown(other) => other,
        }
    }

    /// The algorithms, or `None` for a suite this implementation cannot use.
    pub const fn parameters(self) -> Option<SuiteParameters> {
        let (aead, mac_len, curve, signature) = match self {
            Self::Suite0 => (
                AeadAlgorithm::AesCcm16_64_128,
                8,
                Curve::X25519,
                SignatureAlgorithm::EdDsa,
            ),
            Self::Suite1 => (
                AeadAlgorithm::AesCcm16_128_128,
                16,
                Curve::X25519,
                SignatureAlgorithm::EdDsa,
            ),
            Self::Suite2 => (
                AeadAlgorithm::AesCcm16_64_128,
                8,
                Curve::P256,
                SignatureAlgorithm::Es256,
            ),
            Self::Suite3 => (
                AeadAlgorithm::AesCcm16_128_128,
                16,
                Curve::P256,
                SignatureAlgorithm::Es256,
            ),
            Self::Unknown(_) => return None,
        };
        // Suites 0-3 all use AES-CCM-16-64-128 for the application (RFC 9528 Section 3.6).
        Some(SuiteParameters {
            aead,
            mac_len,
            curve,
            signature,
            application_aead: AeadAlgorithm::AesCcm16_64_128,
        })
    }

    /// Whether this implementation can complete a handshake with the suite.
    pub const fn is_implemented(self) -> bool {
        self.parameters().is_some()
    }
}

/// A list of cipher suites (SUITES_I or SUITES_R), in order, without allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteList {
    items: [i32; Self::CAPACITY],
    len: u8,
}

impl SuiteList {
    /// Most suites a list can hold; longer lists on the wire are rejected.
    pub const CAPACITY: usize = 9;

    /// An empty list.
    pub const fn new() -> Self {
        Self {
            items: [0; Self::CAPACITY],
            len: 0,
        }
    }

    /// A list of the given suites; `None` if there are more than [`Self::CAPACITY`].
    pub fn from_suites(suites: &[CipherSuite]) -> Option<Self> {
        let mut list = Self::new();
        for s in suites {
            list.push(*s)?;
        }
        Some(list)
    }

    /// Appends a suite; `None` if the list is full.
    pub fn push(&mut self, suite: CipherSuite) -> Option<()> {
        let slot = self.items.get_mut(usize::from(self.len))?;
        *slot = suite.id();
        self.len += 1;
        Some(())
    }

    /// Number of suites.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the list is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The suites in order.
    pub fn iter(&self) -> impl Iterator<Item = CipherSuite> + '_ {
        self.items[..self.len()]
            .iter()
            .map(|id| CipherSuite::from_id(*id))
    }

    /// The last suite: in SUITES_I, the selected one.
    pub fn last(&self) -> Option<CipherSuite> {
        self.len()
            .checked_sub(1)
            .map(|i| CipherSuite::from_id(self.items[i]))
    }

    /// Whether the list contains `suite`.
    pub fn contains(&self, suite: CipherSuite) -> bool {
        self.iter().any(|s| s == suite)
    }

    /// The first `n` suites.
    pub fn truncated(&self, n: usize) -> Self {
        let mut out = *self;
        out.len = n.min(self.len()) as u8;
        out
    }

    /// Position of `suite` in the list.
    pub fn position(&self, suite: CipherSuite) -> Option<usize> {
        self.iter().position(|s| s == suite)
    }
}

impl Default for SuiteList {
    fn default() -> Self {
        Self::new()
    }
}
