//! The administrative commands that remove what the directory holds: users (with what their
//! account owns) and domains. Each names what went, and refuses, naming why, what would lose
//! data the administrator did not ask to lose.

use crate::admin::Error;
use rampart_store::Store;

/// The one line for an unknown user, the same for every command that names a user.
pub fn no_user(address: &str) -> Error {
    format!(
        "no user {}; see rampart user list",
        address.trim().to_ascii_lowercase()
    )
    .into()
}

/// `rampart user delete ADDRESS [--purge-mail]`.
pub fn delete_user(store: &Store, address: &str, purge_mail: bool) -> Result<(), Error> {
    if store.user_email_count(address)?.is_none() {
        return Err(no_user(address));
    }
    print_user_deleted(&store.delete_user(address, purge_mail)?);
    Ok(())
}

/// What `rampart user delete` prints once done (either store).
pub fn print_user_deleted(gone: &rampart_store::UserDeleted) {
    println!(
        "user {} deleted; {} message(s) of its mailbox deleted",
        gone.address, gone.messages_purged
    );
    if !gone.aliases_removed.is_empty() {
        println!(
            "it was removed as the target of: {}",
            gone.aliases_removed.join(", ")
        );
    }
}

/// `rampart domain remove NAME [--force]`.
pub fn remove_domain(store: &Store, name: &str, force: bool) -> Result<(), Error> {
    print_domain_removed(&store.remove_domain(name, force)?);
    Ok(())
}

/// What `rampart domain remove` prints once done (either store).
pub fn print_domain_removed(r: &rampart_store::DomainRemoved) {
    println!("domain {} removed", r.name);
    if !r.users.is_empty() {
        println!("users deleted with it: {}", r.users.join(", "));
    }
    if !r.aliases.is_empty() {
        println!("aliases removed with it: {}", r.aliases.join(", "));
    }
}

/// What `rampart alias remove` prints, one line per target removed (either store).
pub fn print_aliases_removed(alias: &str, targets: &[String]) {
    for t in targets {
        println!("alias {} -> {t} removed", alias.trim().to_ascii_lowercase());
    }
}
