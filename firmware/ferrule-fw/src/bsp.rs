//! Board support: the UART, a millisecond clock, semihosting and the stack gauge.
//!
//! Two boards of QEMU are supported, chosen by the target (`build.rs` sets `cfg(board)`):
//!
//! | board | target | core clock | UART | its RX interrupt |
//! |---|---|---|---|---|
//! | `mps2-an385` / `mps2-an386` | `thumbv7m-none-eabi` / `thumbv7em-none-eabihf` | 25 MHz | CMSDK APB UART0 at `0x4000_4000` | IRQ 0 |
//! | `microbit` (nRF51822) | `thumbv6m-none-eabi` | 16 MHz | nRF51 UART0 at `0x4000_2000` | IRQ 2 |
//!
//! # Where `unsafe` is, and why it cannot be avoided
//!
//! This module is the only one that allows `unsafe_code`, and only for:
//! - **Memory-mapped registers** ([`reg_read`], [`reg_write`]): volatile accesses to the fixed
//!   UART addresses of the board. Sound because the addresses are those of the peripheral on
//!   this board, accessed with 32-bit volatile operations, and only this module touches them.
//! - **Semihosting** ([`semihosting::call`]): the `bkpt 0xAB` instruction with an operation
//!   number and a pointer to its argument block; the debugger (QEMU) reads and writes the
//!   buffers the block points to. The safe wrappers build the block from slices that outlive the
//!   call and give the right lengths.
//! - **Unmasking the UART interrupt in the NVIC**: `NVIC::unmask` is `unsafe` because it can
//!   break critical sections based on masking; this firmware has none.
//! - **The vector table** (`#[link_section]`, `#[no_mangle]` on [`__INTERRUPTS`]) that
//!   cortex-m-rt's linker script expects from a device crate.
//! - **Reading the painted stack** ([`peak_stack`]): volatile reads of the RAM between
//!   cortex-m-rt's `_stack_end` and the current stack pointer, which no Rust object owns.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU8, AtomicUsize, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::exception;

/// The core clock, which SysTick counts.
#[cfg(board = "mps2")]
const CORE_HZ: u32 = 25_000_000;
#[cfg(board = "microbit")]
const CORE_HZ: u32 = 16_000_000;

/// The board's name, for messages.
#[cfg(board = "mps2")]
pub const BOARD: &str = "mps2";
/// The board's name, for messages.
#[cfg(board = "microbit")]
pub const BOARD: &str = "microbit";

/// Exit code after a panic.
pub const EXIT_PANIC: u32 = 101;
/// Exit code after a HardFault or an unexpected exception or interrupt.
pub const EXIT_FAULT: u32 = 102;

