//! Email/query (RFC 8621 section 4.4): filters, sorts, collapseThreads and the window
//! (position or anchor, limit), translated to one SQL statement over the account's emails.
//!
//! Text conditions (text, from, to, cc, bcc, subject, body) use the FTS5 index: each word of
//! the condition must appear (as a word or a phrase of words) in the columns concerned. The
//! `header` condition reads the header sections (see `headers.rs`) and enters the statement as
//! the list of the emails that match it.

use super::headers::{conditions, HeaderMatches};
use super::{account_key, MailError, MailResult};
use crate::Store;
use rusqlite::types::Value;

/// One FilterCondition (RFC 8621 section 4.4.1): every property given must hold. Times are
/// microseconds since the epoch, like `received_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterCondition {
    pub in_mailbox: Option<i64>,
    pub in_mailbox_other_than: Option<Vec<i64>>,
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    pub all_in_thread_have_keyword: Option<String>,
    pub some_in_thread_have_keyword: Option<String>,
    pub none_in_thread_have_keyword: Option<String>,
    pub has_keyword: Option<String>,
    pub not_keyword: Option<String>,
    pub has_attachment: Option<bool>,
    pub text: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cc: Option<String>,
    pub bcc: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// `[name]` or `[name, text]`: a header field of that name (containing the text).
    pub header: Option<Vec<String>>,
}

/// A filter: a condition, or an operator over filters (RFC 8620 section 5.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailFilter {
    Condition(Box<FilterCondition>),
    And(Vec<EmailFilter>),
    Or(Vec<EmailFilter>),
    Not(Vec<EmailFilter>),
}

/// A sort property of RFC 8621 section 4.4.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortProperty {
    ReceivedAt,
    Size,
    From,
    To,
    Subject,
    SentAt,
    HasKeyword(String),
    AllInThreadHaveKeyword(String),
    SomeInThreadHaveKeyword(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparator {
    pub property: SortProperty,
    pub ascending: bool,
}

/// Email/query's arguments (RFC 8620 section 5.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailQuery {
    pub filter: Option<EmailFilter>,
    /// Empty: newest first (receivedAt descending).
    pub sort: Vec<Comparator>,
    pub collapse_threads: bool,
    /// Negative counts from the end of the results.
    pub position: i64,
    /// When given, the window starts at this email plus `anchor_offset`; `position` is ignored.
    pub anchor: Option<i64>,
    pub anchor_offset: i64,
    pub limit: Option<usize>,
}

/// Email/query's answer: the ids of the window, where it starts, and how many match in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResult {
    pub ids: Vec<i64>,
    pub position: u64,
    pub total: u64,
}

/// An FTS5 query in which every word of `text` must appear in `columns`. Each word is quoted,
/// so nothing the user typed is read as FTS5 syntax. `None` for text without words.
fn fts_match(columns: &[&str], text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(format!(
        "{{{}}} : ({})",
        columns.join(" "),
        words.join(" AND ")
    ))
}

const KEYWORD: &str = "SELECT 1 FROM mail_keywords k WHERE k.email = e.id AND k.keyword = ?";
const THREAD_SOME: &str = "SELECT 1 FROM mail_emails t JOIN mail_keywords k ON k.email = t.id
     WHERE t.thread = e.thread AND k.keyword = ?";
const THREAD_ALL: &str = "NOT EXISTS (SELECT 1 FROM mail_emails t WHERE t.thread = e.thread
     AND NOT EXISTS (SELECT 1 FROM mail_keywords k WHERE k.email = t.id AND k.keyword = ?))";

/// SQL with its parameters, built up piece by piece.
#[derive(Default)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Value>,
}

impl Sql {
    fn bind(&mut self, v: impl Into<Value>) {
        self.params.push(v.into());
    }
}

