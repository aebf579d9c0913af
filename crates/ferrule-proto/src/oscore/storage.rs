//! Persistent state that survives power cuts (RFC 8613 Appendix B.1).

use super::StorageError;

/// Where a security context keeps the state that must survive a power cut: the bound below
/// which Sender Sequence Numbers may have been used (RFC 8613 Appendix B.1.1).
///
/// The caller implements it over whatever it has: a flash page, a file, battery-backed RAM.
/// One `Storage` serves one security context; when a new context is established (a new EDHOC
/// session), its storage starts empty.
///
/// The replay window is deliberately not persisted: a server that lost it recovers with the
/// Echo option (Appendix B.1.2).
pub trait Storage {
    /// Loads the stored bound: `None` if nothing was ever stored for this context.
    ///
    /// # Errors
    /// [`StorageError`] if it cannot be read.
    fn load_sequence_bound(&mut self) -> Result<Option<u64>, StorageError>;

    /// Stores `bound` durably: when this returns `Ok`, a power cut must not lose it. Sequence
    /// numbers below `bound` may then be used.
    ///
    /// # Errors
    /// [`StorageError`] if it cannot be written.
    fn store_sequence_bound(&mut self, bound: u64) -> Result<(), StorageError>;
}

impl<S: Storage + ?Sized> Storage for &mut S {
    fn load_sequence_bound(&mut self) -> Result<Option<u64>, StorageError> {
        (**self).load_sequence_bound()
    }

    fn store_sequence_bound(&mut self, bound: u64) -> Result<(), StorageError> {
        (**self).store_sequence_bound(bound)
    }
}

/// A [`Storage`] in memory: for tests, and for devices with retained RAM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStorage {
    bound: Option<u64>,
    writes: u64,
}

impl MemoryStorage {
    /// Empty storage, as for a new context.
    pub const fn new() -> Self {
        Self {
            bound: None,
            writes: 0,
        }
    }

    /// The stored bound.
    pub const fn bound(&self) -> Option<u64> {
        self.bound
    }

    /// How many times a bound was stored (to count flash writes).
    pub const fn writes(&self) -> u64 {
        self.writes
    }
}

impl Storage for MemoryStorage {
    fn load_sequence_bound(&mut self) -> Result<Option<u64>, StorageError> {
        Ok(self.bound)
    }

    fn store_sequence_bound(&mut self, bound: u64) -> Result<(), StorageError> {
        self.bound = Some(bound);
        self.writes += 1;
        Ok(())
    }
}
