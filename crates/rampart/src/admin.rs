//! The administrative commands. They work on the data directory directly (SQLite in WAL mode lets
//! them run beside a live server).

use clap::{Args, Subcommand};
use rampart_config::Config;
use rampart_store::{Store, TraceFilter};
use std::io::{BufRead, IsTerminal, Write};

pub type Error = Box<dyn std::error::Error>;

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Print the effective configuration (every default filled in) as TOML: the --config file,
    /// or the embedded default without one. It holds no secret (passwords stay in their files).
    Show,
    /// Check a configuration file without starting: "ok" and any warnings (exit 0), or every
    /// error, one per line (exit 2). Without FILE: the --config file, or the embedded default.
    Check {
        /// The configuration file to check.
        file: Option<std::path::PathBuf>,
    },
}

/// `rampart config show`.
pub fn config_show(config: &Config) -> Result<(), Error> {
    print!("{}", config.to_toml()?);
    Ok(())
}

/// `rampart config check [FILE]`.
pub fn config_check(file: Option<&std::path::Path>) -> std::process::ExitCode {
    let checked = match file {
        Some(path) => Config::load_with_warnings(path),
        None => Ok(Config::embedded_default_with_warnings()),
    };
    match checked {
        Ok((_, warnings)) => {
            println!("ok");
            for w in warnings {
                println!("{w}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            std::process::ExitCode::from(2)
        }
    }
}

#[derive(Subcommand)]
pub enum DomainCmd {
    /// Add a domain this server receives mail for.
    Add {
        /// The domain name, e.g. agency.example.
        name: String,
        /// Make postmaster@ and abuse@ of the domain aliases of this address (RFC 5321 4.5.1).
        #[arg(long)]
        postmaster: Option<String>,
    },
    /// List the domains.
    List {
        /// One JSON object per domain: {"domain": NAME}.
        #[arg(long)]
        json: bool,
    },
    /// Remove a domain. Refused while users or aliases of it exist (they are named), unless
    /// --force, which deletes them and the users' mail with it.
    Remove {
        /// The domain to remove.
        name: String,
        /// Delete the domain's users (with their mail) and aliases too.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user. The password is read from a prompt, or from stdin with --password-stdin;
    /// it is stored only as an Argon2id hash.
    /// The password must meet the policy ([passwords]: at least 12 characters by default, not
    /// one of the 10,000 most common passwords).
    Add {
        /// The user's address, in a domain added with `rampart domain add`.
        address: String,
        /// Read the password from standard input (one line) without a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users.
    List {
        /// One JSON object per user: {"address": ADDRESS}.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user: the account, its tokens, sessions, grants, identities, and the aliases
    /// that point at it. Its mailbox goes with it: refused while the mailbox holds mail,
    /// unless --purge-mail. The mailbox audit keeps the account's history.
    Delete {
        /// The user's address.
        address: String,
        /// Delete the messages in the mailbox too (they cannot be recovered).
        #[arg(long)]
        purge_mail: bool,
    },
    /// Set a new password for ADDRESS, read from a prompt or standard input (never from the
    /// command line). It must meet the policy ([passwords]); the user's webmail sessions end.
    Password {
        /// The user's address.
        address: String,
        /// Read the password from standard input (one line) without a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Let USER send as ADDRESS (envelope sender, From, Sender; NC-2.1.7); with --remove,
    /// withdraw that grant.
    SendAs {
        /// The user who is allowed.
        user: String,
        /// The address USER may send as, in a represented domain.
        address: String,
        /// Withdraw the grant instead (a trace event records it).
        #[arg(long)]
        remove: bool,
    },
    /// List the send-as grants (NC-2.1.7): `user -> address` a line.
    SendAsList {
        /// One JSON object per grant: {"user": USER, "address": ADDRESS}.
        #[arg(long)]
        json: bool,
    },
    /// Stop every login of ADDRESS: password (SMTP AUTH, JMAP), bearer tokens, and access to
    /// mailboxes delegated to it. Mail for ADDRESS is still received and kept.
    Disable {
        /// The user's address.
        address: String,
    },
    /// Let ADDRESS log in again.
    Enable {
        /// The user's address.
        address: String,
    },
    /// Bearer tokens for a user's clients (JMAP, submission): add, list, revoke.
    #[command(subcommand)]
    Token(crate::admin_mailbox::TokenCmd),
}

#[derive(Subcommand)]
pub enum DkimCmd {
    /// Create a signing key for a domain and print the DNS TXT record to publish. Signing starts
    /// with the next outbound message; publish the record first.
    Generate {
        /// The signing domain (d=).
        #[arg(long)]
        domain: String,
        /// The selector (s=): the record is published at SELECTOR._domainkey.DOMAIN.
        #[arg(long)]
        selector: String,
        /// rsa (2048 bits or more) or ed25519.
        #[arg(long, default_value = "rsa")]
        algorithm: String,
        /// RSA key size.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
    },
    /// List the signing keys.
    List {
        /// One JSON object per key: domain, selector, algorithm, path.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum AliasCmd {
    /// Deliver mail for ALIAS to TARGET (several targets: add the alias several times).
    Add {
        /// The alias address, in a represented domain.
        alias: String,
        /// The address it delivers to, in a represented domain (AL-4.2).
        target: String,
    },
    /// List the aliases.
    List {
        /// One JSON object per alias and target: {"alias": A, "target": T}.
        #[arg(long)]
        json: bool,
    },
    /// Remove ALIAS (every target), or only its TARGET.
    Remove {
        /// The alias address.
        alias: String,
        /// Only this target; without it, every target of the alias.
        target: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum MailboxCmd {
    /// List the messages in a user's mailbox.
    List {
        /// The user whose mailbox to list.
        user: String,
        /// One JSON object per message.
        #[arg(long)]
        json: bool,
    },
    /// Print one message, as stored (Return-Path first). The reading is recorded in the
    /// mailbox audit with the reason (AL-3.1).
    Show {
        /// The user whose mailbox it is.
        user: String,
        /// The message's id, as `rampart mailbox list` shows it (first column).
        id: i64,
        /// Why the administrator reads this mailbox (required; recorded).
        #[arg(long)]
        reason: String,
    },
    /// Let DELEGATE reach OWNER's mailbox: over JMAP it is a second account of the delegate.
    Grant {
        /// The mailbox's owner.
        owner: String,
        /// The user who gets access.
        delegate: String,
        /// read (read-only), send-as (read and send as the owner) or full.
        #[arg(long)]
        rights: String,
    },
    /// End DELEGATE's access to OWNER's mailbox.
    Revoke {
        /// The mailbox's owner.
        owner: String,
        /// The user whose access ends.
        delegate: String,
    },
    /// The delegation grants, of OWNER's mailbox or of every mailbox.
    Grants {
        /// Only the grants on this owner's mailbox.
        owner: Option<String>,
        /// One JSON object per grant.
        #[arg(long)]
        json: bool,
    },
    /// Delete one message from a user's mailbox (every folder of it). Recorded in the mailbox
    /// audit (AL-3.1) with the reason; the stored copy goes once no other mailbox holds it.
    Delete {
        /// The user whose mailbox it is.
        user: String,
        /// The message's id, as `rampart mailbox list` shows it (first column).
        id: i64,
        /// Why the administrator deletes it (recorded).
        #[arg(long, default_value = "deleted by the administrator")]
        reason: String,
    },
    /// The mailbox audit (AL-3.1): logins, reads, changes, tokens, delegation, administrators'
    /// reads of one mailbox, as a table or JSON lines.
    Audit(crate::admin_mailbox::AuditArgs),
}

#[derive(Subcommand)]
pub enum QuarantineCmd {
    /// Held messages, oldest first.
    List {
        /// One JSON object per held message.
        #[arg(long)]
        json: bool,
    },
    /// One held message: why, every verdict, then the message itself.
    Show {
        /// The queue id, as `rampart quarantine list` shows it.
        id: String,
    },
    /// Deliver a held message.
    Release {
        /// The queue id, as `rampart quarantine list` shows it.
        id: String,
    },
    /// Delete a held message.
    Delete {
        /// The queue id, as `rampart quarantine list` shows it.
        id: String,
    },
}

pub use crate::admin_queue::QueueCmd;

#[derive(Args, Clone)]
pub struct TraceArgs {
    /// Queue id (as in "250 2.0.0 Ok: queued as ID").
    #[arg(long)]
    queue_id: Option<String>,
    /// Message-ID header value, with or without angle brackets.
    #[arg(long)]
    message_id: Option<String>,
    /// Envelope sender.
    #[arg(long)]
    sender: Option<String>,
    /// Recipient.
    #[arg(long)]
    recipient: Option<String>,
    /// Client IP address.
    #[arg(long)]
    client: Option<String>,
    /// Start of the time range: RFC 3339 UTC (2026-11-23T08:00:00Z), a date (2026-11-23), Unix
    /// seconds, or an age such as 30m, 2h, 7d.
    #[arg(long)]
    since: Option<String>,
    /// End of the time range, in the same forms.
    #[arg(long)]
    until: Option<String>,
    /// One JSON object per event instead of text.
    #[arg(long)]
    json: bool,
    /// Most events printed.
    #[arg(long, default_value_t = 10_000)]
    limit: usize,
}

pub fn open(config: &Config) -> Result<Store, Error> {
    Store::open(&config.data_dir).map_err(|e| {
        format!(
            "cannot open the data directory {}: {e}{}",
            config.data_dir.display(),
            if e.is_full() {
                ""
            } else {
                "; pass --config or --data-dir"
            }
        )
        .into()
    })
}

pub fn domain(config: &Config, cmd: DomainCmd) -> Result<(), Error> {
    let store = open(config)?;
    match cmd {
        DomainCmd::Add { name, postmaster } => {
            store.add_domain(&name)?;
            let name = name.to_ascii_lowercase();
            if let Some(target) = postmaster {
                for local in ["postmaster", "abuse"] {
                    store.add_alias(&format!("{local}@{name}"), &target)?;
                }
            }
            println!("domain {name} added");
        }
        DomainCmd::List { json } => print_names(store.domains()?, "domain", json),
        DomainCmd::Remove { name, force } => {
            crate::admin_user::remove_domain(&store, &name, force)?
        }
    }
    Ok(())
}

pub fn user(config: &Config, cmd: UserCmd) -> Result<(), Error> {
    let store = open(config)?;
    match cmd {
        UserCmd::Add {
            address,
            password_stdin,
        } => {
            let password = read_password(password_stdin, "the new user")?;
            crate::password_policy::check_password(&config.passwords, &password)?;
            store.add_user(&address, &password)?;
            println!("user {} added", address.to_ascii_lowercase());
        }
        UserCmd::List { json } => print_names(store.users()?, "address", json),
        UserCmd::Delete {
            address,
            purge_mail,
        } => crate::admin_user::delete_user(&store, &address, purge_mail)?,
        UserCmd::Password {
            address,
            password_stdin,
        } => {
            // Unknown users are named before a password is asked for.
            if store.user_email_count(&address)?.is_none() {
                return Err(crate::admin_user::no_user(&address));
            }
            let password = read_password(password_stdin, &address.to_ascii_lowercase())?;
            crate::password_policy::check_password(&config.passwords, &password)?;
            store.set_password(&address, &password)?;
            println!("{}", password_line(&address));
        }
        UserCmd::SendAs {
            user,
            address,
            remove,
        } => {
            if remove {
                store.remove_send_as(&user, &address)?;
            } else {
                store.add_send_as(&user, &address)?;
            }
            println!("{}", send_as_line(&user, &address, remove));
        }
        UserCmd::SendAsList { json } => {
            print_pairs(store.send_as_grants()?, ("user", "address"), json)
        }
        UserCmd::Disable { address } => {
            crate::admin_mailbox::set_disabled(&store, &address, true)?;
        }
        UserCmd::Enable { address } => {
            crate::admin_mailbox::set_disabled(&store, &address, false)?;
        }
        UserCmd::Token(c) => crate::admin_mailbox::token(&store, c)?,
    }
    Ok(())
}

/// Reads a password from standard input (a prompt first when it is a terminal): never from the
/// command line, where other users would see it in the process list.
/// What `rampart user password` prints once done.
pub fn password_line(address: &str) -> String {
    format!(
        "password of {} changed; its webmail sessions have ended",
        address.to_ascii_lowercase()
    )
}

/// `domain list` and `user list`: one name a line, or one JSON object a line with the name under
/// `key`.
pub fn print_names(names: Vec<String>, key: &str, json: bool) {
    for n in names {
        if json {
            println!("{}", serde_json::json!({ key: n }));
        } else {
            println!("{n}");
        }
    }
}

/// What `user send-as` prints: the grant made, or withdrawn.
pub fn send_as_line(user: &str, address: &str, removed: bool) -> String {
    let how = if removed { "no longer" } else { "now" };
    format!(
        "{} may {how} send as {}",
        user.trim().to_ascii_lowercase(),
        address.trim().to_ascii_lowercase()
    )
}

/// `user send-as-list` and `alias list`: `left -> right` a line, or one JSON object per pair
/// with the two keys given (`user`/`address`, `alias`/`target`).
pub fn print_pairs(pairs: Vec<(String, String)>, keys: (&str, &str), json: bool) {
    for (l, r) in pairs {
        if json {
            println!("{}", serde_json::json!({ keys.0: l, keys.1: r }));
        } else {
            println!("{l} -> {r}");
        }
    }
}

pub fn read_password(from_stdin: bool, whose: &str) -> Result<String, Error> {
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        eprint!("password for {whose} (it will be visible as you type): ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err("no password given; pipe it in with --password-stdin".into());
    }
    Ok(pw)
}

pub fn alias(config: &Config, cmd: AliasCmd) -> Result<(), Error> {
    let store = open(config)?;
    match cmd {
        AliasCmd::Add { alias, target } => {
            store.add_alias(&alias, &target)?;
            println!(
                "alias {} -> {} added",
                alias.to_ascii_lowercase(),
                target.to_ascii_lowercase()
            );
        }
        AliasCmd::List { json } => print_pairs(store.aliases()?, ("alias", "target"), json),
        AliasCmd::Remove { alias, target } => {
            let removed = store.remove_alias(&alias, target.as_deref())?;
            crate::admin_user::print_aliases_removed(&alias, &removed);
        }
    }
    Ok(())
}

pub fn mailbox(config: &Config, cmd: MailboxCmd) -> Result<(), Error> {
    let store = open(config)?;
    match cmd {
        MailboxCmd::List { user, json } => {
            if store.user_email_count(&user)?.is_none() {
                return Err(crate::admin_user::no_user(&user));
            }
            print_mailbox(&store.mailbox_list(&user)?, json)?;
        }
        MailboxCmd::Show { user, id, reason } => {
            crate::admin_mailbox::show(&store, &user, id, &reason)?;
        }
        MailboxCmd::Grant {
            owner,
            delegate,
            rights,
        } => crate::admin_mailbox::grant(&store, &owner, &delegate, &rights)?,
        MailboxCmd::Revoke { owner, delegate } => {
            crate::admin_mailbox::revoke(&store, &owner, &delegate)?
        }
        MailboxCmd::Grants { owner, json } => {
            crate::admin_mailbox::grants(&store, owner.as_deref(), json)?
        }
        MailboxCmd::Delete { user, id, reason } => {
            crate::admin_mailbox::delete(&store, &user, id, &reason)?
        }
        MailboxCmd::Audit(a) => crate::admin_mailbox::audit(config, &store, a)?,
    }
    Ok(())
}

/// `rampart mailbox list`'s lines (either store): id, delivery time, sender, size, Message-ID;
/// or one JSON object per message.
pub fn print_mailbox(
    entries: &[rampart_store::mailbox::MailboxEntry],
    json: bool,
) -> Result<(), Error> {
    for m in entries {
        if json {
            println!("{}", serde_json::to_string(m)?);
        } else {
            println!(
                "{}\t{}\t{}\t{} bytes\t<{}>",
                m.id,
                format_time(m.delivered),
                if m.sender.is_empty() { "<>" } else { &m.sender },
                m.size,
                m.message_id.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}

pub fn dkim(config: &Config, cmd: DkimCmd) -> Result<(), Error> {
    use rampart_queue::dkim::{self, Algorithm};
    open(config)?; // creates the data directory if needed
    match cmd {
        DkimCmd::Generate {
            domain,
            selector,
            algorithm,
            bits,
        } => {
            let alg = match algorithm.as_str() {
                "rsa" => Algorithm::Rsa,
                "ed25519" => Algorithm::Ed25519,
                other => {
                    return Err(
                        format!("--algorithm {other} is not known; use rsa or ed25519").into(),
                    )
                }
            };
            let (path, name, value) =
                dkim::generate(&config.data_dir, &domain, &selector, alg, bits)?;
            eprintln!("key written to {} (mode 0600)", path.display());
            println!(
                "; AL-2.2: publish this TXT record, then mail from {} is signed with it",
                domain.to_ascii_lowercase()
            );
            println!("{name}. IN TXT {}", txt_strings(&value));
        }
        DkimCmd::List { json } => {
            for (domain, selector, alg, path) in dkim::list(&config.data_dir) {
                if json {
                    let v = serde_json::json!({
                        "domain": domain,
                        "selector": selector,
                        "algorithm": format!("{alg:?}").to_ascii_lowercase(),
                        "path": path,
                    });
                    println!("{v}");
                } else {
                    println!("{domain}\t{selector}\t{alg:?}\t{}", path.display());
                }
            }
        }
    }
    Ok(())
}

/// A TXT value as quoted strings of at most 255 bytes (a 2048-bit RSA key needs two).
pub fn txt_strings(value: &str) -> String {
    value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn quarantine(config: &Config, cmd: QuarantineCmd) -> Result<(), Error> {
    let store = open(config)?;
    let who = quarantine_actor();
    match cmd {
        QuarantineCmd::List { json } => print_quarantine(&store.quarantine_list()?, json)?,
        QuarantineCmd::Show { id } => {
            let h = store
                .quarantine_get(&id)?
                .ok_or_else(|| not_in_quarantine(&id))?;
            let bytes = store.message_bytes(&rampart_store::QueueId(id), true)?;
            print_held(&h, &bytes)?;
        }
        QuarantineCmd::Release { id } => {
            store.quarantine_release(&id, &who)?;
            println!("{}", released_line(&id));
        }
        QuarantineCmd::Delete { id } => {
            store.quarantine_delete(&id, &who)?;
            println!("{id} deleted");
        }
    }
    Ok(())
}

/// Who released or deleted a held message, as the trace names them (either store).
pub fn quarantine_actor() -> String {
    format!("administrator (uid {})", unsafe_uid())
}

/// `rampart quarantine show` of a message that is not held.
pub fn not_in_quarantine(id: &str) -> String {
    format!("no message {id} in quarantine; see `rampart quarantine list`")
}

/// What `rampart quarantine release` answers.
pub fn released_line(id: &str) -> String {
    format!("{id} released; it is delivered within seconds")
}

/// `rampart quarantine list [--json]`: one line (or JSON object) per held message.
pub fn print_quarantine(held: &[rampart_store::quarantine::Held], json: bool) -> Result<(), Error> {
    for h in held {
        if json {
            println!("{}", serde_json::to_string(h)?);
        } else {
            println!(
                "{}\t{}\t<{}>\t{}\t{}",
                h.queue_id,
                format_time(h.held),
                h.sender,
                h.recipients.join(","),
                h.reason
            );
        }
    }
    Ok(())
}

/// `rampart quarantine show`: why it is held, every verdict, then the message as stored.
pub fn print_held(h: &rampart_store::quarantine::Held, bytes: &[u8]) -> Result<(), Error> {
    println!(
        "Queue-ID: {}\nHeld: {}\nSender: <{}>\nRecipients: {}\nReason: {}\nVerdicts: {}\n",
        h.queue_id,
        format_time(h.held),
        h.sender,
        h.recipients.join(", "),
        h.reason,
        h.verdicts
    );
    std::io::stdout().write_all(bytes)?;
    Ok(())
}

#[allow(unsafe_code)]
fn unsafe_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

pub fn dns_records(config: &Config, domain: &str, rua: Option<String>) -> Result<(), Error> {
    // Issue 20: on PostgreSQL the keys every node signs with are the database's, besides this
    // node's own key files (AL-2.2).
    let stored = match config.store.backend {
        rampart_config::StoreBackend::Sqlite => Vec::new(),
        rampart_config::StoreBackend::Postgresql => crate::dkim_pg::stored_keys(config)?,
    };
    let (text, has_keys) = dns_records_text_with(config, domain, rua, &stored)?;
    print!("{text}");
    if !has_keys {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        eprintln!("no DKIM key for {domain} yet: create one with `rampart dkim generate --domain {domain} --selector s1`");
    }
    Ok(())
}

/// The zone-file lines `rampart dns-records` prints for `domain` (the console's DKIM page
/// checks them against DNS), and whether the domain has a DKIM key: the keys a shared store
/// keeps (`stored`, PostgreSQL; empty on the embedded store) before the data directory's files.
pub fn dns_records_text_with(
    config: &Config,
    domain: &str,
    rua: Option<String>,
    stored: &[rampart_store::dkim_keys::DkimKey],
) -> Result<(String, bool), Error> {
    use rampart_queue::dkim::{from_pem, public_key_of, Algorithm};
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for k in stored.iter().filter(|k| k.domain == domain) {
        let alg = Algorithm::parse(&k.algorithm).ok_or_else(|| {
            format!(
                "the stored DKIM key {}._domainkey.{domain} has an unknown algorithm `{}`",
                k.selector, k.algorithm
            )
        })?;
        let public = from_pem(alg, &k.private_key_pem)
            .and_then(|der| public_key_of(alg, der))
            .map_err(|e| {
                format!(
                    "the stored DKIM key {}._domainkey.{domain} cannot be read: {e}",
                    k.selector
                )
            })?;
        keys.push((k.selector.clone(), alg.name().to_string(), public));
    }
    let files: Vec<(String, String, String)> = rampart_queue::dkim::list(&config.data_dir)
        .into_iter()
        .filter(|(d, ..)| *d == domain)
        .filter_map(|(_, selector, alg, _)| {
            let public =
                rampart_queue::dkim::public_key(&config.data_dir, &domain, &selector, alg).ok()?;
            Some((
                selector,
                if alg == rampart_queue::dkim::Algorithm::Rsa {
                    "rsa".to_string()
                } else {
                    "ed25519".to_string()
                },
                public,
            ))
        })
        .collect();
    // A selector the database has is the one every node signs with; a file of the same name
    // would publish a second record for one DNS name.
    for f in files {
        if !keys.iter().any(|(s, ..)| *s == f.0) {
            keys.push(f);
        }
    }
    let selectors: Vec<(&str, &str, &str)> = keys
        .iter()
        .map(|(s, a, p)| (s.as_str(), a.as_str(), p.as_str()))
        .collect();
    let rua = rua.unwrap_or_else(|| format!("postmaster@{domain}"));
    let mut text =
        rampart_checks::auth::dns_records(&domain, &selectors, config.hostname.get_ref(), &rua);
    // The certificate the listeners serve (the self-signed default is made here if missing).
    let chain = rampart_smtp::tls::ServerTls::load(config)?.certificate_chain();
    text.push_str(&crate::mta_sts::dns_records(config, &domain, &rua, &chain));
    Ok((text, !keys.is_empty()))
}

pub fn trace(config: &Config, a: TraceArgs) -> Result<(), Error> {
    let store = open(config)?;
    let (filter, json) = trace_filter(a)?;
    print_trace(store.trace(&filter)?, json, filter.limit)
}

/// The filter `rampart trace`'s arguments ask for, and whether JSON is wanted.
pub fn trace_filter(a: TraceArgs) -> Result<(TraceFilter, bool), Error> {
    let now = rampart_store::now_micros();
    let filter = TraceFilter {
        queue_id: a.queue_id,
        message_id: a
            .message_id
            .map(|m| m.trim_start_matches('<').trim_end_matches('>').to_string()),
        sender: a.sender,
        recipient: a.recipient,
        client: a.client,
        since: a.since.as_deref().map(|s| parse_time(s, now)).transpose()?,
        until: a.until.as_deref().map(|s| parse_time(s, now)).transpose()?,
        limit: a.limit,
        ..TraceFilter::default()
    };
    Ok((filter, a.json))
}

/// AL-3.1: trace events one a line (time, event, detail, the ids), or as JSON objects. When
/// nothing matches, or the search stopped at `limit`, a line on stderr says so: an empty answer
/// is not mistaken for a failure, nor a cut one for the whole timeline.
pub fn print_trace(
    events: Vec<rampart_store::TraceEvent>,
    json: bool,
    limit: usize,
) -> Result<(), Error> {
    if events.is_empty() {
        eprintln!("no trace events match; events older than `[trace] retention_days` are gone");
    } else if limit > 0 && events.len() >= limit {
        eprintln!(
            "the first {limit} events, oldest first; narrow the search with --since and --until, \
             or raise --limit"
        );
    }
    for e in events {
        if json {
            println!("{}", serde_json::to_string(&e)?);
        } else {
            let mut ids = Vec::new();
            if let Some(q) = &e.queue_id {
                ids.push(format!("queue={q}"));
            }
            if let Some(s) = &e.session {
                ids.push(format!("session={s}"));
            }
            if let Some(c) = &e.client {
                ids.push(format!("client={c}"));
            }
            if let Some(m) = &e.message_id {
                ids.push(format!("message-id=<{m}>"));
            }
            println!(
                "{}  {:<12} {}  [{}]",
                format_time(e.ts),
                e.event,
                e.detail,
                ids.join(" ")
            );
        }
    }
    Ok(())
}

/// A random password of 24 characters from an unambiguous alphabet (about 120 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = rampart_store::random_bytes::<24>();
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Microseconds since the epoch as `2026-11-23 08:53:58.123456Z`.
pub fn format_time(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let date = rampart_store::rfc5322_date(secs);
    // "Mon, 23 Nov 2026 08:53:58 +0000" -> reorder to a sortable form.
    let parts: Vec<&str> = date.split_whitespace().collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])
    .unwrap_or(0)
        + 1;
    format!(
        "{}-{:02}-{:02} {}.{:06}Z",
        parts[3],
        month,
        parts[1].parse::<u32>().unwrap_or(0),
        parts[4],
        micros.rem_euclid(1_000_000)
    )
}

/// Parses a time for --since/--until into microseconds since the epoch.
pub fn parse_time(s: &str, now_micros: i64) -> Result<i64, String> {
    let bad = || {
        format!("`{s}` is not a time; use 2026-11-23T08:00:00Z, 2026-11-23, Unix seconds, or an age like 30m, 2h, 7d")
    };
    let s = s.trim();
    if let Some(unit) = s.chars().last().filter(|c| "smhd".contains(*c)) {
        if let Ok(n) = s[..s.len() - 1].parse::<i64>() {
            let secs = match unit {
                's' => n,
                'm' => n * 60,
                'h' => n * 3600,
                _ => n * 86_400,
            };
            return Ok(now_micros - secs * 1_000_000);
        }
    }
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n * 1_000_000);
    }
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, t.trim_end_matches('Z')),
        None => (s, "00:00:00"),
    };
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3
        || t.is_empty()
        || t.len() > 3
        || !(1..=12).contains(&d[1])
        || !(1..=31).contains(&d[2])
    {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400
        + t[0] * 3600
        + t.get(1).copied().unwrap_or(0) * 60
        + t.get(2).copied().unwrap_or(0);
    Ok(secs * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("2026-11-23T08:53:58Z", 0).unwrap(),
            1_795_424_038_000_000
        );
        assert_eq!(parse_time("1970-01-02", 0).unwrap(), 86_400_000_000);
        assert_eq!(
            parse_time("2h", 10_000_000_000).unwrap(),
            10_000_000_000 - 7_200_000_000
        );
        assert!(parse_time("yesterday", 0).is_err());
        assert_eq!(
            format_time(1_795_424_038_000_001),
            "2026-11-23 08:53:58.000001Z"
        );
    }

    #[test]
    fn passwords_are_random() {
        let a = generate_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, generate_password());
    }
}
