//! Email/query's filter and sort arguments (RFC 8621 §4.4.1, §4.4.2), read from the generic
//! filter tree and comparators of `rampart_jmap::methods::query` into the store's query.

use rampart_jmap::methods::query::{
    unsupported_filter, unsupported_sort, Comparator as JmapComparator, Filter, Operator,
};
use rampart_jmap::{CallContext, MethodError};
use rampart_store::mail::{Comparator, EmailFilter, FilterCondition, SortProperty};
use serde_json::{Map, Value};

use crate::ids;

fn wrong(key: &str, what: &str) -> MethodError {
    MethodError::invalid_arguments(format!("filter: {key} must be {what}"))
}

fn string(key: &str, v: &Value) -> Result<String, MethodError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| wrong(key, "a String"))
}

/// A keyword argument: RFC 8621 §4.1.1 keywords are case-insensitive.
fn keyword(key: &str, v: &Value) -> Result<String, MethodError> {
    let k = string(key, v)?;
    if k.is_empty() || k.len() > 255 {
        return Err(wrong(key, "a keyword"));
    }
    Ok(k.to_ascii_lowercase())
}

/// A mailbox id in a filter; an id that names no mailbox matches nothing (-1 is none).
fn mailbox(cx: &CallContext, key: &str, v: &Value) -> Result<i64, MethodError> {
    let s = string(key, v)?;
    Ok(cx
        .resolve_id(&s)
        .and_then(|id| ids::parse(ids::MAILBOX, &id))
        .unwrap_or(-1))
}

fn unsigned(key: &str, v: &Value) -> Result<u64, MethodError> {
    v.as_u64()
        .filter(|n| *n <= rampart_jmap::args::MAX_SAFE_INT as u64)
        .ok_or_else(|| wrong(key, "an UnsignedInt"))
}

/// RFC 3339 UTCDate (`2014-10-30T06:12:00Z`, fractions allowed) to microseconds since the epoch.
pub(crate) fn utc_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut micros = 0i64;
    let rest = s.get(19..s.len() - 1)?;
    if let Some(frac) = rest.strip_prefix('.') {
        if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        micros = digits.parse().ok()?;
    } else if !rest.is_empty() {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3_600 + mi * 60 + se) * 1_000_000) + micros)
}

fn date(key: &str, v: &Value) -> Result<i64, MethodError> {
    v.as_str()
        .and_then(utc_date)
        .ok_or_else(|| wrong(key, "a UTCDate"))
}

/// One FilterCondition of RFC 8621 §4.4.1; an unknown property is unsupportedFilter.
fn condition(cx: &CallContext, c: &Map<String, Value>) -> Result<FilterCondition, MethodError> {
    let mut f = FilterCondition::default();
    for (k, v) in c {
        let key = k.as_str();
        match key {
            "inMailbox" => f.in_mailbox = Some(mailbox(cx, key, v)?),
            "inMailboxOtherThan" => {
                let Value::Array(items) = v else {
                    return Err(wrong(key, "an array of Ids"));
                };
                f.in_mailbox_other_than = Some(
                    items
                        .iter()
                        .map(|i| mailbox(cx, key, i))
                        .collect::<Result<_, _>>()?,
                );
            }
            "before" => f.before = Some(date(key, v)?),
            "after" => f.after = Some(date(key, v)?),
            "minSize" => f.min_size = Some(unsigned(key, v)?),
            "maxSize" => f.max_size = Some(unsigned(key, v)?),
            "allInThreadHaveKeyword" => f.all_in_thread_have_keyword = Some(keyword(key, v)?),
            "someInThreadHaveKeyword" => f.some_in_thread_have_keyword = Some(keyword(key, v)?),
            "noneInThreadHaveKeyword" => f.none_in_thread_have_keyword = Some(keyword(key, v)?),
            "hasKeyword" => f.has_keyword = Some(keyword(key, v)?),
            "notKeyword" => f.not_keyword = Some(keyword(key, v)?),
            "hasAttachment" => {
                f.has_attachment = Some(v.as_bool().ok_or_else(|| wrong(key, "a Boolean"))?)
            }
            "text" => f.text = Some(string(key, v)?),
            "from" => f.from = Some(string(key, v)?),
            "to" => f.to = Some(string(key, v)?),
            "cc" => f.cc = Some(string(key, v)?),
            "bcc" => f.bcc = Some(string(key, v)?),
            "subject" => f.subject = Some(string(key, v)?),
            "body" => f.body = Some(string(key, v)?),
            "header" => {
                // RFC 8621 §4.4.1: one or two strings, the field name and the text to find.
                let parts: Option<Vec<String>> = v
                    .as_array()
                    .filter(|a| (1..=2).contains(&a.len()))
                    .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_owned)).collect());
                match parts {
                    Some(p) if !p[0].is_empty() => f.header = Some(p),
                    _ => return Err(wrong(key, "an array of one or two Strings")),
                }
            }
            other => return Err(unsupported_filter(format!("unknown condition {other:?}"))),
        }
    }
    Ok(f)
}

