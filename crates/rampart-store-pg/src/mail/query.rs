//! Email/query (RFC 8621 section 4.4) on PostgreSQL: the filter, sorts, collapseThreads and the
//! window translated to one statement, as the embedded store's `mail::query`, with three
//! differences of dialect:
//!
//! - text conditions use `mail_search` (see [`super::search`]): each word of the condition
//!   must appear, as a word or a phrase, in the fields concerned;
//! - text sorts compare bytes (`COLLATE "C"`), as SQLite's default collation does, whatever the
//!   database's locale;
//! - NULLs sort first ascending and last descending, as in SQLite.

use super::search::query_words;
use super::{mdb, message_bytes};
use rampart_store::mail::rules::{
    filter, header_conditions, header_fields, header_satisfies, window, window_start, FilterSql,
    HeaderMatches, HEADER_MAX,
};
use rampart_store::mail::{
    Comparator, EmailQuery, FilterCondition, MailResult, QueryResult, SortProperty,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::GenericClient;

const KEYWORD: &str = "SELECT 1 FROM mail_keywords k WHERE k.email = e.id AND k.keyword = ";
const THREAD_SOME: &str = "SELECT 1 FROM mail_emails t JOIN mail_keywords k ON k.email = t.id
     WHERE t.thread = e.thread AND k.keyword = ";
const THREAD_ALL_OPEN: &str = "NOT EXISTS (SELECT 1 FROM mail_emails t WHERE t.thread = e.thread
     AND NOT EXISTS (SELECT 1 FROM mail_keywords k WHERE k.email = t.id AND k.keyword = ";

/// SQL with its parameters, built up piece by piece; each bound value is `$n`.
#[derive(Default)]
struct Sql {
    text: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Sql {
    /// Binds `v` and writes its placeholder.
    fn bind<T: ToSql + Sync + Send + 'static>(&mut self, v: T) {
        self.params.push(Box::new(v));
        self.text.push_str(&format!("${}", self.params.len()));
    }
    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| &**p as &(dyn ToSql + Sync))
            .collect()
    }
}

/// The search fields a text condition looks in.
const ALL_FIELDS: [&str; 6] = [
    "subject",
    "from_addr",
    "to_addr",
    "cc_addr",
    "bcc_addr",
    "body",
];

fn text_condition(sql: &mut Sql, fields: &[&str], text: &str) {
    let words = query_words(text);
    // Text without words matches as if the condition were not there (as FTS5's).
    if words.is_empty() {
        return;
    }
    let doc = fields
        .iter()
        .map(|f| format!("s.{f}"))
        .collect::<Vec<_>>()
        .join(" || ");
    sql.push(" AND EXISTS (SELECT 1 FROM mail_search s WHERE s.email = e.id AND (");
    sql.push(&doc);
    sql.push(") @@ (");
    for (i, w) in words.into_iter().enumerate() {
        if i > 0 {
            sql.push(" && ");
        }
        sql.push("phraseto_tsquery('simple', ");
        sql.bind(w);
        sql.push(")");
    }
    sql.push("))");
}

