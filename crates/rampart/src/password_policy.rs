//! The password policy (NIST SP 800-63B section 3.1.1.2), one place for every way a password is
//! set: `rampart user add`, `rampart user password`, and the admin console.
//!
//! A password is refused when it is shorter than `[passwords] min_length` (default 12), when it
//! is one of the 10,000 most common passwords (with `refuse_common`, the default), or when it is
//! longer than [`MAX_LENGTH`]. Nothing else: no rule of character classes, which NIST advises
//! against. The refusal is one plain sentence, to show to whoever chose the password.
//!
//! The list of common passwords is inside the binary, gzip-compressed (about 40 KB), and read
//! once on first use. It holds the first 10,000 distinct entries, lower-cased, of the list of
//! the most common passwords that Django also ships (`common-passwords.txt.gz`, compiled by
//! Royce Williams from breach corpora), sorted by how often they occur.

use rampart_config::PasswordsConfig;
use std::collections::HashSet;
use std::io::Read;
use std::sync::OnceLock;

/// The 10,000 most common passwords, one per line, lower case, gzip.
static COMMON_GZ: &[u8] = include_bytes!("password_policy/common-passwords.txt.gz");

/// Longest password accepted (characters): beyond any passphrase, short of making the hash a
/// way to burn CPU.
pub const MAX_LENGTH: usize = 1024;

/// The common passwords, decompressed on first use.
fn common() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut text = String::new();
        // The list is built into the binary: it decompresses or the build is broken. A failure
        // leaves the set with what was read, and the length rule still applies.
        let _ = flate2::read::GzDecoder::new(COMMON_GZ).read_to_string(&mut text);
        text.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// Whether `password` is one of the common passwords, whatever its case.
pub fn is_common(password: &str) -> bool {
    common().contains(&password.to_lowercase())
}

/// Checks a new password against the policy; on refusal, one plain sentence that says why and
/// what to do.
pub fn check_password(policy: &PasswordsConfig, password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if password.trim().is_empty() {
        return Err("the password is empty; choose a long passphrase".into());
    }
    // NIST SP 800-63B 3.1.1.2: refuse passwords from lists of commonly used ones.
    if policy.refuse_common && is_common(password) {
        return Err(
            "this password is one of the 10,000 most commonly used passwords; choose another, \
             such as a passphrase of several unrelated words"
                .into(),
        );
    }
    let min = usize::try_from(policy.min_length).unwrap_or(usize::MAX);
    if length < min {
        return Err(format!(
            "the password is shorter than {min} characters (it has {length}; [passwords] \
             min_length); choose a longer one, such as a passphrase"
        ));
    }
    if length > MAX_LENGTH {
        return Err(format!(
            "the password has {length} characters, more than {MAX_LENGTH}; choose a shorter one"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_complete() {
        assert_eq!(common().len(), 10_000);
        assert!(is_common("123456") && is_common("PassWord") && is_common("qwerty123456"));
        assert!(!is_common("correct horse battery staple"));
    }

    #[test]
    fn refusals_and_acceptance() {
        let p = PasswordsConfig::default();
        let e = check_password(&p, "password").unwrap_err();
        assert!(e.contains("most commonly used"), "{e}");
        let e = check_password(&p, "abcdefghijk").unwrap_err();
        assert!(
            e.contains("shorter than 12") && e.contains("it has 11"),
            "{e}"
        );
        // Long enough, and still refused: it is on the list.
        assert!(check_password(&p, "1Q2W3E4R5T6Y").is_err());
        assert!(check_password(&p, "").is_err());
        assert!(check_password(&p, &"x".repeat(MAX_LENGTH + 1)).is_err());
        assert_eq!(check_password(&p, "rivet tundra mellow kiosk"), Ok(()));
        // The length counts characters, not bytes.
        assert!(check_password(&p, "ééééééééééé").is_err());
        let short = PasswordsConfig {
            min_length: 8,
            refuse_common: false,
        };
        assert_eq!(check_password(&short, "password"), Ok(()));
    }
}