/// Reads the 32-bit register at `addr`.
#[inline(always)]
fn reg_read(addr: usize) -> u32 {
    // SAFETY: `addr` is one of this module's constant peripheral register addresses (see the
    // module docs); the access is aligned, 32 bits wide and volatile.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

/// Writes the 32-bit register at `addr`.
#[inline(always)]
fn reg_write(addr: usize, value: u32) {
    // SAFETY: as in `reg_read`.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

// ---------------------------------------------------------------------------------------------
// UART

/// CMSDK APB UART0 of the MPS2 boards (ARM DDI 0479C, Section 4.3).
#[cfg(board = "mps2")]
mod uart_regs {
    const BASE: usize = 0x4000_4000;
    pub const DATA: usize = BASE;
    pub const STATE: usize = BASE + 0x4;
    pub const CTRL: usize = BASE + 0x8;
    pub const INTCLEAR: usize = BASE + 0xC;
    pub const BAUDDIV: usize = BASE + 0x10;
    pub const STATE_TX_FULL: u32 = 1 << 0;
    pub const STATE_RX_FULL: u32 = 1 << 1;
    pub const CTRL_TX_EN: u32 = 1 << 0;
    pub const CTRL_RX_EN: u32 = 1 << 1;
    pub const CTRL_RX_INT_EN: u32 = 1 << 3;
    pub const INT_RX: u32 = 1 << 1;
    /// UART0 RX is IRQ 0 (UART0 TX is IRQ 1).
    pub const IRQ: u16 = 0;
}

/// nRF51 UART0 (nRF51 Series Reference Manual v3.0, Section 29).
#[cfg(board = "microbit")]
mod uart_regs {
    const BASE: usize = 0x4000_2000;
    pub const STARTRX: usize = BASE;
    pub const STARTTX: usize = BASE + 0x008;
    pub const EVENTS_RXDRDY: usize = BASE + 0x108;
    pub const EVENTS_TXDRDY: usize = BASE + 0x11C;
    pub const INTENSET: usize = BASE + 0x304;
    pub const ENABLE: usize = BASE + 0x500;
    pub const RXD: usize = BASE + 0x518;
    pub const TXD: usize = BASE + 0x51C;
    pub const BAUDRATE: usize = BASE + 0x524;
    pub const INT_RXDRDY: u32 = 1 << 2;
    /// UART0 is IRQ 2.
    pub const IRQ: u16 = 2;
}

/// The UART interrupt, for `NVIC::unmask`.
#[derive(Clone, Copy)]
struct UartIrq;

// SAFETY: the number is the UART's interrupt line on this board.
unsafe impl cortex_m::interrupt::InterruptNumber for UartIrq {
    fn number(self) -> u16 {
        uart_regs::IRQ
    }
}

/// Bytes received by the interrupt handler and not yet read: a single-producer (the handler),
/// single-consumer (the main loop) ring. Load/store atomics only, so it works on the M0 too.
const RX_RING: usize = 256;
static RX_BUF: [AtomicU8; RX_RING] = [const { AtomicU8::new(0) }; RX_RING];
/// Next slot the handler writes (only the handler stores it).
static RX_HEAD: AtomicUsize = AtomicUsize::new(0);
/// Next slot the main loop reads (only the main loop stores it).
static RX_TAIL: AtomicUsize = AtomicUsize::new(0);
/// Bytes dropped because the ring was full.
static RX_DROPPED: AtomicU32 = AtomicU32::new(0);

/// Stores a received byte in the ring (interrupt context).
fn rx_push(byte: u8) {
    let head = RX_HEAD.load(Ordering::Relaxed);
    let next = (head + 1) % RX_RING;
    if next == RX_TAIL.load(Ordering::Acquire) {
        RX_DROPPED.store(RX_DROPPED.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        return;
    }
    RX_BUF[head].store(byte, Ordering::Relaxed);
    RX_HEAD.store(next, Ordering::Release);
}

/// The UART receive interrupt: moves every received byte into the ring.
#[cfg(board = "mps2")]
extern "C" fn uart_rx_interrupt() {
    use uart_regs::*;
    // Clear first: a byte arriving after the drain below raises the interrupt again.
    reg_write(INTCLEAR, INT_RX);
    while reg_read(STATE) & STATE_RX_FULL != 0 {
        rx_push(reg_read(DATA) as u8);
    }
}

/// The UART interrupt: moves the received byte into the ring.
#[cfg(board = "microbit")]
extern "C" fn uart_rx_interrupt() {
    use uart_regs::*;
    while reg_read(EVENTS_RXDRDY) != 0 {
        reg_write(EVENTS_RXDRDY, 0);
        rx_push(reg_read(RXD) as u8);
    }
}

/// An entry of the interrupt vector table.
#[repr(C)]
pub union Vector {
    handler: unsafe extern "C" fn(),
    reserved: usize,
}

/// The device interrupt vectors that cortex-m-rt's `device` feature expects: only the UART's.
/// Interrupts that are never enabled get no entry (the table ends after the UART's).
#[cfg(board = "mps2")]
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
#[used]
pub static __INTERRUPTS: [Vector; 1] = [Vector {
    handler: uart_rx_interrupt,
}];

/// The device interrupt vectors that cortex-m-rt's `device` feature expects: only the UART's
/// (IRQ 2); IRQ 0 and 1 are never enabled.
#[cfg(board = "microbit")]
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
#[used]
pub static __INTERRUPTS: [Vector; 3] = [
    Vector { reserved: 0 },
    Vector { reserved: 0 },
    Vector {
        handler: uart_rx_interrupt,
    },
];

/// Sends one byte, waiting while the transmitter is busy.
#[cfg(board = "mps2")]
fn uart_write_byte(byte: u8) {
    use uart_regs::*;
    while reg_read(STATE) & STATE_TX_FULL != 0 {}
    reg_write(DATA, u32::from(byte));
}

/// Sends one byte and waits until it has gone.
#[cfg(board = "microbit")]
fn uart_write_byte(byte: u8) {
    use uart_regs::*;
    reg_write(TXD, u32::from(byte));
    while reg_read(EVENTS_TXDRDY) == 0 {}
    reg_write(EVENTS_TXDRDY, 0);
}

#[cfg(board = "mps2")]
fn uart_init() {
    use uart_regs::*;
    reg_write(BAUDDIV, 16);
    reg_write(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN);
}

#[cfg(board = "microbit")]
fn uart_init() {
    use uart_regs::*;
    reg_write(BAUDRATE, 0x01D7_E000); // 115200 baud
    reg_write(ENABLE, 4);
    reg_write(INTENSET, INT_RXDRDY);
    reg_write(STARTTX, 1);
    reg_write(STARTRX, 1);
}

// ---------------------------------------------------------------------------------------------
// Clock

/// Milliseconds since boot, counted by the SysTick exception (wraps after 49 days; see
/// [`Board::now_ms`]).
static TICKS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    // The only writer: a load and a store, no read-modify-write atomics (the M0 has none).
    TICKS.store(
        TICKS.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

#[exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    console_write(b"ferrule-fw: hard fault\n");
    semihosting::exit(EXIT_FAULT)
}

#[exception]
unsafe fn DefaultHandler(_irqn: i16) {
    console_write(b"ferrule-fw: unexpected exception\n");
    semihosting::exit(EXIT_FAULT)
}

// ---------------------------------------------------------------------------------------------
// The board

/// The board, set up: the UART receiving under interrupt, SysTick counting milliseconds.
pub struct Board {
    /// Milliseconds of the last wrap of [`TICKS`], so that the clock is 64 bits.
    high: u64,
    last: u32,
}

impl Board {
    /// Sets the board up. Call once, first thing.
    pub fn init() -> Self {
        let Some(mut p) = cortex_m::Peripherals::take() else {
            console_write(b"ferrule-fw: Board::init called twice\n");
            semihosting::exit(EXIT_FAULT)
        };
        uart_init();
        // 1 kHz SysTick from the core clock. It also keeps QEMU's main loop awake, so that bytes
        // from the host are noticed at once (see shared/QEMU.md).
        p.SYST.set_clock_source(SystClkSource::Core);
        p.SYST.set_reload(CORE_HZ / 1000 - 1);
        p.SYST.clear_current();
        p.SYST.enable_interrupt();
        p.SYST.enable_counter();
        // SAFETY: no critical section of this firmware relies on the UART interrupt being masked;
        // its handler shares only the atomics of the ring.
        unsafe { NVIC::unmask(UartIrq) };
        Self { high: 0, last: 0 }
    }

    /// Milliseconds since boot.
    pub fn now_ms(&mut self) -> u64 {
        let ticks = TICKS.load(Ordering::Relaxed);
        if ticks < self.last {
            self.high += 1 << 32;
        }
        self.last = ticks;
        self.high + u64::from(ticks)
    }

    /// Sends `bytes` over the UART.
    pub fn uart_write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            uart_write_byte(b);
        }
    }

    /// The next received byte, if one is waiting.
    pub fn uart_read(&mut self) -> Option<u8> {
        let tail = RX_TAIL.load(Ordering::Relaxed);
        if tail == RX_HEAD.load(Ordering::Acquire) {
            return None;
        }
        let byte = RX_BUF[tail].load(Ordering::Relaxed);
        RX_TAIL.store((tail + 1) % RX_RING, Ordering::Release);
        Some(byte)
    }

    /// Received bytes dropped because the ring was full (the main loop was too slow).
    pub fn uart_dropped(&self) -> u32 {
        RX_DROPPED.load(Ordering::Relaxed)
    }

    /// Sleeps until an interrupt (a received byte, or the next millisecond tick), unless a byte is
    /// already waiting. Interrupts are masked around the check so that a byte arriving between
    /// the check and `wfi` still wakes it (a pending interrupt ends `wfi` even while masked; its
    /// handler runs as soon as they are unmasked).
    pub fn wait(&mut self) {
        cortex_m::interrupt::disable();
        if RX_TAIL.load(Ordering::Relaxed) == RX_HEAD.load(Ordering::Acquire) {
            cortex_m::asm::wfi();
        }
        // SAFETY: re-enables what `disable` above masked; nothing here relies on masking.
        unsafe { cortex_m::interrupt::enable() };
    }
}

// ---------------------------------------------------------------------------------------------
// Stack gauge

extern "C" {
    /// Top of the stack (cortex-m-rt): the initial stack pointer.
    static _stack_start: u32;
    /// Lowest address the stack may grow to (cortex-m-rt): the end of `.bss`/`.uninit`.
    static _stack_end: u32;
}

/// The deepest the stack has been since reset, in bytes.
///
/// cortex-m-rt's `paint-stack` feature fills the whole stack region with
/// `cortex_m_rt::STACK_PAINT_VALUE` at reset; this scans from its bottom up to the first word
/// that is no longer painted. A function that reserved stack and never wrote its lowest words
/// is under-counted by those words: the figure is a lower bound, exact to the deepest write.
pub fn peak_stack() -> usize {
    let bottom = &raw const _stack_end as usize;
    let top = &raw const _stack_start as usize;
    let mut addr = bottom;
    while addr < top {
        // SAFETY: `addr` is word-aligned and between `_stack_end` and `_stack_start`, which is
        // RAM reserved for the stack: reading it is always defined (it holds the paint or stack
        // data), and nothing else owns it.
        let word = unsafe { core::ptr::read_volatile(addr as *const u32) };
        if word != cortex_m_rt::STACK_PAINT_VALUE {
            break;
        }
        addr += 4;
    }
    top - addr
}

/// The size of the stack region (RAM not taken by `.data`, `.bss` and `.uninit`).
pub fn stack_size() -> usize {
    (&raw const _stack_start as usize) - (&raw const _stack_end as usize)
}

// ---------------------------------------------------------------------------------------------
// Semihosting

/// Writes `bytes` to the host's console (QEMU's standard output or error, see the README).
pub fn console_write(bytes: &[u8]) {
    semihosting::console_write(bytes);
}

/// Semihosting (ARM DUI 0471, "Semihosting operations"): host files, the command line, the
/// console and the exit code, through the debugger (here QEMU with
/// `-semihosting-config enable=on,target=native`).
pub mod semihosting {
    use super::{AtomicI32, Ordering};

    const SYS_OPEN: u32 = 0x01;
    const SYS_CLOSE: u32 = 0x02;
    const SYS_WRITE: u32 = 0x05;
    const SYS_READ: u32 = 0x06;
    const SYS_SEEK: u32 = 0x0A;
    const SYS_GET_CMDLINE: u32 = 0x15;
    const SYS_EXIT_EXTENDED: u32 = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: usize = 0x2_0026;

    /// `fopen` modes, as numbered by semihosting.
    #[derive(Clone, Copy, Debug)]
    pub enum Mode {
        /// `"rb"`.
        Read = 1,
        /// `"r+b"`: read and write an existing file.
        ReadWrite = 3,
        /// `"w"`.
        WriteText = 4,
        /// `"w+b"`: create or truncate, read and write.
        Create = 7,
    }

    /// Performs semihosting operation `op` with argument `arg` (usually the address of an
    /// argument block); returns r0.
    ///
    /// # Safety
    /// `arg` must be what `op` expects: a block whose pointers are valid for the lengths it
    /// gives, for reads (data to the host) or writes (data from the host), for the whole call.
    #[inline(always)]
    pub unsafe fn call(op: u32, arg: usize) -> isize {
        let result: isize;
        // SAFETY: the caller upholds the contract; `bkpt 0xAB` traps into the debugger, which
        // performs the operation and returns in r0. The default (non-`nomem`) asm options make
        // the compiler assume memory is read and written, so the buffers are up to date.
        unsafe {
            core::arch::asm!(
                "bkpt #0xab",
                inout("r0") op as usize => result,
                in("r1") arg,
                options(nostack, preserves_flags),
            );
        }
        result
    }

    /// A host file, open.
    #[derive(Debug)]
    pub struct File(usize);

    impl File {
        /// Opens `path` (at most 95 bytes, relative to QEMU's working directory) with `mode`.
        pub fn open(path: &[u8], mode: Mode) -> Option<Self> {
            let mut z = [0u8; 96];
            z.get_mut(..path.len())?.copy_from_slice(path);
            if path.contains(&0) || path.len() >= z.len() {
                return None;
            }
            let block = [z.as_ptr() as usize, mode as usize, path.len()];
            // SAFETY: SYS_OPEN reads the NUL-terminated name at block[0] (length block[2]).
            let handle = unsafe { call(SYS_OPEN, block.as_ptr() as usize) };
            usize::try_from(handle).ok().map(Self)
        }

        /// Reads up to `buf.len()` bytes; returns how many were read (0 at the end).
        pub fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
            let block = [self.0, buf.as_mut_ptr() as usize, buf.len()];
            // SAFETY: SYS_READ writes at most block[2] bytes to block[1], which is `buf`.
            let not_read = unsafe { call(SYS_READ, block.as_ptr() as usize) };
            let not_read = usize::try_from(not_read).ok()?;
            buf.len().checked_sub(not_read)
        }

        /// Reads until `buf` is full or the file ends; returns how many bytes were read.
        pub fn read_full(&mut self, buf: &mut [u8]) -> Option<usize> {
            let mut total = 0;
            while total < buf.len() {
                let n = self.read(buf.get_mut(total..)?)?;
                if n == 0 {
                    break;
                }
                total += n;
            }
            Some(total)
        }

        /// Writes all of `bytes`; `false` if the host did not take them all.
        pub fn write_all(&mut self, bytes: &[u8]) -> bool {
            let block = [self.0, bytes.as_ptr() as usize, bytes.len()];
            // SAFETY: SYS_WRITE reads block[2] bytes from block[1], which is `bytes`.
            let not_written = unsafe { call(SYS_WRITE, block.as_ptr() as usize) };
            not_written == 0
        }

        /// Moves to absolute byte position `pos`.
        pub fn seek(&mut self, pos: usize) -> bool {
            let block = [self.0, pos];
            // SAFETY: SYS_SEEK takes a handle and a position; no buffers.
            unsafe { call(SYS_SEEK, block.as_ptr() as usize) == 0 }
        }
    }

    impl Drop for File {
        fn drop(&mut self) {
            let block = [self.0];
            // SAFETY: SYS_CLOSE takes a handle; no buffers.
            unsafe { call(SYS_CLOSE, block.as_ptr() as usize) };
        }
    }

    /// The command line QEMU gives the program: the kernel's file name, then the words of
    /// `-append` (or the `arg=` values of `-semihosting-config`), separated by spaces. Returns
    /// its length in `buf`.
    pub fn command_line(buf: &mut [u8]) -> Option<usize> {
        let mut block = [buf.as_mut_ptr() as usize, buf.len()];
        // SAFETY: SYS_GET_CMDLINE writes at most block[1] bytes to block[0] (`buf`) and stores
        // the length in block[1].
        let result = unsafe { call(SYS_GET_CMDLINE, block.as_mut_ptr() as usize) };
        (result == 0).then_some(block[1].min(buf.len()))
    }

    /// Handle of the console (`:tt` opened for writing), -2 before the first write, -1 if it
    /// could not be opened.
    static CONSOLE: AtomicI32 = AtomicI32::new(-2);

    /// Writes `bytes` to the host console.
    pub fn console_write(bytes: &[u8]) {
        let mut handle = CONSOLE.load(Ordering::Relaxed);
        if handle == -2 {
            handle = File::open(b":tt", Mode::WriteText)
                .map(|f| {
                    let h = f.0 as i32;
                    core::mem::forget(f);
                    h
                })
                .unwrap_or(-1);
            CONSOLE.store(handle, Ordering::Relaxed);
        }
        if let Ok(handle) = usize::try_from(handle) {
            let mut console = core::mem::ManuallyDrop::new(File(handle));
            console.write_all(bytes);
        }
    }

    /// Ends the program; QEMU exits with `code`.
    pub fn exit(code: u32) -> ! {
        let block = [ADP_STOPPED_APPLICATION_EXIT, code as usize];
        loop {
            // SAFETY: SYS_EXIT_EXTENDED reads the reason and the exit code from the block.
            unsafe { call(SYS_EXIT_EXTENDED, block.as_ptr() as usize) };
        }
    }
}
