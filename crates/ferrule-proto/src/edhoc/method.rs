//! EDHOC authentication methods (RFC 9528 Section 3.2).

/// How a party proves its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// A signature with its private key (Signature_or_MAC is a COSE_Sign1 signature).
    Signature,
    /// Static Diffie-Hellman with its private key (Signature_or_MAC is the MAC).
    StaticDh,
}

/// The EDHOC method: which of the two parties signs and which uses static DH (Table 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Method 0: initiator signature, responder signature.
    SignSign,
    /// Method 1: initiator signature, responder static DH.
    SignStatic,
    /// Method 2: initiator static DH, responder signature.
    StaticSign,
    /// Method 3: initiator static DH, responder static DH (the smallest messages).
    StaticStatic,
}

impl Method {
    /// All four methods, in registry order.
    pub const ALL: [Self; 4] = [
        Self::SignSign,
        Self::SignStatic,
        Self::StaticSign,
        Self::StaticStatic,
    ];

    /// The method with registry value `id`, if it is one of 0-3.
    pub const fn from_id(id: i64) -> Option<Self> {
        match id {
            0 => Some(Self::SignSign),
            1 => Some(Self::SignStatic),
            2 => Some(Self::StaticSign),
            3 => Some(Self::StaticStatic),
            _ => None,
        }
    }

    /// The registry value.
    pub const fn id(self) -> u8 {
        match self {
            Self::SignSign => 0,
            Self::SignStatic => 1,
            Self::StaticSign => 2,
            Self::StaticStatic => 3,
        }
    }

    /// How the initiator authenticates.
    pub const fn initiator(self) -> AuthMode {
        match self {
            Self::SignSign | Self::SignStatic => AuthMode::Signature,
            Self::StaticSign | Self::StaticStatic => AuthMode::StaticDh,
        }
    }

    /// How the responder authenticates.
    pub const fn responder(self) -> AuthMode {
        match self {
            Self::SignSign | Self::StaticSign => AuthMode::Signature,
            Self::SignStatic | Self::StaticStatic => AuthMode::StaticDh,
        }
    }
}
