//! Datagrams over the UART: each one is framed as a 2-byte big-endian length and the bytes.
//!
//! The host side (a bridge) turns each frame into one UDP datagram toward the cloud and each
//! datagram back into a frame. A length of 0 is a keep-alive and is skipped. A frame longer than
//! the receive buffer is read and dropped whole, so the stream stays in step.

use crate::bsp::Board;

/// Sends `datagram` as one frame.
pub fn send(board: &mut Board, datagram: &[u8]) {
    let len = datagram.len().min(usize::from(u16::MAX)) as u16;
    board.uart_write(&len.to_be_bytes());
    board.uart_write(&datagram[..usize::from(len)]);
}

/// Reassembles frames from received bytes.
#[derive(Debug, Default)]
pub struct Deframer {
    /// Bytes of the length header seen (0, 1 or 2).
    header: u8,
    high: u8,
    /// Length of the frame being read.
    len: usize,
    /// Bytes of it read so far.
    got: usize,
    /// Frames dropped for being too long.
    pub oversized: u32,
}

impl Deframer {
    /// A deframer at a frame boundary.
    pub const fn new() -> Self {
        Self {
            header: 0,
            high: 0,
            len: 0,
            got: 0,
            oversized: 0,
        }
    }

    /// Feeds the bytes waiting in the UART; returns the length of a complete frame, now in
    /// `buf[..len]`, as soon as there is one.
    pub fn poll(&mut self, board: &mut Board, buf: &mut [u8]) -> Option<usize> {
        while let Some(byte) = board.uart_read() {
            if self.header < 2 {
                if self.header == 0 {
                    self.high = byte;
                    self.header = 1;
                    continue;
                }
                self.len = usize::from(u16::from_be_bytes([self.high, byte]));
                self.got = 0;
                self.header = 2;
                if self.len == 0 {
                    self.header = 0;
                }
                continue;
            }
            if let Some(slot) = buf.get_mut(self.got) {
                *slot = byte;
            }
            self.got += 1;
            if self.got == self.len {
                self.header = 0;
                if self.len <= buf.len() {
                    return Some(self.len);
                }
                self.oversized += 1;
            }
        }
        None
    }
}
