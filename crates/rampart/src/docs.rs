//! `rampart generate-docs DIR` (hidden): the manual pages and shell completions the Debian
//! package installs, made at package time (scripts/package.sh) rather than by a build script
//! that would slow every build.
//!
//! - `DIR/man8/rampart.8` and one page per subcommand (`rampart-domain.8`,
//!   `rampart-domain-add.8`, …) from the command line's own help (clap_mangen);
//! - `DIR/man5/rampart.toml.5` from `rampart.example.toml`, whose comments are the documentation
//!   of every field (checked complete by rampart-config's `example_file_is_valid_and_complete`):
//!   one source of truth, no second copy of the prose;
//! - `DIR/completions/` for bash, zsh and fish (clap_complete).

use clap::Command;
use std::io::Write;
use std::path::Path;

/// The example configuration, the source of rampart.toml(5).
const EXAMPLE: &str = include_str!("../../../rampart.example.toml");

pub fn generate(cmd: Command, out: &Path) -> std::io::Result<()> {
    let man8 = out.join("man8");
    let man5 = out.join("man5");
    let completions = out.join("completions");
    for d in [&man8, &man5, &completions] {
        std::fs::create_dir_all(d)?;
    }
    let mut cmd = cmd.disable_help_subcommand(true);
    // Gives every subcommand its display name (`rampart-domain`), the page's name.
    cmd.build();
    man_pages(&cmd, &man8)?;
    std::fs::write(man5.join("rampart.toml.5"), config_page(EXAMPLE))?;
    let name = cmd.get_name().to_string();
    for (shell, file) in [
        (clap_complete::Shell::Bash, "rampart"),
        (clap_complete::Shell::Zsh, "_rampart"),
        (clap_complete::Shell::Fish, "rampart.fish"),
    ] {
        let mut f = std::fs::File::create(completions.join(file))?;
        clap_complete::generate(shell, &mut cmd.clone(), &name, &mut f);
        f.flush()?;
    }
    Ok(())
}

/// Section 8 (system administration), one page per visible command, recursively.
fn man_pages(cmd: &Command, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, dir)?;
    }
    clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("Rampart")
        .generate_to(dir)?;
    Ok(())
}

/// rampart.toml(5) from the example file: the comment lines at the top are the description;
/// each `[table]` or `[[table]]` header starts a subsection; each key (set, or shown commented
/// out as `# key = value`) is a tagged paragraph whose text is the comment block above it.
pub fn config_page(example: &str) -> String {
    let mut out = String::new();
    out.push_str(".TH RAMPART.TOML 5 \"\" \"rampart\" \"Rampart\"\n");
    out.push_str(".SH NAME\nrampart.toml \\- configuration of the Rampart mail server\n");
    out.push_str(".SH SYNOPSIS\n/etc/rampart/rampart.toml\n");
    out.push_str(".SH DESCRIPTION\n");
    out.push_str(
        "The configuration of \\fBrampart\\fR(8), in TOML. Every setting is listed below with its \
         default and what it is for, in the order of the example file \
         (/usr/share/doc/rampart/examples/rampart.example.toml). \
         \\fBrampart config check\\fR checks a file; \\fBrampart config show\\fR prints the \
         effective configuration.\n",
    );
    out.push_str(
        ".PP\nThe configuration installed by the Debian package listens on the \
                  loopback address only and names the host \\fBlocalhost.localdomain\\fR: set \
                  \\fBhostname\\fR, the listeners' public addresses, and add the domains \
                  (\\fBrampart domain add\\fR) before it takes mail from the network.\n",
    );
    let mut comment: Vec<&str> = Vec::new();
    let mut in_header = true;
    let mut settings_started = false;
    for line in example.lines() {
        let t = line.trim();
        if let Some(text) = t.strip_prefix('#') {
            let text = text.strip_prefix(' ').unwrap_or(text);
            if let Some((key, value)) = key_line(text) {
                // A setting shown commented out: unset by default.
                section_start(&mut out, &mut settings_started);
                key_entry(&mut out, key, value, &comment, true);
                comment.clear();
            } else {
                comment.push(text);
            }
            continue;
        }
        if t.is_empty() {
            if in_header && !comment.is_empty() {
                paragraph(&mut out, &comment);
                comment.clear();
            }
            continue;
        }
        in_header = false;
        if t.starts_with('[') {
            section_start(&mut out, &mut settings_started);
            out.push_str(&format!(".SS {}\n", escape(t)));
            if !comment.is_empty() {
                paragraph(&mut out, &comment);
                comment.clear();
            }
        } else if let Some((key, value)) = key_line(t) {
            section_start(&mut out, &mut settings_started);
            key_entry(&mut out, key, value, &comment, false);
            comment.clear();
        }
    }
    out.push_str(".SH FILES\n/etc/rampart/rampart.toml, /var/lib/rampart\n");
    out.push_str(
        ".SH SEE ALSO\n\\fBrampart\\fR(8), \\fBrampart-serve\\fR(8), \\fBrampart-config\\fR(8)\n",
    );
    out
}

