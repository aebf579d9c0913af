//! Shared by the deep-state EDHOC fuzz targets (included with `#[path]`, not a target itself):
//! RFC 9529 trace 2 (method 3, suite 2, P-256 static DH keys, CCS credentials by kid) with its
//! keys and ephemeral values hard-coded, so that each side can be put in the state where it
//! expects the next message, and inputs can be encrypted with the trace's keys to reach the
//! plaintext parsers behind the keystream / AEAD.
#![allow(dead_code)]

use ferrule_crypto::{RustCrypto, SoftwareKey};
use ferrule_proto::cbor::{Decoder, Encoder};
use ferrule_proto::crypto::{AeadAlgorithm, Crypto, Prk};
use ferrule_proto::edhoc::{
    CipherSuite, ConnectionId, Credential, Error, IdCred, Initiator, InitiatorConfig, Method,
    Responder, ResponderConfig, SingleCredential, SuiteList,
};
use rand_core::{CryptoRng, RngCore};

pub const X: &str = "368ec1f69aeb659ba37d5a8d45b21bdc0299dceaa8ef235f3ca42ce3530f9525";
pub const Y: &str = "e2f4126777205e853b437d6eaca1e1f753cdcc3e2c69fa884b0a1a640977e418";
pub const SK_I: &str = "fb13adeb6518cee5f88417660841142e830a81fe334380a953406a1305e8706b";
pub const SK_R: &str = "72cc4761dbd4c78f758931aa589d348d1ef874a7e303ede2f140dcf3e6aa4aac";
pub const CRED_I: &str = "a2027734322d35302d33312d46462d45462d33372d33322d333908a101a5010202412b2001215820ac75e9ece3e50bfc8ed60399889522405c47bf16df96660a41298cb4307f7eb62258206e5de611388a4b8a8211334ac7d37ecb52a387d257e6db3c2a93df21ff3affc8";
pub const CRED_R: &str = "a2026b6578616d706c652e65647508a101a501020241322001215820bbc34960526ea4d32e940cad2a234148ddc21791a12afbcbac93622046dd44f02258204519e257236b2a0ce2023f0931f1f386ca7afda64fcde0108c224c51eabf6072";
/// ID_CRED_I = {4: h'2b'}, ID_CRED_R = {4: h'32'}.
pub const KID_I: u8 = 0x2b;
pub const KID_R: u8 = 0x32;
/// C_I = -24 (0x37), C_R = -8 (0x27).
pub const C_I: i8 = -24;
pub const C_R: i8 = -8;
pub const MESSAGE_1: &str =
    "0382060258208af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b637";
pub const MESSAGE_2: &str =
    "582b419701d7f00a26c2dc587a36dd752549f33763c893422c8ea0f955a13a4ff5d59862a1eef9e0e7e1886fcd";
pub const MESSAGE_3: &str = "52e562097bc417dd5919485ac7891ffd90a9fc";
pub const G_Y: &str = "419701d7f00a26c2dc587a36dd752549f33763c893422c8ea0f955a13a4ff5d5";
pub const PRK_2E: &str = "5aa0d69f3e3d1e0c479f0b8a486690c9802630c3466b1dc92371c982563170b5";
pub const TH_2: &str = "356efd53771425e008f3fe3a86c83ff4c6b16e57028ff39d5236c182b202084b";
pub const K_3: &str = "8e7a30042000f7900e8174131f75f3ed";
pub const IV_3: &str = "6d8300c1e23b56153ae70ee457";
pub const A_3: &str =
    "8368456e637279707430405820adaf67a78a4bcc91e018f8882762a722000b2507039df0bc1bbf0c161bb3155c";
pub const PLAINTEXT_2: &str = "2732480943305c899f5c54";
pub const PLAINTEXT_3: &str = "2b48623c91df41e34c2f";

