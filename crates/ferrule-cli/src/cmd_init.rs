//! `ferrule init`: create a cloud directory.

use std::path::PathBuf;

use clap::Args;
use ferrule_cloud::{CloudDir, CloudIdentity, Overwrite, Registry};

/// The arguments of `ferrule init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The cloud directory to set up; created if it does not exist.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Replace an existing cloud identity with a new one. Devices provisioned with the old one
    /// will no longer accept the cloud and must be provisioned again; the registry is kept.
    #[arg(long)]
    pub force: bool,
}

/// Runs `ferrule init`.
pub fn run(args: &InitArgs) -> anyhow::Result<()> {
    let dir = CloudDir::new(&args.dir);
    dir.create_dirs()?;
    let identity_existed = dir.identity().exists();
    let registry_existed = dir.registry().exists();

    let identity = CloudIdentity::generate()?;
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    let identity_path = identity.save(dir.root(), overwrite)?;

    let registry = Registry::create(dir.root())?;
    let registered = registry.list_devices()?.len();

    let plural = if registered == 1 { "" } else { "s" };
    println!("Cloud directory {}:", dir.root().display());
    println!(
        "  {}: the cloud's private keys and credentials (P-256, X25519, Ed25519), {}; mode \
         0600, keep it secret",
        identity_path.display(),
        if identity_existed {
            "replaced"
        } else {
            "created"
        }
    );
    if registry_existed {
        println!(
            "  {}: the device registry, kept ({registered} device{plural})",
            dir.registry().display()
        );
    } else {
        println!(
            "  {}: the device registry, created (empty)",
            dir.registry().display()
        );
    }
    println!(
        "  {}: device bundles are written here",
        dir.devices().display()
    );
    if identity_existed && registered > 0 {
        eprintln!(
            "warning: the {registered} registered device{plural} and their bundles still carry \
             the old cloud credential; they will not accept this cloud until provisioned again."
        );
    }
    println!(
        "Next: register a device with `ferrule device add NAME --dir {}`.",
        dir.root().display()
    );
    Ok(())
}
