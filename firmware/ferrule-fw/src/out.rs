//! Console lines without `core::fmt`, whose machinery would cost kilobytes of flash.

use crate::bsp;

/// A line of text built piece by piece and written to the host console with [`Line::print`].
/// What does not fit in its 160 bytes is cut.
pub struct Line {
    buf: [u8; 160],
    len: usize,
}

impl Line {
    /// A line starting with `prefix`.
    pub fn new(prefix: &str) -> Self {
        let mut line = Self {
            buf: [0; 160],
            len: 0,
        };
        line.str(prefix);
        line
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        self
    }

    /// Appends text.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Appends a number in decimal.
    pub fn num(&mut self, mut n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.bytes(&digits[i..])
    }

    /// Appends bytes in lowercase hex.
    pub fn hex(&mut self, bytes: &[u8]) -> &mut Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for &b in bytes {
            self.bytes(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
        }
        self
    }

    /// Appends `bytes` as text if they are printable ASCII, else as `0x` and hex.
    pub fn text_or_hex(&mut self, bytes: &[u8]) -> &mut Self {
        if bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
            self.bytes(bytes)
        } else {
            self.str("0x").hex(bytes)
        }
    }

    /// Writes the line and a newline to the console.
    pub fn print(&mut self) {
        self.str("\n");
        bsp::console_write(&self.buf[..self.len]);
    }
}

/// Prints `ferrule-fw: ` and `message`.
#[inline(never)]
pub fn say(message: &str) {
    Line::new("ferrule-fw: ").str(message).print();
}