/// Lowercase hex, for assertion messages.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hex(s: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => unreachable!("bad hex constant"),
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| (digit(p[0]) << 4) | digit(p[1]))
        .collect()
}

fn array32(s: &str) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(&hex(s));
    a
}

/// Replays given bytes as randomness (the trace's ephemeral key); zeros after that.
pub struct ReplayRng {
    bytes: Vec<u8>,
    pos: usize,
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
        for d in dest {
            *d = self.bytes.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for ReplayRng {}

pub type FuzzCrypto = RustCrypto<ReplayRng>;

pub fn crypto(random: &str) -> FuzzCrypto {
    RustCrypto::new(ReplayRng {
        bytes: hex(random),
        pos: 0,
    })
}

/// The trace's keys, built once per process.
pub fn trace2() -> &'static Trace2 {
    static TRACE: std::sync::OnceLock<Trace2> = std::sync::OnceLock::new();
    TRACE.get_or_init(Trace2::new)
}

/// The trace's long-term keys and credentials.
pub struct Trace2 {
    sk_i: SoftwareKey,
    sk_r: SoftwareKey,
    cred_i: Vec<u8>,
    cred_r: Vec<u8>,
    kid_i: [u8; 1],
    kid_r: [u8; 1],
}

impl Trace2 {
    pub fn new() -> Self {
        Self {
            sk_i: SoftwareKey::p256_from_bytes(&array32(SK_I)).expect("SK_I"),
            sk_r: SoftwareKey::p256_from_bytes(&array32(SK_R)).expect("SK_R"),
            cred_i: hex(CRED_I),
            cred_r: hex(CRED_R),
            kid_i: [KID_I],
            kid_r: [KID_R],
        }
    }

    pub fn credential_i(&self) -> Credential<'_> {
        Credential::ccs(&self.cred_i).expect("CRED_I")
    }

    pub fn credential_r(&self) -> Credential<'_> {
        Credential::ccs(&self.cred_r).expect("CRED_R")
    }

    pub fn initiator_config(&self) -> InitiatorConfig<'_> {
        InitiatorConfig {
            method: Method::StaticStatic,
            suites: SuiteList::from_suites(&[CipherSuite::Unknown(6), CipherSuite::Suite2])
                .expect("suites"),
            c_i: ConnectionId::from_int(C_I).expect("C_I"),
            key: &self.sk_i,
            credential: self.credential_i(),
            id_cred: IdCred::Kid(&self.kid_i),
            known_ead: &[1, 2],
        }
    }

    pub fn responder_config(&self) -> ResponderConfig<'_> {
        ResponderConfig {
            methods: &Method::ALL,
            suites: SuiteList::from_suites(&[CipherSuite::Suite2]).expect("suites"),
            key: &self.sk_r,
            credential: self.credential_r(),
            id_cred: IdCred::Kid(&self.kid_r),
            known_ead: &[1, 2],
        }
    }

    /// The initiator, having sent the trace's message_1, reads `message` as message_2. Returns
    /// its message_3 if it accepts.
    pub fn initiator_reads_message_2(&self, message: &mut [u8]) -> Result<Vec<u8>, Error> {
        let config = self.initiator_config();
        let mut crypto = crypto(X);
        let mut m1 = [0u8; 64];
        let (wait, n) = Initiator::new(&config)
            .and_then(|i| i.write_message_1(&mut crypto, &[], &mut m1))
            .expect("setup: write_message_1");
        assert_eq!(m1[..n], hex(MESSAGE_1)[..], "setup: message_1");
        let mut server = SingleCredential(self.credential_r());
        let (verified, info) = wait.read_message_2(&mut crypto, &mut server, message)?;
        for item in info.ead_2 {
            assert!(item.label == 1 || item.label == 2);
        }
        let mut m3 = [0u8; 512];
        let (_, n) = verified
            .write_message_3(&mut crypto, &[], &mut m3)
            .expect("message_3 after an accepted message_2");
        Ok(m3[..n].to_vec())
    }

    /// The responder reads `message` as message_1 and answers with C_R and the trace's Y.
    /// Returns its message_2 if it accepts.
    pub fn responder_reads_message_1(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let config = self.responder_config();
        let mut crypto = crypto(Y);
        let (got1, info) = Responder::new(&config).read_message_1(&mut crypto, message)?;
        for item in info.ead_1 {
            assert!(item.label == 1 || item.label == 2);
        }
        let mut m2 = [0u8; 512];
        let c_r = ConnectionId::from_int(C_R).expect("C_R");
        let (_, n) = got1.write_message_2(&mut crypto, c_r, &[], &mut m2)?;
        Ok(m2[..n].to_vec())
    }

    /// The responder, having sent the trace's message_2, reads `message` as message_3.
    pub fn responder_reads_message_3(&self, message: &mut [u8]) -> Result<(), Error> {
        let config = self.responder_config();
        let mut crypto = crypto(Y);
        let m1 = hex(MESSAGE_1);
        let (got1, _) = Responder::new(&config)
            .read_message_1(&mut crypto, &m1)
            .expect("setup: read_message_1");
        let mut m2 = [0u8; 256];
        let c_r = ConnectionId::from_int(C_R).expect("C_R");
        let (wait, n) = got1
            .write_message_2(&mut crypto, c_r, &[], &mut m2)
            .expect("setup: write_message_2");
        assert_eq!(m2[..n], hex(MESSAGE_2)[..], "setup: message_2");
        let mut device = SingleCredential(self.credential_i());
        let (_, info) = wait.read_message_3(&mut crypto, &mut device, message)?;
        for item in info.ead_3 {
            assert!(item.label == 1 || item.label == 2);
        }
        Ok(())
    }
}

