//! The non-volatile memory: a small area that survives resets, emulated by a host file.
//!
//! It holds the OSCORE sequence-number bound ([`Storage`], RFC 8613 Appendix B.1.1) and the
//! number of the next telemetry message, so that a device reset in the middle of a run resumes
//! with no nonce reused and numbers its messages on from the last acknowledged one.
//!
//! # Layout
//!
//! Two 32-byte slots, written alternately, as a real part would use two flash pages so that a
//! power cut in the middle of a write leaves the other slot intact. A slot is, little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `FNV1` |
//! | 4 | 4 | generation: the slot with the higher one is current |
//! | 8 | 8 | sequence-number bound, `u64::MAX` for none |
//! | 16 | 4 | next telemetry message number |
//! | 20 | 8 | reserved, zero |
//! | 28 | 4 | FNV-1a of bytes 0..28 |
//!
//! A missing or short file, or a slot whose magic or check does not match, is an empty slot; a
//! fresh device starts with both empty. A write returns only once the host accepted every byte
//! (QEMU has then written it to the host file: killing QEMU does not lose it).

use ferrule_proto::oscore::{Storage, StorageError};

use crate::bsp::semihosting::{File, Mode};

const SLOT: usize = 32;
const MAGIC: &[u8; 4] = b"FNV1";
const NO_BOUND: u64 = u64::MAX;

/// What the area holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The OSCORE sequence-number bound: numbers below it may have been used.
    pub sequence_bound: Option<u64>,
    /// The number of the next telemetry message (messages below it were acknowledged).
    pub next_message: u32,
}

/// The area, open.
pub struct Nvm {
    file: File,
    generation: u32,
    state: State,
    writes: u32,
}

/// Why the area could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NvmError {
    /// The host file could not be opened or created.
    Open,
    /// It could not be read.
    Read,
}

impl Nvm {
    /// Opens the area in host file `path`, creating an empty one if there is none.
    pub fn open(path: &[u8]) -> Result<Self, NvmError> {
        let (mut file, existed) = match File::open(path, Mode::ReadWrite) {
            Some(f) => (f, true),
            None => (File::open(path, Mode::Create).ok_or(NvmError::Open)?, false),
        };
        let mut raw = [0u8; 2 * SLOT];
        let n = if existed {
            file.read_full(&mut raw).ok_or(NvmError::Read)?
        } else {
            0
        };
        let mut best: Option<(u32, State)> = None;
        for slot in raw.get(..n).unwrap_or(&[]).chunks_exact(SLOT) {
            if let Some((generation, state)) = decode(slot) {
                if best.is_none_or(|(g, _)| generation > g) {
                    best = Some((generation, state));
                }
            }
        }
        let (generation, state) = best.unwrap_or_default();
        Ok(Self {
            file,
            generation,
            state,
            writes: 0,
        })
    }

    /// What the area holds.
    pub const fn state(&self) -> State {
        self.state
    }

    /// How many writes this boot made.
    pub const fn writes(&self) -> u32 {
        self.writes
    }

    /// Stores `state` durably, in the slot not holding the current one.
    pub fn store(&mut self, state: State) -> bool {
        let generation = self.generation.wrapping_add(1);
        let slot = encode(generation, &state);
        let at = (generation % 2) as usize * SLOT;
        if !(self.file.seek(at) && self.file.write_all(&slot)) {
            return false;
        }
        self.generation = generation;
        self.state = state;
        self.writes += 1;
        true
    }

    /// Records that message `next - 1` was acknowledged.
    pub fn set_next_message(&mut self, next: u32) -> bool {
        self.store(State {
            next_message: next,
            ..self.state
        })
    }
}

impl Storage for Nvm {
    fn load_sequence_bound(&mut self) -> Result<Option<u64>, StorageError> {
        Ok(self.state.sequence_bound)
    }

    fn store_sequence_bound(&mut self, bound: u64) -> Result<(), StorageError> {
        let state = State {
            sequence_bound: Some(bound),
            ..self.state
        };
        if self.store(state) {
            Ok(())
        } else {
            Err(StorageError::Write)
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn encode(generation: u32, state: &State) -> [u8; SLOT] {
    let mut s = [0u8; SLOT];
    s[0..4].copy_from_slice(MAGIC);
    s[4..8].copy_from_slice(&generation.to_le_bytes());
    s[8..16].copy_from_slice(&state.sequence_bound.unwrap_or(NO_BOUND).to_le_bytes());
    s[16..20].copy_from_slice(&state.next_message.to_le_bytes());
    let check = fnv1a(&s[..28]);
    s[28..32].copy_from_slice(&check.to_le_bytes());
    s
}

fn decode(s: &[u8]) -> Option<(u32, State)> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(s.get(at..at + 4)?.try_into().ok()?))
    };
    if s.get(0..4)? != MAGIC || word(28)? != fnv1a(s.get(..28)?) {
        return None;
    }
    let bound = u64::from(word(8)?) | (u64::from(word(12)?) << 32);
    Some((
        word(4)?,
        State {
            sequence_bound: (bound != NO_BOUND).then_some(bound),
            next_message: word(16)?,
        },
    ))
}
