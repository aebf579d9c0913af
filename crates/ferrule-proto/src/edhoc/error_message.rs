//! The EDHOC error message (RFC 9528 Section 6): `(ERR_CODE: int, ERR_INFO: any)`.

use crate::cbor::{CborError, Decoder, Encoder, MajorType};

use super::{CipherSuite, ErrCode, Error, SuiteList};

/// ERR_INFO of a received error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorInfo<'a> {
    /// ERR_CODE 1: a diagnostic text.
    Diagnostic(&'a str),
    /// ERR_CODE 2: the responder's supported suites.
    Suites(SuiteList),
    /// ERR_CODE 3: `true`.
    UnknownCredential,
    /// Any other ERR_CODE: its ERR_INFO item, undecoded.
    Other(&'a [u8]),
}

/// A parsed EDHOC error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorMessage<'a> {
    /// ERR_CODE.
    pub code: i64,
    /// ERR_INFO.
    pub info: ErrorInfo<'a>,
}

/// Whether `message` is an error message rather than message_2, 3 or 4 (those start with a
/// byte string; an error message starts with an integer).
pub fn is_error_message(message: &[u8]) -> bool {
    matches!(
        Decoder::new(message).peek_type(),
        Some(MajorType::Unsigned | MajorType::Negative)
    )
}

impl<'a> ErrorMessage<'a> {
    /// Parses a complete error message.
    ///
    /// # Errors
    /// If it is malformed or has trailing bytes.
    pub fn parse(message: &'a [u8]) -> Result<Self, CborError> {
        let mut d = Decoder::new(message);
        let code = d.i64()?;
        let info = match code {
            1 => ErrorInfo::Diagnostic(d.text()?),
            2 => ErrorInfo::Suites(decode_suites(&mut d)?),
            3 => {
                if !d.bool()? {
                    return Err(CborError::OutOfRange);
                }
                ErrorInfo::UnknownCredential
            }
            _ => ErrorInfo::Other(d.skip()?),
        };
        d.finish()?;
        Ok(Self { code, info })
    }

    /// Converts a received error message into the [`Error`] a handshake step returns.
    ///
    /// ERR_INFO is not carried: for ERR_CODE 2, take SUITES_R from [`Self::info`].
    pub const fn to_error(&self) -> Error {
        Error::Peer { code: self.code }
    }
}

/// Writes an error message for `error`: ERR_CODE 1 with its reason, ERR_CODE 2 with
/// `supported` as SUITES_R, or ERR_CODE 3. Returns the length.
///
/// # Errors
/// [`Error::BufferTooSmall`] if it does not fit.
pub fn write_error_message(
    code: ErrCode,
    reason: &str,
    supported: &SuiteList,
    out: &mut [u8],
) -> Result<usize, Error> {
    let mut e = Encoder::new(out);
    match code {
        ErrCode::Unspecified => {
            e.u64(1)?.text(reason)?;
        }
        ErrCode::WrongSelectedSuite => {
            e.u64(2)?;
            encode_suites(supported, &mut e)?;
        }
        ErrCode::UnknownCredential => {
            e.u64(3)?.bool(true)?;
        }
    }
    Ok(e.finish())
}

/// Writes SUITES_I / SUITES_R: an integer for one suite, an array otherwise (Section 5.2.2).
pub(crate) fn encode_suites(suites: &SuiteList, e: &mut Encoder<'_>) -> Result<(), CborError> {
    if suites.len() != 1 {
        e.array(suites.len())?;
    }
    for s in suites.iter() {
        e.i64(i64::from(s.id()))?;
    }
    Ok(())
}

/// Reads SUITES_I / SUITES_R: an integer, or an array of at least two integers.
pub(crate) fn decode_suites(d: &mut Decoder<'_>) -> Result<SuiteList, CborError> {
    let mut list = SuiteList::new();
    let mut push = |v: i64| -> Result<(), CborError> {
        let id = i32::try_from(v).map_err(|_| CborError::OutOfRange)?;
        list.push(CipherSuite::from_id(id))
            .ok_or(CborError::OutOfRange)
    };
    match d.peek_type() {
        Some(MajorType::Array) => {
            let n = d.array()?;
            if !(2..=SuiteList::CAPACITY).contains(&n) {
                return Err(CborError::OutOfRange);
            }
            for _ in 0..n {
                push(d.i64()?)?;
            }
        }
        _ => push(d.i64()?)?,
    }
    Ok(list)
}
