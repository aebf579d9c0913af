//! Shared test support: RFC 9529 vectors, an RNG that replays chosen bytes, and a crypto provider
//! that records every input and output so a trace's intermediate values can be checked.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::vec::Vec;

use ferrule_crypto::RustCrypto;
use ferrule_proto::crypto::{
    AeadAlgorithm, Crypto, CryptoError, Curve, EphemeralSecret, KeyKind, PrivateKey, Prk,
    PublicKey, SharedSecret, Signature, SignatureAlgorithm, VerifyingKey,
};
use rand_core::{CryptoRng, RngCore};

/// One JSON file of ../shared/vectors.
pub struct Vectors(serde_json::Value);

impl Vectors {
    pub fn load(file: &str) -> Self {
        let path = format!(
            "{}/../../../shared/vectors/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Self(serde_json::from_str(&text).unwrap())
    }

    pub fn bytes(&self, key: &str) -> Vec<u8> {
        let v = self.0[key]
            .as_str()
            .unwrap_or_else(|| panic!("no hex value {key:?}"));
        hex::decode(v).unwrap()
    }

    pub fn array<const N: usize>(&self, key: &str) -> [u8; N] {
        self.bytes(key)
            .try_into()
            .unwrap_or_else(|_| panic!("{key} is not {N} bytes"))
    }

    pub fn has(&self, key: &str) -> bool {
        self.0[key].is_string()
    }
}

/// Replays the given bytes as randomness; panics when asked for more (a test bug).
pub struct ReplayRng {
    bytes: Vec<u8>,
}

impl ReplayRng {
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
        }
    }
}

impl RngCore for ReplayRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(dest.len() <= self.bytes.len(), "replay RNG exhausted");
        let rest = self.bytes.split_off(dest.len());
        dest.copy_from_slice(&self.bytes);
        self.bytes = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for ReplayRng {}

/// A deterministic, seeded RNG (splitmix64) for tests and benches that need many distinct keys
/// (not for production).
#[derive(Clone)]
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

/// Everything a recorded operation consumed or produced, as whole byte strings.
#[derive(Default)]
pub struct Record {
    pub values: BTreeSet<Vec<u8>>,
}

impl Record {
    fn add(&mut self, v: &[u8]) {
        self.values.insert(v.to_vec());
    }

    pub fn contains(&self, v: &[u8]) -> bool {
        self.values.contains(v)
    }
}

/// Wraps a provider and records every input (concatenated) and output.
pub struct Recording<C> {
    pub inner: C,
    pub record: Record,
}

impl<C> Recording<C> {
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            record: Record::default(),
        }
    }
}

impl<C: Crypto> Crypto for Recording<C> {
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; 32] {
        self.record.add(&parts.concat());
        let out = self.inner.sha256(parts);
        self.record.add(&out);
        out
    }
    fn hkdf_extract(&mut self, salt: &[u8], ikm: &[u8]) -> Prk {
        self.record.add(salt);
        self.record.add(ikm);
        let out = self.inner.hkdf_extract(salt, ikm);
        self.record.add(out.as_bytes());
        out
    }
    fn hkdf_expand(
        &mut self,
        prk: &Prk,
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.record.add(prk.as_bytes());
        let info = info.concat();
        self.record.add(&info);
        // The context inside info (after the label and the bstr head) is recorded too.
        self.inner.hkdf_expand(prk, &[&info], okm)?;
        self.record.add(okm);
        Ok(())
    }
    fn aead_seal(
        &mut self,
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        for v in [key, nonce, aad, &*buffer] {
            self.record.add(v);
        }
        self.inner.aead_seal(alg, key, nonce, aad, buffer, tag)?;
        self.record.add(&[&*buffer, &*tag].concat());
        Ok(())
    }
    fn aead_open(
        &mut self,
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        for v in [key, nonce, aad, &[&*buffer, tag].concat()] {
            self.record.add(v);
        }
        self.inner.aead_open(alg, key, nonce, aad, buffer, tag)?;
        self.record.add(buffer);
        Ok(())
    }
    fn generate_ephemeral(
        &mut self,
        curve: Curve,
    ) -> Result<(EphemeralSecret, PublicKey), CryptoError> {
        let (s, p) = self.inner.generate_ephemeral(curve)?;
        self.record.add(&p.0);
        Ok((s, p))
    }
    fn ephemeral_dh(
        &mut self,
        curve: Curve,
        secret: &EphemeralSecret,
        peer: &PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        let out = self.inner.ephemeral_dh(curve, secret, peer)?;
        self.record.add(out.as_bytes());
        Ok(out)
    }
    fn verify(
        &mut self,
        alg: SignatureAlgorithm,
        key: &VerifyingKey<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.record.add(message);
        self.record.add(signature);
        self.inner.verify(alg, key, message, signature)
    }
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.inner.fill_random(out)
    }
}

