//! NC-2.1.8: limits a client can see from outside. SIZE is advertised with a bound (RFC 1870);
//! a command line far past RFC 5321's 512 octets (section 4.5.3.1.4) is refused; a client that
//! talks before the greeting (an early talker: a spam engine not waiting for the server) is
//! refused or ignored.

use super::session::ProbeError;
use super::{advertises, Probe, EHLO_NAME};
use crate::Finding;

/// The over-long command line: sixteen times the RFC's limit.
const LONG_LINE: usize = 8192;

pub(crate) async fn probe(p: &mut Probe<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    out.push(size(p));
    out.push(long_line(p).await);
    out.push(early_talker(p).await);
    out
}

fn size(p: &Probe<'_>) -> Finding {
    let Some(ehlo) = &p.ehlo else {
        return Finding::warn(
            "NC-2.1.8",
            "SIZE advertised",
            "no EHLO reply to read",
            "test by hand: EHLO must list SIZE with a bound",
        );
    };
    let bound = advertises(ehlo, "SIZE").map(|l| {
        l.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    });
    match bound {
        Some(n) if n > 0 => Finding::pass("NC-2.1.8", "SIZE advertised", format!("SIZE {n}")),
        // RFC 1870: SIZE 0 or without a number means no fixed bound.
        Some(_) => Finding::warn(
            "NC-2.1.8",
            "SIZE advertised",
            "SIZE without a bound",
            "set a message size limit (Postfix: message_size_limit)",
        ),
        None => Finding::warn(
            "NC-2.1.8",
            "SIZE advertised",
            "EHLO does not advertise SIZE",
            "set and advertise a message size limit (Postfix: message_size_limit)",
        ),
    }
}

async fn long_line(p: &mut Probe<'_>) -> Finding {
    let check = "over-long command line refused";
    let mut s = match p.open(p.target.port).await {
        Ok((s, _)) => s,
        Err(e) => return super::untested("NC-2.1.8", check, &e),
    };
    let line = format!("NOOP {}", "X".repeat(LONG_LINE));
    let r = s.command(&line).await;
    let _ = s.command("QUIT").await;
    match r {
        Ok(r) if r.positive() => Finding::warn(
            "NC-2.1.8",
            check,
            format!("a {}-octet command line got {}", line.len() + 2, r.show()),
            "refuse command lines over 512 octets (RFC 5321 section 4.5.3.1.4)",
        ),
        Ok(r) => Finding::pass(
            "NC-2.1.8",
            check,
            format!("a {}-octet command line got {}", line.len() + 2, r.show()),
        ),
        Err(ProbeError::Closed) => Finding::pass(
            "NC-2.1.8",
            check,
            format!(
                "a {}-octet command line: the server closed the connection",
                line.len() + 2
            ),
        ),
        Err(e) => super::untested("NC-2.1.8", check, &e),
    }
}

async fn early_talker(p: &mut Probe<'_>) -> Finding {
    let check = "early talker refused";
    if let Err(e) = p.pacer.next().await {
        return super::untested("NC-2.1.8", check, &e);
    }
    let mut s =
        match super::session::Session::connect(&p.target.addr(p.target.port), p.target.timeout)
            .await
        {
            Ok(s) => s,
            Err(e) => return super::untested("NC-2.1.8", check, &e),
        };
    // EHLO at once, before the greeting: what a client that ignores the protocol does.
    if let Err(e) = s.send(&format!("EHLO {EHLO_NAME}")).await {
        return super::untested("NC-2.1.8", check, &e);
    }
    let greeting = s.reply().await;
    let answer = match &greeting {
        Ok(g) if g.code == 220 => Some(s.reply().await),
        _ => None,
    };
    let _ = s.send("QUIT").await;
    match (greeting, answer) {
        (Ok(g), Some(Ok(r))) if r.code == 250 => Finding::warn(
            "NC-2.1.8",
            check,
            format!(
                "EHLO sent before the greeting was answered: {} then {}",
                g.show(),
                r.show()
            ),
            "refuse clients that talk before the greeting (Postfix: postscreen_greet_action = enforce)",
        ),
        (Ok(g), Some(Ok(r))) => Finding::pass(
            "NC-2.1.8",
            check,
            format!("{} then {}", g.show(), r.show()),
        ),
        (Ok(g), Some(Err(ProbeError::Closed))) => Finding::pass(
            "NC-2.1.8",
            check,
            format!("{} then the server closed the connection", g.show()),
        ),
        (Ok(g), None) => Finding::pass("NC-2.1.8", check, g.show()),
        (Err(ProbeError::Closed), _) => Finding::pass(
            "NC-2.1.8",
            check,
            "the server closed the connection without a greeting",
        ),
        (Err(e), _) | (_, Some(Err(e))) => super::untested("NC-2.1.8", check, &e),
    }
}