/// The filter tree in the store's terms.
pub(crate) fn filter(cx: &CallContext, f: &Filter) -> Result<EmailFilter, MethodError> {
    Ok(match f {
        Filter::Condition(c) => EmailFilter::Condition(Box::new(condition(cx, c)?)),
        Filter::Operator(op, subs) => {
            let subs = subs
                .iter()
                .map(|s| filter(cx, s))
                .collect::<Result<Vec<_>, _>>()?;
            match op {
                Operator::And => EmailFilter::And(subs),
                Operator::Or => EmailFilter::Or(subs),
                Operator::Not => EmailFilter::Not(subs),
            }
        }
    })
}

/// The store's filter and sort for the arguments Email/query and Email/queryChanges share.
pub(crate) fn filter_and_sort(
    cx: &CallContext,
    f: Option<&Filter>,
    s: &[JmapComparator],
) -> Result<(Option<EmailFilter>, Vec<Comparator>), MethodError> {
    Ok((f.map(|f| filter(cx, f)).transpose()?, sort(s)?))
}

/// The comparators of RFC 8621 §4.4.2; the keyword ones need `keyword`.
pub(crate) fn sort(sort: &[JmapComparator]) -> Result<Vec<Comparator>, MethodError> {
    sort.iter()
        .map(|c| {
            let mut extra = c.extra.clone();
            let kw = extra.remove("keyword");
            if let Some(k) = extra.keys().next() {
                return Err(MethodError::invalid_arguments(format!(
                    "unknown Comparator property {k:?}"
                )));
            }
            let need_kw = || -> Result<String, MethodError> {
                match &kw {
                    Some(v) => keyword("keyword", v),
                    None => Err(MethodError::invalid_arguments(format!(
                        "sorting by {} needs a keyword",
                        c.property
                    ))),
                }
            };
            let property = match c.property.as_str() {
                "receivedAt" => SortProperty::ReceivedAt,
                "size" => SortProperty::Size,
                "from" => SortProperty::From,
                "to" => SortProperty::To,
                "subject" => SortProperty::Subject,
                "sentAt" => SortProperty::SentAt,
                "hasKeyword" => SortProperty::HasKeyword(need_kw()?),
                "allInThreadHaveKeyword" => SortProperty::AllInThreadHaveKeyword(need_kw()?),
                "someInThreadHaveKeyword" => SortProperty::SomeInThreadHaveKeyword(need_kw()?),
                p => return Err(unsupported_sort(format!("cannot sort by {p:?}"))),
            };
            if kw.is_some() && !c.property.ends_with("eyword") {
                return Err(MethodError::invalid_arguments(format!(
                    "keyword is not a property of a {} Comparator",
                    c.property
                )));
            }
            Ok(Comparator {
                property,
                ascending: c.is_ascending,
            })
        })
        .collect()
}

/// Whether a record's match and place depend on that record alone, and on properties that
/// never change (`immutable`): for /queryChanges. (depends only on itself, immutable)
pub(crate) fn dependence(f: Option<&EmailFilter>, sort: &[Comparator]) -> (bool, bool) {
    fn walk(f: &EmailFilter, own: &mut bool, imm: &mut bool) {
        match f {
            EmailFilter::Condition(c) => {
                if c.all_in_thread_have_keyword.is_some()
                    || c.some_in_thread_have_keyword.is_some()
                    || c.none_in_thread_have_keyword.is_some()
                {
                    *own = false;
                }
                if c.in_mailbox.is_some()
                    || c.in_mailbox_other_than.is_some()
                    || c.has_keyword.is_some()
                    || c.not_keyword.is_some()
                {
                    *imm = false;
                }
            }
            EmailFilter::And(s) | EmailFilter::Or(s) | EmailFilter::Not(s) => {
                s.iter().for_each(|f| walk(f, own, imm))
            }
        }
    }
    let (mut own, mut imm) = (true, true);
    if let Some(f) = f {
        walk(f, &mut own, &mut imm);
    }
    for c in sort {
        match c.property {
            SortProperty::AllInThreadHaveKeyword(_) | SortProperty::SomeInThreadHaveKeyword(_) => {
                own = false
            }
            SortProperty::HasKeyword(_) => imm = false,
            _ => {}
        }
    }
    (own, own && imm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            utc_date("2014-10-30T06:12:00Z"),
            Some(1_414_649_520_000_000)
        );
        assert_eq!(
            utc_date("2014-10-30T06:12:00.5Z"),
            Some(1_414_649_520_500_000)
        );
        for bad in [
            "2014-10-30",
            "2014-10-30T06:12:00",
            "2014-13-30T06:12:00Z",
            "2014-10-30T06:12:00+01:00",
            "2014-10-30T06:12:00.Z",
            "2014-1a-30T06:12:00Z",
        ] {
            assert_eq!(utc_date(bad), None, "{bad}");
        }
    }
}
