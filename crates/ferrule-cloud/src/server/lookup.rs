//! The registry as the EDHOC responder's credential lookup (RFC 9528 Section 3.5): ID_CRED_I
//! names a device by `kid` (or carries its CCS by value, whose `kid` is then looked up and whose
//! bytes must equal the registered credential). Certificates (`x5t`) are not registered, so
//! they are unknown.
//!
//! Revoked devices are found like active ones, so that the handshake authenticates them first:
//! only the device itself then learns that it is revoked, and the event names it with
//! certainty. The caller checks [`Device::is_active`] after message_3 verified.

use ferrule_proto::cose::Ccs;
use ferrule_proto::edhoc::{Credential, CredentialLookup, IdCred, Lookup};

use crate::registry::{Device, Registry, RegistryError};

/// A lookup of one message_3's ID_CRED_I; afterwards it tells what it found.
pub(crate) struct RegistryLookup<'r> {
    registry: &'r Registry,
    /// The kid that was looked up.
    pub(crate) kid: Option<Vec<u8>>,
    /// The device it names, if registered.
    pub(crate) device: Option<Device>,
    /// A registry failure (the lookup then answered "unknown").
    pub(crate) error: Option<RegistryError>,
}

impl<'r> RegistryLookup<'r> {
    pub(crate) fn new(registry: &'r Registry) -> Self {
        Self {
            registry,
            kid: None,
            device: None,
            error: None,
        }
    }
}

impl CredentialLookup for RegistryLookup<'_> {
    fn lookup(&mut self, id_cred: &IdCred<'_>) -> Lookup<'_> {
        let kid = match id_cred {
            IdCred::Kid(kid) => Some(*kid),
            IdCred::ByValue(ccs) => Ccs::parse(ccs).ok().and_then(|c| c.key.kid),
            IdCred::X5t { .. } => None,
        };
        let Some(kid) = kid else {
            return Lookup::Unknown;
        };
        self.kid = Some(kid.to_vec());
        match self.registry.device_by_kid(kid) {
            Ok(Some(device)) => {
                let device = self.device.insert(device);
                match Credential::ccs(&device.credential) {
                    Ok(credential) => Lookup::Found(credential),
                    Err(e) => {
                        tracing::error!(device = %device.name, error = %e,
                            "registered credential does not parse");
                        Lookup::Unknown
                    }
                }
            }
            Ok(None) => Lookup::Unknown,
            Err(e) => {
                self.error = Some(e);
                Lookup::Unknown
            }
        }
    }
}