fn condition(sql: &mut Sql, c: &FilterCondition, headers: &HeaderMatches) {
    sql.push("(TRUE");
    if let Some(h) = &c.header {
        // RFC 8621 section 4.4.1 header: the emails found by reading the header sections.
        let ids: Vec<i64> = headers.get(h).cloned().unwrap_or_default();
        sql.push(" AND e.id = ANY(");
        sql.bind(ids);
        sql.push(")");
    }
    if let Some(m) = c.in_mailbox {
        sql.push(
            " AND EXISTS (SELECT 1 FROM mail_email_mailboxes x WHERE x.email = e.id AND x.mailbox = ",
        );
        sql.bind(m);
        sql.push(")");
    }
    if let Some(others) = &c.in_mailbox_other_than {
        sql.push(
            " AND EXISTS (SELECT 1 FROM mail_email_mailboxes x WHERE x.email = e.id AND x.mailbox <> ALL(",
        );
        sql.bind(others.clone());
        sql.push("))");
    }
    // RFC 8621 section 4.4.1: before is exclusive, after inclusive; minSize inclusive, maxSize
    // exclusive.
    let clamp = |s: u64| s.min(i64::MAX as u64) as i64;
    let ranges = [
        (" AND e.received_at < ", c.before),
        (" AND e.received_at >= ", c.after),
        (" AND e.size >= ", c.min_size.map(clamp)),
        (" AND e.size < ", c.max_size.map(clamp)),
    ];
    for (expr, v) in ranges {
        if let Some(v) = v {
            sql.push(expr);
            sql.bind(v);
        }
    }
    let keywords = [
        (
            " AND ",
            THREAD_ALL_OPEN,
            &c.all_in_thread_have_keyword,
            "))",
        ),
        (
            " AND EXISTS (",
            THREAD_SOME,
            &c.some_in_thread_have_keyword,
            ")",
        ),
        (
            " AND NOT EXISTS (",
            THREAD_SOME,
            &c.none_in_thread_have_keyword,
            ")",
        ),
        (" AND EXISTS (", KEYWORD, &c.has_keyword, ")"),
        (" AND NOT EXISTS (", KEYWORD, &c.not_keyword, ")"),
    ];
    for (pre, sub, k, close) in keywords {
        if let Some(k) = k {
            sql.push(pre);
            sql.push(sub);
            sql.bind(k.to_ascii_lowercase());
            sql.push(close);
        }
    }
    if let Some(a) = c.has_attachment {
        sql.push(" AND e.has_attachment = ");
        sql.bind(a);
    }
    let texts: [(&[&str], &Option<String>); 7] = [
        (&ALL_FIELDS, &c.text),
        (&["from_addr"], &c.from),
        (&["to_addr"], &c.to),
        (&["cc_addr"], &c.cc),
        (&["bcc_addr"], &c.bcc),
        (&["subject"], &c.subject),
        (&["body"], &c.body),
    ];
    for (fields, t) in texts {
        if let Some(t) = t {
            text_condition(sql, fields, t);
        }
    }
    sql.push(")");
}

impl FilterSql for Sql {
    const TRUE: &'static str = "(TRUE)";
    const FALSE: &'static str = "(FALSE)";
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn condition(&mut self, c: &FilterCondition, headers: &HeaderMatches) -> MailResult<()> {
        condition(self, c, headers);
        Ok(())
    }
}

fn order(sql: &mut Sql, sort: &[Comparator]) {
    let default = [Comparator {
        property: SortProperty::ReceivedAt,
        ascending: false,
    }];
    let sort = if sort.is_empty() { &default[..] } else { sort };
    sql.push(" ORDER BY ");
    for c in sort {
        match &c.property {
            SortProperty::ReceivedAt => sql.push("e.received_at"),
            SortProperty::Size => sql.push("e.size"),
            SortProperty::From => sql.push("e.from_sort COLLATE \"C\""),
            SortProperty::To => sql.push("e.to_sort COLLATE \"C\""),
            SortProperty::Subject => sql.push("e.sort_subject COLLATE \"C\""),
            SortProperty::SentAt => sql.push("e.sent_at"),
            SortProperty::HasKeyword(k) => {
                sql.push("EXISTS (");
                sql.push(KEYWORD);
                sql.bind(k.to_ascii_lowercase());
                sql.push(")");
            }
            SortProperty::AllInThreadHaveKeyword(k) => {
                sql.push(THREAD_ALL_OPEN);
                sql.bind(k.to_ascii_lowercase());
                sql.push("))");
            }
            SortProperty::SomeInThreadHaveKeyword(k) => {
                sql.push("EXISTS (");
                sql.push(THREAD_SOME);
                sql.bind(k.to_ascii_lowercase());
                sql.push(")");
            }
        }
        // SQLite's NULL order: smallest.
        sql.push(if c.ascending {
            " ASC NULLS FIRST, "
        } else {
            " DESC NULLS LAST, "
        });
    }
    // Ties go by id in the direction of the last comparator: a stable order, and for the
    // default sort exactly the order of the index `mail_emails_received`.
    let last_asc = sort.last().is_some_and(|c| c.ascending);
    sql.push(if last_asc { "e.id ASC" } else { "e.id DESC" });
}

