//! SearchSnippet/get (RFC 8621 §5): for each email, its subject and a piece of its text with
//! the words the filter searched for marked `<mark>`, everything else HTML-escaped.

use rampart_jmap::args::Args;
use rampart_jmap::methods::query::{unsupported_filter, Filter};
use rampart_jmap::{CallContext, MethodError};
use serde_json::{json, Map, Value};

use crate::account;
use crate::error::server_fail;
use crate::mailbox::ready;
use crate::{ids, MailMethods, Responses};

/// Characters of text a preview shows (RFC 8621 §5: at most 255).
const PREVIEW_CHARS: usize = 255;
/// Characters shown before the first match, for context.
const LEAD: usize = 40;

pub(crate) async fn call(
    m: &MailMethods,
    cx: &mut CallContext,
    method: &str,
    args: Map<String, Value>,
) -> Result<Responses, MethodError> {
    match method {
        "get" => Ok(vec![("SearchSnippet/get".into(), get(m, cx, args).await?)]),
        _ => Err(MethodError::unknown_method(&format!(
            "SearchSnippet/{method}"
        ))),
    }
}

/// The conditions of Email/query (RFC 8621 §4.4.1): a snippet's filter is an Email/query filter,
/// so any other is unsupportedFilter, as Email/query would say.
const CONDITIONS: [&str; 20] = [
    "inMailbox",
    "inMailboxOtherThan",
    "before",
    "after",
    "minSize",
    "maxSize",
    "allInThreadHaveKeyword",
    "someInThreadHaveKeyword",
    "noneInThreadHaveKeyword",
    "hasKeyword",
    "notKeyword",
    "hasAttachment",
    "text",
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "body",
    "header",
];

/// The words the filter looks for in the subject and in the text (RFC 8621 §5: the
/// conditions `text`, `subject` and `body`; a NOT's words are not what was found).
fn words(f: &Filter, subject: &mut Vec<String>, body: &mut Vec<String>) {
    match f {
        Filter::Condition(c) => {
            for (k, v) in c {
                let Some(t) = v.as_str() else { continue };
                let ws = t.split_whitespace().map(str::to_lowercase);
                match k.as_str() {
                    "text" => {
                        let ws: Vec<String> = ws.collect();
                        subject.extend(ws.iter().cloned());
                        body.extend(ws);
                    }
                    "subject" => subject.extend(ws),
                    "body" => body.extend(ws),
                    _ => {}
                }
            }
        }
        Filter::Operator(rampart_jmap::methods::query::Operator::Not, _) => {}
        Filter::Operator(_, subs) => subs.iter().for_each(|s| words(s, subject, body)),
    }
}

