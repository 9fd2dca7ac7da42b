//! `orchestrator admin ...`: operator commands on the configured database (the same settings
//! as the server: `--config`, `OCAAS_*`, `--set`). They print what they made; secrets (a new
//! key, an invite code) are printed once, on standard output, and nowhere else. Passwords are
//! read from standard input, never from the command line (`ps` would show them).

use chrono::Utc;
use clap::Subcommand;

use crate::api::accounts::{mint_key, requested_perms};
use crate::api::invites::create_invite;
use crate::api::session::normalize_email;
use crate::auth::{Perms, password};
use crate::settings::Settings;
use crate::store::{Owner, Store};

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account (and, with --password-stdin, let it sign in on /account).
    CreateAccount {
        /// The sign-in email.
        #[arg(long)]
        email: String,
        /// Display name (default: the email's local part).
        #[arg(long)]
        name: Option<String>,
        /// An admin account (never gated; may use /api/admin/...).
        #[arg(long)]
        admin: bool,
        /// This account's own instance limit.
        #[arg(long)]
        max_instances: Option<u32>,
        /// Read the password (first line) from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API key for an account (printed once).
    CreateKey {
        /// The account's email or id.
        #[arg(long)]
        account: String,
        #[arg(long, default_value = "api key")]
        name: String,
        /// Comma-separated permissions (default: all): instances:read, instances:write,
        /// chat, files, terminal, admin.
        #[arg(long)]
        permissions: Option<String>,
    },
    /// Create an invite code (printed once).
    CreateInvite {
        /// How many accounts may redeem it.
        #[arg(long, default_value_t = 1)]
        max_redemptions: u32,
        /// Expire after this many hours (default: never).
        #[arg(long)]
        expires_in_hours: Option<u64>,
        /// Your own code instead of a random one.
        #[arg(long)]
        code: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
}

fn api_err(e: crate::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code.as_str(), e.message)
}

/// Run one command; returns what to print.
pub async fn run(
    settings: &Settings,
    cmd: AdminCommand,
    stdin: impl std::io::BufRead,
) -> anyhow::Result<String> {
    std::fs::create_dir_all(&settings.data_dir)?;
    let store = Store::connect(&settings.database_url()).await?;
    match cmd {
        AdminCommand::CreateAccount {
            email,
            name,
            admin,
            max_instances,
            password_stdin,
        } => {
            let email = normalize_email(&email).map_err(api_err)?;
            let hash = if password_stdin {
                let line = stdin.lines().next().transpose()?.unwrap_or_default();
                let pw = line.trim_end_matches(['\r', '\n']).to_owned();
                password::check_strength(&pw).map_err(api_err)?;
                Some(password::hash(pw).await?)
            } else {
                None
            };
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("account").into());
            let max = max_instances.map(|m| i32::try_from(m).unwrap_or(i32::MAX));
            let account = store
                .create_account(&name, Some(&email), admin, max)
                .await?;
            let owner = Owner::from_authenticated(account.id);
            if let Some(hash) = hash {
                store.set_password_hash(&owner, &hash).await?;
            }
            Ok(format!(
                "account {} <{email}>{}{}",
                account.id,
                if admin { " (admin)" } else { "" },
                if password_stdin {
                    ", password set"
                } else {
                    ", no password (keys only)"
                }
            ))
        }
        AdminCommand::CreateKey {
            account,
            name,
            permissions,
        } => {
            let found = match account.parse::<uuid::Uuid>() {
                Ok(id) => store.get_account_all_owners(id).await?,
                Err(_) => {
                    let email = normalize_email(&account).map_err(api_err)?;
                    store.find_account_by_email_for_sign_in(&email).await?
                }
            };
            let found = found.ok_or_else(|| anyhow::anyhow!("no such account: {account}"))?;
            let asked: Option<Vec<String>> =
                permissions.map(|p| p.split(',').map(|s| s.trim().to_owned()).collect());
            let perms = requested_perms(asked.as_deref(), Perms::all()).map_err(api_err)?;
            let owner = Owner::from_authenticated(found.id);
            let key = mint_key(&store, &owner, &name, perms)
                .await
                .map_err(api_err)?;
            Ok(format!(
                "{}\n(key {} for account {}, permissions {}; shown once)",
                key.key,
                key.view.prefix,
                found.id,
                perms.to_stored()
            ))
        }
        AdminCommand::CreateInvite {
            max_redemptions,
            expires_in_hours,
            code,
            note,
        } => {
            let expires = expires_in_hours.map(|h| {
                Utc::now() + chrono::Duration::hours(i64::try_from(h).unwrap_or(i64::MAX / 7200))
            });
            let created = create_invite(&store, max_redemptions, expires, code, note)
                .await
                .map_err(api_err)?;
            Ok(format!(
                "{}\n(invite {}, {} redemption(s), expires {}; shown once)",
                created.code,
                created.view.id,
                created.view.max_redemptions,
                created.view.expires_at.as_deref().unwrap_or("never")
            ))
        }
    }
}
