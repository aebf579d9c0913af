//! The derived AEAD keys (RFC 8613 Section 3.2.1): zeroized on drop, redacted in `Debug`.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::AEAD_KEY_LEN;

macro_rules! key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Zeroized on drop; `Debug` prints no key material.
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; AEAD_KEY_LEN]);

        impl $name {
            /// Wraps derived key bytes.
            pub const fn from_bytes(bytes: [u8; AEAD_KEY_LEN]) -> Self {
                Self(bytes)
            }

            /// The key bytes. Handle with care: they are secret.
            pub const fn as_bytes(&self) -> &[u8; AEAD_KEY_LEN] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

key!(
    /// The Sender Key: protects what this endpoint sends.
    SenderKey
);
key!(
    /// The Recipient Key: verifies what this endpoint receives.
    RecipientKey
);