/// Wraps a private key and records what it signs and derives.
pub struct RecordingKey<'k, K> {
    pub inner: K,
    pub record: &'k core::cell::RefCell<Record>,
}

impl<K: PrivateKey> PrivateKey for RecordingKey<'_, K> {
    fn kind(&self) -> KeyKind {
        self.inner.kind()
    }
    fn diffie_hellman(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
        let out = self.inner.diffie_hellman(peer)?;
        self.record.borrow_mut().add(out.as_bytes());
        Ok(out)
    }
    fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        let out = self.inner.sign(message)?;
        let mut r = self.record.borrow_mut();
        r.add(message);
        r.add(&out.0);
        Ok(out)
    }
}

/// A RustCrypto provider whose randomness replays `bytes`.
pub fn replay_crypto(bytes: &[u8]) -> Recording<RustCrypto<ReplayRng>> {
    Recording::new(RustCrypto::new(ReplayRng::new(bytes)))
}

/// A RustCrypto provider with a seeded test RNG.
pub fn seeded_crypto(seed: u64) -> RustCrypto<TestRng> {
    RustCrypto::new(TestRng::new(seed))
}

/// One party of an RFC 9529 trace: its private key, CRED_x, ID_CRED_x (the full map) and the
/// public key its credential certifies.
pub struct Party {
    pub key: ferrule_crypto::SoftwareKey,
    pub credential: Vec<u8>,
    pub id_cred: Vec<u8>,
    pub public: Vec<u8>,
    pub public_y: Option<Vec<u8>>,
}

impl Party {
    /// CRED_x: an X.509 certificate (trace 1) or a CCS (trace 2).
    pub fn credential(
        &self,
        x509: bool,
        key_type: ferrule_proto::cose::KeyType,
    ) -> ferrule_proto::edhoc::Credential<'_> {
        if x509 {
            ferrule_proto::edhoc::Credential::x509(
                &self.credential,
                key_type,
                &self.public,
                self.public_y.as_deref(),
            )
        } else {
            ferrule_proto::edhoc::Credential::ccs(&self.credential).unwrap()
        }
    }

    /// ID_CRED_x as the trace gives it: the full map.
    pub fn id_cred(&self) -> ferrule_proto::edhoc::IdCred<'_> {
        ferrule_proto::edhoc::IdCred::decode_map(&mut ferrule_proto::cbor::Decoder::new(
            &self.id_cred,
        ))
        .unwrap()
    }
}

/// The initiator and the responder of RFC 9529 trace 1 (Ed25519 keys, X.509 credentials).
pub fn trace1_parties(v: &Vectors) -> (Party, Party) {
    let party = |sk: &str, cred: &str, id: &str, pk: &str| Party {
        key: ferrule_crypto::SoftwareKey::ed25519_from_bytes(&v.array(sk)),
        credential: v.bytes(cred),
        id_cred: v.bytes(id),
        public: v.bytes(pk),
        public_y: None,
    };
    (
        party("SK_I", "CRED_I", "ID_CRED_I", "PK_I"),
        party("SK_R", "CRED_R", "ID_CRED_R", "PK_R"),
    )
}

/// The initiator and the responder of RFC 9529 trace 2 (P-256 static DH keys, CCS credentials).
pub fn trace2_parties(v: &Vectors) -> (Party, Party) {
    let party = |sk: &str, cred: &str, id: &str, pk: &str| Party {
        key: ferrule_crypto::SoftwareKey::p256_from_bytes(&v.array(sk)).unwrap(),
        credential: v.bytes(cred),
        id_cred: v.bytes(id),
        public: v.bytes(pk),
        public_y: Some(v.bytes(&format!("{pk} (y-coordinate)"))),
    };
    (
        party("SK_I", "CRED_I", "ID_CRED_I", "G_I"),
        party("SK_R", "CRED_R", "ID_CRED_R", "G_R"),
    )
}

/// A connection identifier of a trace, from its CBOR data item.
pub fn connection_id(v: &Vectors, key: &str) -> ferrule_proto::edhoc::ConnectionId {
    ferrule_proto::edhoc::ConnectionId::decode(&mut ferrule_proto::cbor::Decoder::new(
        &v.bytes(&format!("{key} (CBOR Data Item)")),
    ))
    .unwrap()
}