fn build(account: &str, q: &EmailQuery, count: bool, headers: &HeaderMatches) -> MailResult<Sql> {
    let mut sql = Sql::default();
    sql.push(if count {
        "SELECT count(*) FROM mail_emails e WHERE e.account = "
    } else {
        "SELECT e.id, e.thread FROM mail_emails e WHERE e.account = "
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

/// For each header condition, the emails of `account` whose header section satisfies it (read
/// from the stored messages: the header section is not indexed, as in the embedded store).
async fn header_matches<C: GenericClient + Sync>(
    c: &C,
    account: &str,
    conds: &[Vec<String>],
) -> MailResult<HeaderMatches> {
    let mut out: HeaderMatches = conds.iter().map(|c| (c.clone(), Vec::new())).collect();
    if conds.is_empty() {
        return Ok(out);
    }
    let rows = c
        .query(
            "SELECT e.id, substring(b.data FROM 1 FOR $2) FROM mail_emails e
             JOIN message_bodies b ON b.id = e.message WHERE e.account = $1 ORDER BY e.id",
            &[&account, &(HEADER_MAX as i32)],
        )
        .await
        .map_err(mdb)?;
    for r in &rows {
        let head: Vec<u8> = r.get(1);
        let f = header_fields(&head);
        for cond in conds {
            if header_satisfies(&f, cond) {
                if let Some(v) = out.get_mut(cond) {
                    v.push(r.get(0));
                }
            }
        }
    }
    Ok(out)
}

/// Email/query over `account` (a lower-case key).
pub(crate) async fn email_query<C: GenericClient + Sync>(
    c: &C,
    account: &str,
    q: &EmailQuery,
) -> MailResult<QueryResult> {
    let mut conds = Vec::new();
    if let Some(f) = &q.filter {
        header_conditions(f, &mut conds);
    }
    let headers = header_matches(c, account, &conds).await?;
    let list = build(account, q, false, &headers)?;
    let limit = q.limit.unwrap_or(usize::MAX);
    if !q.collapse_threads && q.anchor.is_none() {
        // No collapsing, no anchor: the database counts, and returns only the window.
        let counted = build(account, q, true, &headers)?;
        let total: i64 = c
            .query_one(counted.text.as_str(), &counted.refs())
            .await
            .map_err(mdb)?
            .get(0);
        let start = window_start(q.position, total.max(0) as usize);
        let mut list = list;
        list.push(" LIMIT ");
        list.bind(limit.min(i64::MAX as usize) as i64);
        list.push(" OFFSET ");
        list.bind(start.min(i64::MAX as usize) as i64);
        let ids = c
            .query(list.text.as_str(), &list.refs())
            .await
            .map_err(mdb)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        return Ok(QueryResult {
            ids,
            position: start as u64,
            total: total.max(0) as u64,
        });
    }
    let rows = c
        .query(list.text.as_str(), &list.refs())
        .await
        .map_err(mdb)?;
    window(rows.iter().map(|r| (r.get(0), r.get(1))), q)
}

/// The raw message of email `id` of `account`, with its Return-Path line.
pub(crate) async fn email_raw<C: GenericClient + Sync>(
    c: &C,
    account: &str,
    id: i64,
) -> rampart_store::Result<Option<Vec<u8>>> {
    let message: Option<String> = c
        .query_opt(
            "SELECT message FROM mail_emails WHERE account = $1 AND id = $2",
            &[&account, &id],
        )
        .await
        .map_err(crate::db)?
        .map(|r| r.get(0));
    match message {
        Some(m) => message_bytes(c, &m, true).await,
        None => Ok(None),
    }
}
