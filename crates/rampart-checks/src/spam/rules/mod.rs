//! Content rules as data (AL-1.2): header, body, URI, raw, meta and check rules with scores,
//! read from rule files ([`parse`] documents the format, docs/CHECKS.md shows examples).
//!
//! The default set ([`DEFAULT_RULES`], `crates/rampart-checks/rules/default.rules`) is built
//! into the binary; the administrator's files (`[checks.spam] rule_files`) are read on top of
//! it at start, in order. A rule defined again replaces the earlier definition of that name
//! (its score and description stay unless given again); `score NAME 0` switches a rule off.
//! A rule whose name starts with `__` is a building block for meta rules: it never scores.
//!
//! Meta rules may also name the spam check's built-in rules ([`CODE_RULES`]), so a formula can
//! combine content with authentication, look-alike domains or blocklists, and with the
//! classifier (`bayes`) and Rspamd (`rspamd`), which match when they added to the score.

pub mod brands;
pub mod facts;
pub mod meta;
pub mod obfuscate;
pub mod parse;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use facts::{Facts, Func};
use meta::{Cmp, Expr};
use parse::Statement;

/// The default rule set, shipped inside the binary.
pub const DEFAULT_RULES: &str = include_str!("../../../rules/default.rules");
/// What the default set is called in errors and documentation.
pub const DEFAULT_NAME: &str = "<built-in default.rules>";
/// A rule file larger than this is refused.
pub const MAX_FILE: u64 = 4 << 20;
/// At most this many rules in all.
pub const MAX_RULES: usize = 10_000;

/// The spam check's rules computed in code (see the spam module), which meta rules may name.
pub const CODE_RULES: &[&str] = &[
    "ip_blocklisted",
    "auth_failed",
    "display_name_impersonation",
    "lookalike_domain",
    "reply_to_mismatch",
    "mismatched_link",
    "html_form",
    "url_listed",
    // AL-1.2: the classifier and Rspamd, matched when their contribution is above zero.
    "bayes",
    "rspamd",
];

/// What a header rule tests.
#[derive(Debug, Clone)]
pub enum HeaderTest {
    Match {
        /// Lower-case field name, or `all`.
        field: String,
        re: regex::Regex,
        negate: bool,
        reading: Reading,
    },
    Exists(String),
    Absent(String),
}

/// How a header or body rule reads its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// As normalised.
    Plain,
    /// Through [`obfuscate::deobfuscate`] (lower case, `V1AGRA` read as `viagra`).
    Deobf,
    /// Like `Deobf`, but only a match the plain text does not show counts: the word was
    /// disguised (`V1AGRA` matches, `viagra` does not).
    Obfuscated,
    /// Header rules on an address field only: each address of the field (`local@domain`, lower
    /// case) as mail-parser read it, without display names or comments.
    Addr,
}

/// The fields the `addr` reading may name.
pub const ADDRESS_FIELDS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-bcc",
];

/// Whether `re` matches `text` read as `reading`; `deobf` is the deobfuscated text when the
/// caller has it already.
fn read_match(re: &regex::Regex, reading: Reading, text: &str, deobf: Option<&str>) -> bool {
    let owned;
    let d = match (reading, deobf) {
        (Reading::Plain | Reading::Addr, _) => return re.is_match(text),
        (_, Some(d)) => d,
        (_, None) => {
            owned = obfuscate::deobfuscate(text);
            &owned
        }
    };
    if reading == Reading::Deobf {
        return re.is_match(d);
    }
    // The plain text in lower case only once there is a match to compare (most messages have
    // none, and this runs for every such rule).
    let mut plain: Option<String> = None;
    re.find_iter(d).any(|m| {
        !plain
            .get_or_insert_with(|| text.to_lowercase())
            .contains(m.as_str())
    })
}

/// What a rule tests.
#[derive(Debug, Clone)]
pub enum Test {
    Header(HeaderTest),
    Body {
        re: regex::Regex,
        reading: Reading,
        /// `re` without its `(?i)`, searched in the body in lower case where the two match
        /// alike ([`parse::for_lower_case`]); much faster on ordinary prose.
        lower: Option<regex::Regex>,
    },
    Uri(regex::Regex),
    Raw(regex::bytes::Regex),
    Meta(Expr),
    Check(Func, Cmp, f64),
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub test: Test,
    pub score: f32,
    pub description: String,
    /// Where it was (last) defined: `file:line`.
    pub origin: String,
}

