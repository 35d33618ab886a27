//! `[passwords]`: the policy every password set for a mail account must meet (NIST SP 800-63B
//! section 3.1.1.2): a minimum length, and none of the most commonly used passwords. The check
//! itself, with the list of common passwords, is `rampart::password_policy`.

use crate::report::{ConfigError, Locator};
use crate::Config;
use serde::{Deserialize, Serialize};

/// NIST SP 800-63B section 3.1.1.2: no policy may ask for fewer characters than this.
pub const MIN_LENGTH_FLOOR: u32 = 8;

/// The password policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordsConfig {
    /// Fewest characters (Unicode code points) a new password may have. Default 12; at least 8
    /// (NIST SP 800-63B). Longer passphrases are always welcome: there is no maximum below
    /// 1024 characters and no rule of character classes.
    pub min_length: u32,
    /// Refuse the 10,000 most common passwords (a list built into the binary), compared without
    /// regard to case. Default true; NIST SP 800-63B asks for it.
    pub refuse_common: bool,
}

impl Default for PasswordsConfig {
    fn default() -> Self {
        PasswordsConfig {
            min_length: 12,
            refuse_common: true,
        }
    }
}

pub(crate) fn check(config: &Config, loc: &Locator<'_>, errors: &mut Vec<ConfigError>) {
    if config.passwords.min_length < MIN_LENGTH_FLOOR {
        errors.push(loc.at(
            "passwords.min_length",
            format!("must be at least {MIN_LENGTH_FLOOR} (NIST SP 800-63B); the default is 12"),
        ));
    }
}
