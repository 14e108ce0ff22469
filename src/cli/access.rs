//! `mameynode access key new|revoke|list`: API keys in the node's key file (INTERFACES §13). The
//! node rereads the file when it changes, so no restart is needed.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use mameynode::access::{keys, AccessConfig, Role};
use mameynode::config::NodeConfig;

#[derive(Subcommand)]
pub(super) enum AccessCommand {
    /// API keys: new (prints the key alone on stdout, shown only once), revoke, list.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Subcommand)]
pub(super) enum KeyCommand {
    /// Create a key and print it.
    New {
        #[command(flatten)]
        at: KeyFileArgs,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A label for lists and the audit log (who holds the key).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Revoke a key by its id (the 8 hex digits after `mamey_`).
    Revoke {
        #[command(flatten)]
        at: KeyFileArgs,
        id: String,
    },
    /// List keys (ids, names, roles, creation and revocation times) as JSON; never the keys.
    List {
        #[command(flatten)]
        at: KeyFileArgs,
    },
}

#[derive(Args)]
pub(super) struct KeyFileArgs {
    /// The node's data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The node's config file (its data_dir and [access] keys_file are used).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum RoleArg {
    Read,
    Submit,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Read => Role::Read,
            RoleArg::Submit => Role::Submit,
            RoleArg::Admin => Role::Admin,
        }
    }
}

impl KeyFileArgs {
    fn path(&self) -> Result<PathBuf> {
        let config = match &self.config {
            Some(c) => NodeConfig::load(c)?,
            None => NodeConfig::default(),
        };
        let data_dir = match (&self.data_dir, &self.config) {
            (Some(d), _) => d.clone(),
            (None, Some(_)) => config.data_dir.clone(),
            (None, None) => anyhow::bail!("give --data-dir DIR or --config FILE"),
        };
        let keys_file = if self.config.is_some() {
            config.access.keys_file
        } else {
            AccessConfig::default().keys_file
        };
        Ok(data_dir.join(keys_file))
    }
}

pub(super) fn command(c: AccessCommand) -> Result<()> {
    let AccessCommand::Key(k) = c;
    match k {
        KeyCommand::New { at, role, name } => {
            let path = at.path()?;
            let (key, entry) = keys::create(&path, role.into(), &name)
                .with_context(|| format!("cannot add a key to {}", path.display()))?;
            eprintln!(
                "API key {} (role {}) added to {}; it is shown only now",
                entry.id,
                entry.role.name(),
                path.display()
            );
            println!("{key}");
        }
        KeyCommand::Revoke { at, id } => {
            let entry = keys::revoke(&at.path()?, &id)?;
            eprintln!("API key {} revoked", entry.id);
        }
        KeyCommand::List { at } => {
            let keys = keys::list(&at.path()?)?;
            println!("{}", serde_json::to_string_pretty(&keys)?);
        }
    }
    Ok(())
}
