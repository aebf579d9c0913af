//! What a run does: read from the semihosting command line, with defaults fixed at build time.
//!
//! QEMU passes the words of `-append "..."` after the kernel's file name. Each is `KEY=VALUE`:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `bundle` | host path of the device bundle (`ferrule device add` writes it) | `$FERRULE_FW_BUNDLE` at build time, else `bundle.bin` |
//! | `context` | host path of the pre-shared OSCORE context (`oscore-only` only; see its docs) | `$FERRULE_FW_CONTEXT` at build time, else `oscore.bin` |
//! | `nvm` | host path of the NVM file (created if missing) | `$FERRULE_FW_NVM` at build time, else `nvm.bin` |
//! | `count` | telemetry messages to deliver | `$FERRULE_FW_COUNT` at build time, else 3 |
//! | `commands` | commands to wait for after the telemetry (polling `GET /c`) | 0: one `GET /c`, no waiting |
//! | `deadline_ms` | give up after this long | 60000 |
//!
//! Paths are relative to QEMU's working directory. Unknown keys are an error.

/// A run's settings.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    /// Host path of the bundle.
    pub bundle: &'a [u8],
    /// Host path of the NVM file.
    pub nvm: &'a [u8],
    /// Host path of the pre-shared OSCORE context (`oscore-only`).
    pub context: &'a [u8],
    /// Telemetry messages to deliver.
    pub count: u32,
    /// Commands to wait for.
    pub commands: u32,
    /// Overall deadline in milliseconds.
    pub deadline_ms: u64,
}

const fn env_or(value: Option<&'static str>, default: &'static str) -> &'static str {
    match value {
        Some(v) => v,
        None => default,
    }
}

const fn parse_const(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut n = 0u32;
    let mut i = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "FERRULE_FW_COUNT must be a number");
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

/// The default bundle path.
pub const DEFAULT_BUNDLE: &str = env_or(option_env!("FERRULE_FW_BUNDLE"), "bundle.bin");
/// The default NVM path.
pub const DEFAULT_NVM: &str = env_or(option_env!("FERRULE_FW_NVM"), "nvm.bin");
/// The default pre-shared OSCORE context path.
pub const DEFAULT_CONTEXT: &str = env_or(option_env!("FERRULE_FW_CONTEXT"), "oscore.bin");
/// The default message count.
pub const DEFAULT_COUNT: u32 = parse_const(env_or(option_env!("FERRULE_FW_COUNT"), "3"));

fn number(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 12 {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

impl<'a> Args<'a> {
    /// The settings from `cmdline` (its first word, the program name, is skipped). `Err` holds
    /// the word that is not understood.
    pub fn parse(cmdline: &'a [u8]) -> Result<Self, &'a [u8]> {
        let mut args = Self {
            bundle: DEFAULT_BUNDLE.as_bytes(),
            nvm: DEFAULT_NVM.as_bytes(),
            context: DEFAULT_CONTEXT.as_bytes(),
            count: DEFAULT_COUNT,
            commands: 0,
            deadline_ms: 60_000,
        };
        let words = cmdline.split(|&b| b == b' ').filter(|w| !w.is_empty());
        for word in words.skip(1) {
            let Some(eq) = word.iter().position(|&b| b == b'=') else {
                return Err(word);
            };
            let (key, value) = (&word[..eq], &word[eq + 1..]);
            match key {
                b"bundle" => args.bundle = value,
                b"nvm" => args.nvm = value,
                b"context" => args.context = value,
                b"count" => args.count = number(value).ok_or(word)? as u32,
                b"commands" => args.commands = number(value).ok_or(word)? as u32,
                b"deadline_ms" => args.deadline_ms = number(value).ok_or(word)?,
                _ => return Err(word),
            }
        }
        Ok(args)
    }
}
