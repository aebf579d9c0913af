//! The random number generator: ChaCha20 (`rand_chacha`) seeded from the host.
//!
//! A real part would seed it from its hardware TRNG. Under QEMU the seed is 32 bytes of the
//! host's `/dev/urandom`, read through semihosting at boot; if that fails the firmware refuses to
//! run (a predictable RNG would give predictable EDHOC ephemeral keys).

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, Error, RngCore, SeedableRng};
use zeroize::Zeroize;

use crate::bsp::semihosting::{File, Mode};

/// The device's generator.
pub struct DeviceRng(ChaCha20Rng);

impl DeviceRng {
    /// A generator from a 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ChaCha20Rng::from_seed(seed))
    }

    /// A generator seeded with 32 bytes of the host's `/dev/urandom`; `None` if it cannot be
    /// read.
    pub fn from_host() -> Option<Self> {
        let mut file = File::open(b"/dev/urandom", Mode::Read)?;
        let mut seed = [0u8; 32];
        let n = file.read_full(&mut seed)?;
        let rng = (n == seed.len() && seed != [0; 32]).then(|| Self::from_seed(seed));
        seed.zeroize();
        rng
    }
}

impl RngCore for DeviceRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        self.0.try_fill_bytes(dest)
    }
}

impl CryptoRng for DeviceRng {}
