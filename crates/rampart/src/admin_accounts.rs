//! `rampart admin`: the administrators of the console (docs/CONSOLE.md), separate from mail
//! users. Each has a role, an Argon2id password and a TOTP secret; the secret is printed once,
//! when the account is made or its secret reset, and every console login asks for a code.

use clap::Subcommand;
use rampart_config::Config;
use rampart_store::admins::{AdminRole, TotpEnrolment};
use std::io::{BufRead, IsTerminal, Write};

pub type Error = Box<dyn std::error::Error>;

/// Shortest administrator password (NIST SP 800-63B asks at least 8; a console that can
/// release mail deserves more).
const MIN_PASSWORD: usize = 12;

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Create an administrator. The password is read from a prompt, or from stdin with
    /// --password-stdin; the TOTP secret and its otpauth:// URI are printed once.
    Add {
        /// The login name (letters, digits, . - _ @).
        name: String,
        /// auditor (reads everything, changes nothing), operator (also quarantine and queue)
        /// or administrator (everything).
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the administrators: name, role, state.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove an administrator; its console sessions end.
    Remove {
        /// The administrator's name.
        name: String,
    },
    /// A new TOTP secret (a lost authenticator); printed once; the sessions end.
    ResetTotp {
        /// The administrator's name.
        name: String,
    },
    /// Stop an administrator's logins; its sessions end.
    Disable {
        /// The administrator's name.
        name: String,
    },
    /// Let a disabled administrator log in again.
    Enable {
        /// The administrator's name.
        name: String,
    },
}

pub fn run(config: &Config, cmd: AdminCmd) -> Result<(), Error> {
    if config.store.backend == rampart_config::StoreBackend::Postgresql {
        return run_postgresql(config, cmd);
    }
    let store = crate::admin::open(config)?;
    match cmd {
        AdminCmd::Add {
            name,
            role,
            password_stdin,
        } => {
            let role = AdminRole::parse(&role).ok_or_else(|| {
                format!("unknown role `{role}`; use auditor, operator or administrator")
            })?;
            let password = read_password(password_stdin)?;
            let e = store.admin_add(&name, role, &password)?;
            println!("administrator {} added ({role})", name.to_ascii_lowercase());
            print_enrolment(&e);
        }
        AdminCmd::List { json } => print_admins(store.admin_list()?, json)?,
        AdminCmd::Remove { name } => {
            if !store.admin_remove(&name)? {
                return Err(no_such(&name));
            }
            println!("administrator {name} removed");
        }
        AdminCmd::ResetTotp { name } => {
            let e = store
                .admin_reset_totp(&name)?
                .ok_or_else(|| no_such(&name))?;
            println!("new TOTP secret for {name}; the old one no longer works");
            print_enrolment(&e);
        }
        AdminCmd::Disable { name } => {
            if !store.admin_set_disabled(&name, true)? {
                return Err(no_such(&name));
            }
            println!("administrator {name} disabled");
        }
        AdminCmd::Enable { name } => {
            if !store.admin_set_disabled(&name, false)? {
                return Err(no_such(&name));
            }
            println!("administrator {name} enabled");
        }
    }
    Ok(())
}

/// The same commands on `[store] backend = "postgresql"`: the administrators are the shared
/// database's (schema step 15), so one added with any node's command line signs in on every
/// node's console, and a removal, reset or disable ends its sessions on all of them.
fn run_postgresql(config: &Config, cmd: AdminCmd) -> Result<(), Error> {
    use rampart_store::admins::Admins;
    // The password is asked for before the database is opened, as on SQLite.
    let add = match &cmd {
        AdminCmd::Add {
            role,
            password_stdin,
            ..
        } => {
            let role = AdminRole::parse(role).ok_or_else(|| {
                format!("unknown role `{role}`; use auditor, operator or administrator")
            })?;
            Some((role, read_password(*password_stdin)?))
        }
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let store = crate::store_cmd::open_pg(config).await?;
        match cmd {
            AdminCmd::Add { name, .. } => {
                let (role, password) = add.unwrap_or((AdminRole::Auditor, String::new()));
                let e = store.admin_add(&name, role, &password).await?;
                println!("administrator {} added ({role})", name.to_ascii_lowercase());
                print_enrolment(&e);
            }
            AdminCmd::List { json } => print_admins(store.admin_list().await?, json)?,
            AdminCmd::Remove { name } => {
                if !store.admin_remove(&name).await? {
                    return Err(no_such(&name));
                }
                println!("administrator {name} removed");
            }
            AdminCmd::ResetTotp { name } => {
                let e = store
                    .admin_reset_totp(&name)
                    .await?
                    .ok_or_else(|| no_such(&name))?;
                println!("new TOTP secret for {name}; the old one no longer works");
                print_enrolment(&e);
            }
            AdminCmd::Disable { name } => {
                if !store.admin_set_disabled(&name, true).await? {
                    return Err(no_such(&name));
                }
                println!("administrator {name} disabled");
            }
            AdminCmd::Enable { name } => {
                if !store.admin_set_disabled(&name, false).await? {
                    return Err(no_such(&name));
                }
                println!("administrator {name} enabled");
            }
        }
        Ok(())
    })
}

fn print_admins(admins: Vec<rampart_store::admins::AdminAccount>, json: bool) -> Result<(), Error> {
    for a in admins {
        if json {
            println!("{}", serde_json::to_string(&a)?);
        } else {
            let state = if a.disabled { "disabled" } else { "enabled" };
            println!("{}\t{}\t{state}", a.name, a.role);
        }
    }
    Ok(())
}

fn no_such(name: &str) -> Error {
    format!("no administrator {name}; see `rampart admin list`").into()
}

fn print_enrolment(e: &TotpEnrolment) {
    println!("TOTP secret (base32): {}", e.secret);
    println!("otpauth URI: {}", e.uri);
    println!("(shown this once: add it to an authenticator app now; every console login asks for its code)");
}

fn read_password(from_stdin: bool) -> Result<String, Error> {
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        eprint!("password for the new administrator (it will be visible as you type): ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.chars().count() < MIN_PASSWORD {
        return Err(format!(
            "the password must be at least {MIN_PASSWORD} characters; pipe it in with --password-stdin"
        )
        .into());
    }
    Ok(pw)
}