fn escape(out: &mut String, c: char) {
    match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

/// Where each word occurs in `text`, case-insensitively: (start, end) in chars, sorted, not
/// overlapping.
fn find(text: &[char], words: &[String]) -> Vec<(usize, usize)> {
    let lower: Vec<char> = text
        .iter()
        .map(|c| c.to_lowercase().next().unwrap_or(*c))
        .collect();
    let mut hits = Vec::new();
    for w in words {
        let w: Vec<char> = w.chars().collect();
        if w.is_empty() || w.len() > lower.len() {
            continue;
        }
        for i in 0..=lower.len() - w.len() {
            if lower[i..i + w.len()] == w[..] {
                hits.push((i, i + w.len()));
            }
        }
    }
    hits.sort();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for h in hits {
        match out.last_mut() {
            Some(last) if h.0 < last.1 => last.1 = last.1.max(h.1),
            _ => out.push(h),
        }
    }
    out
}

/// `text[from..to]` escaped, with the hits marked; None when nothing in it matched.
fn mark(text: &[char], hits: &[(usize, usize)], from: usize, to: usize) -> Option<String> {
    if !hits.iter().any(|(s, e)| *s >= from && *e <= to) {
        return None;
    }
    let mut out = String::new();
    let mut i = from;
    for &(s, e) in hits.iter().filter(|(s, e)| *s >= from && *e <= to) {
        text[i..s].iter().for_each(|c| escape(&mut out, *c));
        out.push_str("<mark>");
        text[s..e].iter().for_each(|c| escape(&mut out, *c));
        out.push_str("</mark>");
        i = e;
    }
    text[i..to].iter().for_each(|c| escape(&mut out, *c));
    Some(out)
}

/// The marked subject, or None when no word of the subject matched.
pub(crate) fn subject_snippet(subject: &str, words: &[String]) -> Option<String> {
    let t: Vec<char> = subject.chars().collect();
    mark(&t, &find(&t, words), 0, t.len())
}

/// Up to 255 characters of the text around its first match, marked; None without a match.
pub(crate) fn preview_snippet(text: &str, words: &[String]) -> Option<String> {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let t: Vec<char> = flat.chars().collect();
    let hits = find(&t, words);
    let first = hits.first()?.0;
    let from = first.saturating_sub(LEAD);
    let to = (from + PREVIEW_CHARS).min(t.len());
    mark(&t, &hits, from, to)
}

/// The text parts of a message, for the preview.
fn body_text(raw: &[u8]) -> String {
    let Some(msg) = mail_parser::MessageParser::default().parse(raw) else {
        return String::new();
    };
    (0..msg.text_body_count())
        .filter_map(|i| msg.body_text(i).map(|t| t.into_owned()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn get(
    m: &MailMethods,
    cx: &CallContext,
    args: Map<String, Value>,
) -> Result<Map<String, Value>, MethodError> {
    let mut a = Args::new(args);
    let account_id = a.take_id("accountId")?;
    let filter = match a.take_value("filter") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Filter::parse(v)?),
    };
    let email_ids = a
        .take_opt_id_refs("emailIds")?
        .ok_or_else(|| MethodError::invalid_arguments("emailIds is required"))?;
    a.finish()?;
    if email_ids.len() as u64 > cx.limits.max_objects_in_get {
        return Err(MethodError::request_too_large(format!(
            "more than maxObjectsInGet ({}) emailIds",
            cx.limits.max_objects_in_get
        )));
    }
    if let Some(f) = &filter {
        f.check_conditions(
            &mut |c| match c.keys().find(|k| !CONDITIONS.contains(&k.as_str())) {
                Some(k) => Err(unsupported_filter(format!("unknown condition {k:?}"))),
                None => Ok(()),
            },
        )?;
    }
    let account = account::resolve(cx, &account_id)?;
    ready(m, &account).await?;
    let (mut subject_words, mut body_words) = (Vec::new(), Vec::new());
    if let Some(f) = &filter {
        words(f, &mut subject_words, &mut body_words);
    }
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    for raw in &email_ids {
        let shown = cx.resolve_id(raw).unwrap_or_else(|| raw.clone());
        let Some(n) = ids::parse(ids::EMAIL, &shown) else {
            not_found.push(shown);
            continue;
        };
        let found = m
            .store
            .email_get(&account.owner, &[n])
            .await
            .map_err(|e| server_fail(&e))?;
        let Some(e) = found.first() else {
            not_found.push(shown);
            continue;
        };
        let subject = e
            .subject
            .as_deref()
            .and_then(|s| subject_snippet(s, &subject_words));
        let preview = if body_words.is_empty() {
            None
        } else {
            let raw = m
                .store
                .email_raw(&account.owner, n)
                .await
                .map_err(|e| server_fail(&e))?
                .unwrap_or_default();
            preview_snippet(&body_text(&raw), &body_words)
        };
        list.push(json!({"emailId": shown, "subject": subject, "preview": preview}));
    }
    let mut out = Map::new();
    out.insert("accountId".into(), account.id.into());
    out.insert("list".into(), list.into());
    out.insert(
        "notFound".into(),
        if not_found.is_empty() {
            Value::Null
        } else {
            not_found.into()
        },
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_words_and_escapes_the_rest() {
        let w = vec!["lunch".to_string()];
        assert_eq!(
            subject_snippet("Lunch <b>& more", &w).as_deref(),
            Some("<mark>Lunch</mark> &lt;b&gt;&amp; more")
        );
        assert_eq!(subject_snippet("nothing here", &w), None);
        let long = format!("{} the LUNCH is at <noon>", "x ".repeat(200));
        let p = preview_snippet(&long, &w).unwrap();
        assert!(p.contains("<mark>LUNCH</mark> is at &lt;noon&gt;"), "{p}");
        assert!(!p.contains("<noon>"));
    }
}