fn condition(sql: &mut Sql, c: &FilterCondition, headers: &HeaderMatches) -> MailResult<()> {
    sql.push("(1");
    if let Some(h) = &c.header {
        // RFC 8621 section 4.4.1 header: the emails found by reading the header sections.
        let ids = headers.get(h).map(Vec::as_slice).unwrap_or_default();
        sql.push(" AND e.id IN (SELECT value FROM json_each(?))");
        sql.bind(serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()));
    }
    if let Some(m) = c.in_mailbox {
        sql.push(" AND EXISTS (SELECT 1 FROM mail_email_mailboxes x WHERE x.email = e.id AND x.mailbox = ?)");
        sql.bind(m);
    }
    if let Some(others) = &c.in_mailbox_other_than {
        sql.push(" AND EXISTS (SELECT 1 FROM mail_email_mailboxes x WHERE x.email = e.id AND x.mailbox NOT IN (");
        sql.push(&vec!["?"; others.len()].join(", "));
        sql.push("))");
        for m in others {
            sql.bind(*m);
        }
    }
    // RFC 8621 section 4.4.1: before is exclusive, after inclusive; minSize inclusive, maxSize
    // exclusive.
    let ranges = [
        ("e.received_at < ?", c.before),
        ("e.received_at >= ?", c.after),
        (
            "e.size >= ?",
            c.min_size.map(|s| s.min(i64::MAX as u64) as i64),
        ),
        (
            "e.size < ?",
            c.max_size.map(|s| s.min(i64::MAX as u64) as i64),
        ),
    ];
    for (expr, v) in ranges {
        if let Some(v) = v {
            sql.push(" AND ");
            sql.push(expr);
            sql.bind(v);
        }
    }
    let keywords = [
        (" AND ", THREAD_ALL, &c.all_in_thread_have_keyword, false),
        (
            " AND EXISTS (",
            THREAD_SOME,
            &c.some_in_thread_have_keyword,
            true,
        ),
        (
            " AND NOT EXISTS (",
            THREAD_SOME,
            &c.none_in_thread_have_keyword,
            true,
        ),
        (" AND EXISTS (", KEYWORD, &c.has_keyword, true),
        (" AND NOT EXISTS (", KEYWORD, &c.not_keyword, true),
    ];
    for (pre, sub, k, close) in keywords {
        if let Some(k) = k {
            sql.push(pre);
            sql.push(sub);
            if close {
                sql.push(")");
            }
            sql.bind(k.to_ascii_lowercase());
        }
    }
    if let Some(a) = c.has_attachment {
        sql.push(" AND e.has_attachment = ?");
        sql.bind(a);
    }
    let all = [
        "subject",
        "from_addr",
        "to_addr",
        "cc_addr",
        "bcc_addr",
        "body",
    ];
    let texts: [(&[&str], &Option<String>); 7] = [
        (&all, &c.text),
        (&["from_addr"], &c.from),
        (&["to_addr"], &c.to),
        (&["cc_addr"], &c.cc),
        (&["bcc_addr"], &c.bcc),
        (&["subject"], &c.subject),
        (&["body"], &c.body),
    ];
    for (cols, t) in texts {
        if let Some(m) = t.as_deref().and_then(|t| fts_match(cols, t)) {
            sql.push(" AND e.id IN (SELECT rowid FROM mail_fts WHERE mail_fts MATCH ?)");
            sql.bind(m);
        }
    }
    sql.push(")");
    Ok(())
}

/// A statement being built in one SQL dialect, for [`filter`]: the walk over AND, OR and NOT is
/// one for both stores; each dialect writes its own literals and conditions.
pub trait FilterSql {
    /// The dialect's literal true and false.
    const TRUE: &'static str;
    const FALSE: &'static str;
    fn push(&mut self, s: &str);
    /// One FilterCondition, parenthesised.
    fn condition(&mut self, c: &FilterCondition, headers: &HeaderMatches) -> MailResult<()>;
}

impl FilterSql for Sql {
    const TRUE: &'static str = "(1)";
    const FALSE: &'static str = "(0)";
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn condition(&mut self, c: &FilterCondition, headers: &HeaderMatches) -> MailResult<()> {
        condition(self, c, headers)
    }
}

/// Writes `f` into `sql` (RFC 8620 section 5.5). `depth` is the nesting so far (0 at the top).
pub fn filter<S: FilterSql>(
    sql: &mut S,
    f: &EmailFilter,
    depth: usize,
    headers: &HeaderMatches,
) -> MailResult<()> {
    // Bounds the recursion a client's nesting can cause.
    if depth > 32 {
        return Err(MailError::UnsupportedFilter("nested deeper than 32".into()));
    }
    let (op, parts, negate) = match f {
        EmailFilter::Condition(c) => return sql.condition(c, headers),
        EmailFilter::And(p) => (" AND ", p, false),
        EmailFilter::Or(p) => (" OR ", p, false),
        // RFC 8620 section 5.5: NOT is true when none of its operands is.
        EmailFilter::Not(p) => (" OR ", p, true),
    };
    if parts.is_empty() {
        // An empty AND is true, an empty OR false, an empty NOT (none of nothing) true.
        sql.push(if op == " AND " || negate {
            S::TRUE
        } else {
            S::FALSE
        });
        return Ok(());
    }
    sql.push(if negate { "(NOT (" } else { "(" });
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            sql.push(op);
        }
        filter(sql, p, depth + 1, headers)?;
    }
    sql.push(if negate { "))" } else { ")" });
    Ok(())
}

/// The window of a query whose rows (id, thread, in sort order) were all read: collapseThreads
/// keeps the first email of each thread; the anchor, or else the position, starts the window.
pub fn window(
    rows: impl IntoIterator<Item = (i64, Option<i64>)>,
    q: &EmailQuery,
) -> MailResult<QueryResult> {
    let mut seen = std::collections::HashSet::new();
    let mut all = Vec::new();
    for (id, thread) in rows {
        if q.collapse_threads && thread.is_some_and(|t| !seen.insert(t)) {
            continue;
        }
        all.push(id);
    }
    let start = match q.anchor {
        Some(a) => match all.iter().position(|&id| id == a) {
            Some(i) => (i as i64 + q.anchor_offset).max(0) as usize,
            None => return Err(MailError::AnchorNotFound),
        },
        None => window_start(q.position, all.len()),
    };
    let limit = q.limit.unwrap_or(usize::MAX);
    let ids = all.iter().skip(start).take(limit).copied().collect();
    Ok(QueryResult {
        ids,
        position: start.min(all.len()) as u64,
        total: all.len() as u64,
    })
}

