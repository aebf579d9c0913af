//! `ferrule device export`: a device's credentials in another implementation's format, so that
//! implementation can act as the device (or as its cloud) against Ferrule.

use core::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use ferrule_cloud::{CloudDir, CloudIdentity};
use ferrule_device::Bundle;
use ferrule_proto::cbor::{Decoder, MajorType};
use ferrule_proto::edhoc::{AuthMode, CipherSuite, Method};

/// The formats `ferrule device export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// An aiocoap client credentials file (EDN, for `aiocoap-client --credentials FILE.diag`):
    /// aiocoap acts as this device against the Ferrule server at --server.
    Aiocoap,
    /// An aiocoap server credentials file: aiocoap acts as the cloud at --server for this
    /// device (it gets the cloud's private key: handle with care).
    AiocoapServer,
}

/// The arguments of `ferrule device export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The device to export.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The cloud directory, as set up by `ferrule init --dir DIR`.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The output format.
    #[arg(long, value_enum, default_value = "aiocoap")]
    pub format: ExportFormat,
    /// The server's URI, e.g. coap://127.0.0.1:5683 (include the port unless it is 5683).
    #[arg(long, value_name = "URI")]
    pub server: String,
}

/// Writes one CBOR item in diagnostic notation (RFC 8949 Section 8), as aiocoap reads it.
fn diag(d: &mut Decoder<'_>, out: &mut String) -> anyhow::Result<()> {
    let bad = |e| anyhow!("credential is not valid CBOR: {e}");
    match d.peek_type() {
        Some(MajorType::Unsigned | MajorType::Negative) => {
            write!(out, "{}", d.i64().map_err(bad)?)?
        }
        Some(MajorType::Bytes) => {
            out.push_str("h'");
            for b in d.bytes().map_err(bad)? {
                write!(out, "{b:02x}")?;
            }
            out.push('\'');
        }
        Some(MajorType::Text) => out.push_str(&serde_json::to_string(d.text().map_err(bad)?)?),
        Some(MajorType::Array) => {
            let n = d.array().map_err(bad)?;
            out.push('[');
            for i in 0..n {
                if i > 0 {
                    out.push_str(", ");
                }
                diag(d, out)?;
            }
            out.push(']');
        }
        Some(MajorType::Map) => {
            let n = d.map().map_err(bad)?;
            out.push('{');
            for i in 0..n {
                if i > 0 {
                    out.push_str(", ");
                }
                diag(d, out)?;
                out.push_str(": ");
                diag(d, out)?;
            }
            out.push('}');
        }
        Some(MajorType::Simple) => match d.simple().map_err(bad)? {
            20 => out.push_str("false"),
            21 => out.push_str("true"),
            22 => out.push_str("null"),
            n => write!(out, "simple({n})")?,
        },
        _ => bail!("credential uses CBOR that this exporter does not write (tags, floats)"),
    }
    Ok(())
}

fn ccs_diag(ccs: &[u8]) -> anyhow::Result<String> {
    let mut out = String::new();
    diag(&mut Decoder::new(ccs), &mut out)?;
    Ok(out)
}

/// A COSE_Key holding a private P-256 key, as aiocoap expects it.
fn private_key_diag(scalar: &[u8; 32]) -> String {
    let hex: String = scalar.iter().map(|b| format!("{b:02x}")).collect();
    format!("{{1: 2, -1: 1, -4: h'{hex}'}}")
}

/// The URI pattern aiocoap matches credentials with.
fn pattern(server: &str) -> anyhow::Result<String> {
    let s = server.trim_end_matches('/').trim_end_matches("/*");
    if !s.starts_with("coap://") {
        bail!("--server {server}: expected a coap:// URI such as coap://127.0.0.1:5683");
    }
    Ok(format!("{s}/*"))
}

/// Prints the credentials file.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    print!("{}", export(args)?);
    Ok(())
}

/// Builds the credentials file.
pub fn export(args: &ExportArgs) -> anyhow::Result<String> {
    let dir = CloudDir::new(&args.dir);
    let path = dir.bundle(&args.name);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "reading the bundle of device {} at {}",
            args.name,
            path.display()
        )
    })?;
    let bundle = Bundle::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if bundle.suite() != CipherSuite::Suite2 || bundle.method() != Method::StaticStatic {
        bail!(
            "device {} uses method {} and suite {}; aiocoap speaks EDHOC method 3 with suite 2 only: \
             add a device with --suite 2 --method 3",
            args.name,
            bundle.method().id(),
            bundle.suite().id()
        );
    }
    let uri = pattern(&args.server)?;
    let device_ccs = ccs_diag(bundle.device_credential().bytes())?;
    let server_ccs = ccs_diag(bundle.server_credential().bytes())?;
    let mut out = String::new();
    match args.format {
        ExportFormat::Aiocoap => {
            writeln!(out, "{{")?;
            writeln!(
                out,
                "  {}: {{ \"edhoc-oscore\": {{",
                serde_json::to_string(&uri)?
            )?;
            writeln!(
                out,
                "    \"suite\": 2, \"method\": 3, \"own_cred_style\": \"by-key-id\","
            )?;
            writeln!(out, "    \"own_cred\": {{14: {device_ccs}}},")?;
            writeln!(
                out,
                "    \"private_key\": {},",
                private_key_diag(bundle.private_key_bytes())
            )?;
            writeln!(out, "    \"peer_cred\": {{14: {server_ccs}}},")?;
            writeln!(out, "    \"use_combined_edhoc\": true")?;
            writeln!(out, "  }} }}")?;
            writeln!(out, "}}")?;
        }
        ExportFormat::AiocoapServer => {
            let identity = CloudIdentity::load(dir.root())?;
            let (key, _) = identity
                .credential_for(AuthMode::StaticDh, CipherSuite::Suite2)
                .ok_or_else(|| {
                    anyhow!(
                        "the cloud identity in {} has no P-256 key",
                        dir.root().display()
                    )
                })?;
            let scalar = key.to_bytes();
            writeln!(out, "{{")?;
            writeln!(
                out,
                "  {}: {{ \"edhoc-oscore\": {{",
                serde_json::to_string(&uri)?
            )?;
            writeln!(
                out,
                "    \"suite\": 2, \"method\": 3, \"own_cred_style\": \"by-key-id\","
            )?;
            writeln!(out, "    \"own_cred\": {{14: {server_ccs}}},")?;
            writeln!(out, "    \"private_key\": {}", private_key_diag(&scalar))?;
            writeln!(out, "  }} }},")?;
            writeln!(
                out,
                "  {}: {{ \"edhoc-oscore\": {{",
                serde_json::to_string(&format!(":{}", args.name))?
            )?;
            writeln!(out, "    \"suite\": 2, \"method\": 3,")?;
            writeln!(out, "    \"peer_cred\": {{14: {device_ccs}}}")?;
            writeln!(out, "  }} }}")?;
            writeln!(out, "}}")?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_notation_of_a_ccs() {
        let ccs = [
            0xa2, 0x02, 0x61, b'd', 0x08, 0xa1, 0x01, 0xa2, 0x01, 0x02, 0x20, 0x41, 0xab,
        ];
        assert_eq!(
            ccs_diag(&ccs).unwrap(),
            "{2: \"d\", 8: {1: {1: 2, -1: h'ab'}}}"
        );
    }

    #[test]
    fn uri_patterns() {
        assert_eq!(
            pattern("coap://127.0.0.1:5684").unwrap(),
            "coap://127.0.0.1:5684/*"
        );
        assert_eq!(pattern("coap://h/").unwrap(), "coap://h/*");
        assert!(pattern("http://h").is_err());
    }
}