fn section_start(out: &mut String, started: &mut bool) {
    if !*started {
        out.push_str(".SH SETTINGS\n");
        *started = true;
    }
}

/// `key = value` where key is a bare TOML key; None for prose that happens to hold `=`.
fn key_line(t: &str) -> Option<(&str, &str)> {
    let (key, value) = t.split_once('=')?;
    let key = key.trim();
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '"');
    (bare && !value.trim().is_empty()).then(|| (key, value.trim()))
}

fn key_entry(out: &mut String, key: &str, value: &str, comment: &[&str], unset: bool) {
    out.push_str(".TP\n");
    let shown = if unset {
        format!(
            "\\fB{}\\fR = {} (unset by default)\n",
            escape(key),
            escape(value)
        )
    } else {
        format!("\\fB{}\\fR = {}\n", escape(key), escape(value))
    };
    out.push_str(&shown);
    if !comment.is_empty() {
        out.push_str(&text_lines(comment));
    }
}

fn paragraph(out: &mut String, comment: &[&str]) {
    out.push_str(".PP\n");
    out.push_str(&text_lines(comment));
}

fn text_lines(lines: &[&str]) -> String {
    let mut s = String::new();
    for l in lines {
        let l = escape(l.trim());
        if l.is_empty() {
            continue;
        }
        s.push_str(&l);
        s.push('\n');
    }
    s
}

/// roff: a backslash is `\e`; a line may not begin with `.` or `'` (a request); `-` is a hyphen
/// unless written `\-`.
fn escape(s: &str) -> String {
    let mut e = s.replace('\\', "\\e").replace('-', "\\-");
    if e.starts_with('.') || e.starts_with('\'') {
        e.insert_str(0, "\\&");
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of the example file, set or commented out, is a tagged paragraph of the page,
    /// with the comment above it as its text.
    #[test]
    fn config_page_documents_every_key_of_the_example() {
        let page = config_page(EXAMPLE);
        assert!(page.contains(".TP\n\\fBhostname\\fR = \"mx.agency.example\"\n"));
        assert!(page.contains("Host name of this server"));
        assert!(page.contains("\\fBrun_as\\fR = \"rampart\" (unset by default)"));
        assert!(page.contains(".SS [[listener]]\n"));
        for line in EXAMPLE.lines() {
            let t = line.trim().trim_start_matches(['#', ' ']);
            if let Some((key, _)) = key_line(t) {
                assert!(
                    page.contains(&format!("\\fB{}\\fR = ", escape(key))),
                    "{key} missing from rampart.toml(5)"
                );
            }
        }
    }

    #[test]
    fn roff_escapes() {
        assert_eq!(escape(".hidden"), "\\&.hidden");
        assert_eq!(escape("a\\b"), "a\\eb");
        assert_eq!(escape("--flag"), "\\-\\-flag");
    }
}