fn order(sql: &mut Sql, sort: &[Comparator]) {
    let default = [Comparator {
        property: SortProperty::ReceivedAt,
        ascending: false,
    }];
    let sort = if sort.is_empty() { &default[..] } else { sort };
    sql.push(" ORDER BY ");
    for c in sort {
        let dir = if c.ascending { " ASC, " } else { " DESC, " };
        match &c.property {
            SortProperty::ReceivedAt => sql.push("e.received_at"),
            SortProperty::Size => sql.push("e.size"),
            SortProperty::From => sql.push("e.from_sort"),
            SortProperty::To => sql.push("e.to_sort"),
            SortProperty::Subject => sql.push("e.sort_subject"),
            SortProperty::SentAt => sql.push("e.sent_at"),
            SortProperty::HasKeyword(k) => {
                sql.push("EXISTS (");
                sql.push(KEYWORD);
                sql.push(")");
                sql.bind(k.to_ascii_lowercase());
            }
            SortProperty::AllInThreadHaveKeyword(k) => {
                sql.push(THREAD_ALL);
                sql.bind(k.to_ascii_lowercase());
            }
            SortProperty::SomeInThreadHaveKeyword(k) => {
                sql.push("EXISTS (");
                sql.push(THREAD_SOME);
                sql.push(")");
                sql.bind(k.to_ascii_lowercase());
            }
        }
        sql.push(dir);
    }
    // Ties go by id in the direction of the last comparator: a stable order, and for the
    // default sort exactly the order of the index `mail_emails_received`.
    let last_asc = sort.last().is_some_and(|c| c.ascending);
    sql.push(if last_asc { "e.id ASC" } else { "e.id DESC" });
}

/// `SELECT e.id, e.thread FROM …` for the query (with `count` false), or `SELECT count(*)`.
#[cfg(test)]
pub(crate) fn build(account: &str, q: &EmailQuery, count: bool) -> MailResult<Sql> {
    build_with(account, q, count, &HeaderMatches::new())
}

/// [`build`] with the emails that match each header condition of the filter.
fn build_with(
    account: &str,
    q: &EmailQuery,
    count: bool,
    headers: &HeaderMatches,
) -> MailResult<Sql> {
    let mut sql = Sql::default();
    sql.push(if count {
        "SELECT count(*) FROM mail_emails e WHERE e.account = ?"
    } else {
        "SELECT e.id, e.thread FROM mail_emails e WHERE e.account = ?"
    });
    sql.bind(account.to_string());
    if let Some(f) = &q.filter {
        sql.push(" AND ");
        filter(&mut sql, f, 0, headers)?;
    }
    if !count {
        order(&mut sql, &q.sort);
    }
    Ok(sql)
}

impl Store {
    /// Email/query over `account`.
    pub fn email_query(&self, account: &str, q: &EmailQuery) -> MailResult<QueryResult> {
        let account = account_key(account);
        let mut header_conds = Vec::new();
        if let Some(f) = &q.filter {
            conditions(f, &mut header_conds);
        }
        let headers = self.header_matches(&account, &header_conds)?;
        let list = build_with(&account, q, false, &headers)?;
        let fast = !q.collapse_threads && q.anchor.is_none();
        let counted = if fast {
            Some(build_with(&account, q, true, &headers)?)
        } else {
            None
        };
        let limit = q.limit.unwrap_or(usize::MAX);
        self.read(|c| {
            if let Some(counted) = &counted {
                // No collapsing, no anchor: the database counts, and returns only the window.
                let total: i64 = c
                    .prepare(&counted.text)?
                    .query_row(rusqlite::params_from_iter(&counted.params), |r| r.get(0))?;
                let start = window_start(q.position, total.max(0) as usize);
                let sql = format!("{} LIMIT ? OFFSET ?", list.text);
                let mut params = list.params.clone();
                params.push(Value::Integer(limit.min(i64::MAX as usize) as i64));
                params.push(Value::Integer(start as i64));
                let mut st = c.prepare(&sql)?;
                let rows = st.query_map(rusqlite::params_from_iter(&params), |r| r.get(0))?;
                let ids = rows.collect::<rusqlite::Result<Vec<i64>>>()?;
                return Ok(Ok(QueryResult {
                    ids,
                    position: start as u64,
                    total: total.max(0) as u64,
                }));
            }
            let mut st = c.prepare(&list.text)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(&list.params), |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(window(rows, q))
        })?
    }
}

/// RFC 8620 section 5.5: a negative position counts from the end, clamped to the start.
pub fn window_start(position: i64, total: usize) -> usize {
    if position >= 0 {
        position as usize
    } else {
        (total as i64 + position).max(0) as usize
    }
}