/// A rule that matched and scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: String,
    pub score: f32,
    pub description: String,
}

/// A rule file that cannot be used: the file, the line, the rule when known, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub rule: Option<String>,
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rule {
            Some(r) => write!(f, "{}:{}: rule {r}: {}", self.file, self.line, self.message),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

/// Compiled rules, in evaluation order (meta rules after everything they read).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

/// The default set compiled once; it is tested to compile, and an empty set stands in if it
/// ever did not (the code rules still score).
static BUILTIN: LazyLock<RuleSet> = LazyLock::new(|| {
    RuleSet::from_sources(&[(DEFAULT_NAME.to_string(), DEFAULT_RULES.to_string())]).unwrap_or_else(
        |errors| {
            for e in errors {
                tracing::error!(error = %e, "built-in spam rules");
            }
            RuleSet::default()
        },
    )
});

/// The built-in default set.
pub fn builtin() -> &'static RuleSet {
    &BUILTIN
}

impl RuleSet {
    /// The default set with the administrator's files on top, every problem reported.
    pub fn load(files: &[PathBuf]) -> Result<RuleSet, Vec<RuleError>> {
        let mut sources = vec![(DEFAULT_NAME.to_string(), DEFAULT_RULES.to_string())];
        let mut errors = Vec::new();
        for f in files {
            match read_file(f) {
                Ok(text) => sources.push((f.display().to_string(), text)),
                Err(message) => errors.push(RuleError {
                    file: f.display().to_string(),
                    line: 0,
                    rule: None,
                    message,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        RuleSet::from_sources(&sources)
    }

    /// Rules from (name, text) sources, later ones overriding earlier ones by rule name.
    pub fn from_sources(sources: &[(String, String)]) -> Result<RuleSet, Vec<RuleError>> {
        let mut rules: Vec<Rule> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        // score/describe lines may come before the rule they name: applied at the end.
        let mut later: Vec<(String, usize, Statement)> = Vec::new();
        let mut errors = Vec::new();
        for (file, text) in sources {
            for (i, line) in text.lines().enumerate() {
                let line_no = i + 1;
                let t = line.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let err = |rule, message| RuleError {
                    file: file.clone(),
                    line: line_no,
                    rule,
                    message,
                };
                match parse::statement(t) {
                    Err((rule, message)) => errors.push(err(rule, message)),
                    Ok(Statement::Define(name, test)) => {
                        if CODE_RULES.contains(&name.as_str()) {
                            errors.push(err(
                                Some(name),
                                "is a built-in rule of the spam check; its weight is set under \
                                 [checks.spam.weights]"
                                    .into(),
                            ));
                            continue;
                        }
                        let origin = format!("{file}:{line_no}");
                        match index.get(&name) {
                            Some(&k) => {
                                rules[k].test = test;
                                rules[k].origin = origin;
                            }
                            None if rules.len() >= MAX_RULES => {
                                errors.push(err(Some(name), format!("more than {MAX_RULES} rules")))
                            }
                            None => {
                                index.insert(name.clone(), rules.len());
                                rules.push(Rule {
                                    name,
                                    test,
                                    score: 1.0,
                                    description: String::new(),
                                    origin,
                                });
                            }
                        }
                    }
                    Ok(s) => later.push((file.clone(), line_no, s)),
                }
            }
        }
        for (file, line, s) in later {
            let name = match &s {
                Statement::Score(n, _) | Statement::Describe(n, _) | Statement::Define(n, _) => n,
            };
            let Some(&k) = index.get(name) else {
                errors.push(RuleError {
                    file,
                    line,
                    rule: Some(name.clone()),
                    message: "no rule of this name is defined".into(),
                });
                continue;
            };
            match s {
                Statement::Score(_, v) => rules[k].score = v,
                Statement::Describe(_, d) => rules[k].description = d,
                Statement::Define(..) => {}
            }
        }
        for r in &mut rules {
            if r.name.starts_with("__") {
                r.score = 0.0;
            }
        }
        let rules = order(rules, &mut errors);
        if errors.is_empty() {
            Ok(RuleSet { rules })
        } else {
            Err(errors)
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// The rules that match and score, given the message's facts and the names of the code
    /// rules that matched.
    pub fn evaluate(&self, facts: &Facts<'_>, code_hits: &[&str]) -> Vec<Hit> {
        let mut matched: HashSet<&str> = code_hits.iter().copied().collect();
        let mut hits = Vec::new();
        let mut body_deobf = None;
        let mut body_lower = None;
        for r in &self.rules {
            let yes = match &r.test {
                Test::Meta(e) => e.value(&|n| matched.contains(n)) != 0.0,
                Test::Body {
                    lower: Some(re), ..
                } => re.is_match(body_lower.get_or_insert_with(|| lower_case(&facts.body))),
                Test::Body { re, reading, .. } if *reading != Reading::Plain => {
                    let d = body_deobf.get_or_insert_with(|| obfuscate::deobfuscate(&facts.body));
                    read_match(re, *reading, &facts.body, Some(d))
                }
                t => matches(t, facts),
            };
            if yes {
                matched.insert(&r.name);
                if r.score != 0.0 {
                    hits.push(Hit {
                        name: r.name.clone(),
                        score: r.score,
                        description: r.description.clone(),
                    });
                }
            }
        }
        hits
    }
}

/// The text with every character that lower-cases to one character lowered (`İ`, which lowers
/// to two, stays as it is, as a case-insensitive search would not match it with `i` either).
pub fn lower_case(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.chars()
        .map(|c| {
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

fn read_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the rule file: {e}"))?;
    if meta.len() > MAX_FILE {
        return Err(format!("the rule file is larger than {MAX_FILE} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the rule file: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "the rule file is not UTF-8".into())
}

/// Meta rules after the rules they read; an unknown name or a cycle is an error at the meta
/// rule's line.
fn order(rules: Vec<Rule>, errors: &mut Vec<RuleError>) -> Vec<Rule> {
    let names: HashSet<String> = rules.iter().map(|r| r.name.clone()).collect();
    let (mut out, mut metas): (Vec<Rule>, Vec<Rule>) = rules
        .into_iter()
        .partition(|r| !matches!(r.test, Test::Meta(_)));
    let deps = |r: &Rule| {
        let mut v = Vec::new();
        if let Test::Meta(e) = &r.test {
            e.names(&mut v);
        }
        v
    };
    for r in &metas {
        for d in deps(r) {
            if !names.contains(&d) && !CODE_RULES.contains(&d.as_str()) {
                errors.push(origin_error(
                    r,
                    format!("the meta expression names `{d}`, which is not a rule"),
                ));
            }
        }
    }
    let mut done: HashSet<String> = out.iter().map(|r| r.name.clone()).collect();
    while !metas.is_empty() {
        let before = metas.len();
        let (ready, waiting): (Vec<Rule>, Vec<Rule>) = metas.into_iter().partition(|r| {
            deps(r)
                .iter()
                .all(|d| done.contains(d) || !names.contains(d))
        });
        for r in ready {
            done.insert(r.name.clone());
            out.push(r);
        }
        metas = waiting;
        if metas.len() == before {
            for r in &metas {
                errors.push(origin_error(
                    r,
                    "meta rules refer to each other in a cycle".into(),
                ));
            }
            break;
        }
    }
    out
}

fn origin_error(r: &Rule, message: String) -> RuleError {
    let (file, line) = r
        .origin
        .rsplit_once(':')
        .map(|(f, l)| (f.to_string(), l.parse().unwrap_or(0)))
        .unwrap_or((r.origin.clone(), 0));
    RuleError {
        file,
        line,
        rule: Some(r.name.clone()),
        message,
    }
}

fn matches(test: &Test, facts: &Facts<'_>) -> bool {
    match test {
        Test::Header(h) => header_matches(h, facts),
        Test::Body { re, .. } => re.is_match(&facts.body),
        Test::Uri(re) => facts.uris.iter().any(|u| re.is_match(u)),
        Test::Raw(re) => re.is_match(facts.raw),
        Test::Check(f, cmp, n) => cmp.holds(facts.value(*f), *n),
        Test::Meta(_) => false,
    }
}

fn header_matches(h: &HeaderTest, facts: &Facts<'_>) -> bool {
    let present = |field: &str| facts.headers.iter().any(|(n, _)| n == field);
    match h {
        HeaderTest::Exists(f) => present(f),
        HeaderTest::Absent(f) => !present(f),
        HeaderTest::Match {
            field,
            re,
            negate,
            reading,
        } => {
            if *reading == Reading::Addr {
                let mut addrs = facts
                    .addresses
                    .iter()
                    .filter(|(n, _)| n == field)
                    .peekable();
                if addrs.peek().is_none() {
                    return false;
                }
                return addrs.any(|(_, a)| re.is_match(a)) != *negate;
            }
            let read = |v: &str| read_match(re, *reading, v, None);
            if field == "all" {
                let all: Vec<String> = facts
                    .headers
                    .iter()
                    .map(|(n, v)| format!("{n}: {v}"))
                    .collect();
                return read(&all.join("\n")) != *negate;
            }
            let mut values = facts.headers.iter().filter(|(n, _)| n == field).peekable();
            if values.peek().is_none() {
                return false;
            }
            let any = values.any(|(_, v)| read(v));
            any != *negate
        }
    }
}

/// Header fields that name the sender, which anyone can write.
const SENDER_FIELDS: &[&str] = &["from", "sender", "reply-to", "return-path", "all"];

impl RuleSet {
    /// Rules that lower the score on what the sender's header fields say (From, Sender,
    /// Reply-To, directly or through meta rules) without `from_authenticated` among what they
    /// read: a forged From earns them. The default set has none.
    pub fn unauthenticated_allows(&self) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|r| r.score < 0.0)
            .filter(|r| {
                let (mut sender, mut authenticated) = (false, false);
                let mut todo = vec![r.name.as_str()];
                let mut seen = HashSet::new();
                while let Some(n) = todo.pop() {
                    if !seen.insert(n) {
                        continue;
                    }
                    let Some(rule) = self.get(n) else { continue };
                    match &rule.test {
                        Test::Header(HeaderTest::Match { field, .. })
                        | Test::Header(HeaderTest::Exists(field)) => {
                            sender |= SENDER_FIELDS.contains(&field.as_str());
                        }
                        Test::Check(Func::FromAuthenticated, ..) => authenticated = true,
                        Test::Meta(e) => {
                            let mut names = Vec::new();
                            e.names(&mut names);
                            for d in names {
                                if let Some(x) = self.get(&d) {
                                    todo.push(x.name.as_str());
                                }
                            }
                        }
                        _ => {}
                    }
                }
                sender && !authenticated
            })
            .collect()
    }
}

/// `checks.spam.rule_files` warnings for the configuration report: (key, message). An allow
/// rule on the sender's address that does not ask for authentication
/// ([`RuleSet::unauthenticated_allows`]).
pub fn config_warnings(files: &[PathBuf]) -> Vec<(String, String)> {
    let Ok(set) = RuleSet::load(files) else {
        return Vec::new();
    };
    set.unauthenticated_allows()
        .into_iter()
        .map(|r| {
            let i = files
                .iter()
                .position(|f| r.origin.starts_with(&format!("{}:", f.display())))
                .unwrap_or(0);
            (
                format!("rule_files.{i}"),
                format!(
                    "{}: rule {} lowers the score ({}) on what the sender's header fields say, \
                     without `from_authenticated`: a forged From earns it; require it in a meta \
                     rule (docs/CHECKS.md, \"Allow and block lists\")",
                    r.origin, r.name, r.score
                ),
            )
        })
        .collect()
}

/// `checks.spam.rule_files` problems for the configuration report: (key, message).
pub fn config_problems(files: &[PathBuf]) -> Vec<(String, String)> {
    match RuleSet::load(files) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| {
                let i = files
                    .iter()
                    .position(|f| f.display().to_string() == e.file)
                    .unwrap_or(0);
                (format!("rule_files.{i}"), e.to_string())
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bulk;
#[cfg(test)]
mod tests_forged;
#[cfg(test)]
mod tests_phishing;
#[cfg(test)]
mod tests_samples;