fn bstr(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; content.len() + 9];
    let mut e = Encoder::new(&mut out);
    e.bytes(content).expect("bstr");
    let n = e.finish();
    out.truncate(n);
    out
}

/// message_2 = bstr(G_Y || PLAINTEXT_2 XOR KEYSTREAM_2) with the trace's PRK_2e and TH_2.
/// `None` for plaintexts longer than one HKDF output can cover.
pub fn seal_plaintext_2(plaintext: &[u8]) -> Option<Vec<u8>> {
    if plaintext.len() > 255 * 32 {
        return None;
    }
    let mut info = [0u8; 48];
    let mut e = Encoder::new(&mut info);
    e.u64(0)
        .ok()?
        .bytes(&hex(TH_2))
        .ok()?
        .u64(plaintext.len() as u64)
        .ok()?;
    let n = e.finish();
    let mut keystream = vec![0u8; plaintext.len()];
    crypto("")
        .hkdf_expand(
            &Prk::from_bytes(array32(PRK_2E)),
            &[&info[..n]],
            &mut keystream,
        )
        .ok()?;
    let mut content = hex(G_Y);
    content.extend(plaintext.iter().zip(&keystream).map(|(p, k)| p ^ k));
    Some(bstr(&content))
}

/// message_3 = bstr(AES-CCM-16-64-128(K_3, IV_3, A_3, PLAINTEXT_3)).
pub fn seal_plaintext_3(plaintext: &[u8]) -> Option<Vec<u8>> {
    let mut body = plaintext.to_vec();
    let mut tag = [0u8; 8];
    crypto("")
        .aead_seal(
            AeadAlgorithm::AesCcm16_64_128,
            &hex(K_3),
            &hex(IV_3),
            &hex(A_3),
            &mut body,
            &mut tag,
        )
        .ok()?;
    body.extend_from_slice(&tag);
    Some(bstr(&body))
}

/// The content of a message that is a single byte string (message_2 / message_3 after in-place
/// decryption).
pub fn bstr_content(message: &[u8]) -> &[u8] {
    Decoder::new(message).bytes().unwrap_or(&[])
}
