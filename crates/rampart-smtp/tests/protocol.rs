//! Protocol cases over an in-memory stream, with exact replies: relay variants, smuggling,
//! BDAT, line limits and the trickle timeouts (on a paused clock, so they take milliseconds).
//! The same cases run against the spawned binary in crates/rampart/tests (the end-to-end layer).

mod support;

use std::time::Duration;
use support::{fixture, fixture_with, read_all, start};
use tokio::io::AsyncWriteExt;

const GREETING: &str = "220 mail.example.test ESMTP\r\n";

/// The replies after the greeting and the EHLO lines, one per element.
fn replies_after_ehlo(out: &str) -> Vec<&str> {
    out.split("\r\n")
        .filter(|l| !l.is_empty())
        .skip_while(|l| l.starts_with("220 ") || l.starts_with("250-"))
        .skip(1) // the last EHLO line
        .collect()
}

async fn session(f: &support::Fixture, input: &[u8]) -> String {
    let mut c = start(f).await;
    c.write_all(input).await.unwrap();
    read_all(&mut c).await
}

#[tokio::test]
async fn nc_2_1_6_relay_variants_refused_with_550_5_7_1() {
    let f = fixture();
    let cases: &[(&str, &str)] = &[
        (
            "<x@other.test>",
            "this server does not accept mail for that domain",
        ),
        (
            "<@relay.test:alice@example.test>",
            "source routes are not accepted",
        ),
        (
            "<alice%other.test@example.test>",
            "% routing is not accepted",
        ),
        (
            "<other.test!alice@example.test>",
            "! (UUCP) paths are not accepted",
        ),
        (
            "<\"alice@other.test\"@example.test>",
            "quoted local parts are not accepted",
        ),
        (
            "<alice@example.test.>",
            "the domain must not end with a dot",
        ),
    ];
    for (path, why) in cases {
        let input =
            format!("EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:{path}\r\nQUIT\r\n");
        let out = session(&f, input.as_bytes()).await;
        let r = replies_after_ehlo(&out);
        assert_eq!(r[0], "250 2.1.0 Sender ok", "{path}: {out}");
        assert_eq!(
            r[1],
            format!("550 5.7.1 Relaying denied: {why}"),
            "{path}: {out}"
        );
        assert_eq!(r[2], "221 2.0.0 Bye", "{path}: {out}");
    }
}

#[tokio::test]
async fn nc_2_1_5_relay_network_relays_but_only_as_its_own_domains() {
    let f = fixture_with(|c| {
        c.relay.networks = vec![rampart_config::relay::parse_network("192.0.2.0/24").unwrap()]
    });
    let out = session(
        &f,
        b"EHLO c.test\r\nMAIL FROM:<someone@other.test>\r\nMAIL FROM:<app@example.test>\r\n\
          RCPT TO:<x@other.test>\r\nQUIT\r\n",
    )
    .await;
    let r = replies_after_ehlo(&out);
    assert_eq!(
        r,
        [
            "553 5.7.1 Sender address <someone@other.test> is not one you may send as",
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "221 2.0.0 Bye"
        ],
        "{out}"
    );
}

#[tokio::test]
async fn smuggling_bare_lf_in_a_command_closes_with_554_5_5_2() {
    let f = fixture();
    let out = session(
        &f,
        b"EHLO c.test\r\nMAIL FROM:<a@remote.test>\nRCPT TO:<alice@example.test>\r\n",
    )
    .await;
    let r = replies_after_ehlo(&out);
    assert_eq!(
        r,
        ["554 5.5.2 Bare CR or LF in a command; lines must end with CRLF. Closing connection"],
        "{out}"
    );
}

#[tokio::test]
async fn smuggling_bare_lf_dot_in_data_is_refused_not_split() {
    let f = fixture();
    // `<LF>.<LF>` must not end the message (a second one smuggled behind it would be queued).
    let out = session(
        &f,
        b"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n\
          Subject: s\r\n\r\nhi\n.\nMAIL FROM:<evil@remote.test>\r\n.\r\nQUIT\r\n",
    )
    .await;
    let r = replies_after_ehlo(&out);
    assert_eq!(
        r,
        [
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "554 5.6.0 Message refused: bare CR or LF in the message; lines must end with CRLF",
            "221 2.0.0 Bye"
        ],
        "{out}"
    );
    assert_eq!(
        std::fs::read_dir(f.dir.join("messages")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn bdat_chunks_are_counted_and_the_last_one_queues() {
    let f = fixture();
    let out = session(
        &f,
        b"EHLO c.test\r\nBDAT 3\r\nabcMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n\
          BDAT 14\r\nSubject: s\r\n\r\nBDAT 4 LAST\r\nhi\r\nQUIT\r\n",
    )
    .await;
    let r = replies_after_ehlo(&out);
    assert_eq!(r[0], "503 5.5.1 Send MAIL FROM first", "{out}");
    assert_eq!(r[1], "250 2.1.0 Sender ok", "{out}");
    assert_eq!(r[2], "250 2.1.5 Recipient ok", "{out}");
    assert_eq!(r[3], "250 2.0.0 Ok: 14 octets received, 14 in all", "{out}");
    assert!(r[4].starts_with("250 2.0.0 Ok: queued as "), "{out}");
    assert_eq!(r[5], "221 2.0.0 Bye", "{out}");
}

#[tokio::test]
async fn bdat_over_the_size_limit_is_refused_with_552() {
    let f = fixture_with(|c| c.limits.max_message_size = std::num::NonZeroU32::new(10).unwrap());
    let out = session(
        &f,
        b"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n\
          BDAT 20\r\n0123456789012345678\nQUIT\r\n",
    )
    .await;
    let r = replies_after_ehlo(&out);
    assert_eq!(
        &r[2..],
        [
            "552 5.3.4 Message size exceeds fixed maximum message size",
            "221 2.0.0 Bye"
        ],
        "{out}"
    );
}

#[tokio::test]
async fn command_line_over_the_limit_closes_with_500_5_5_2() {
    let f = fixture();
    let mut input = b"EHLO c.test\r\nNOOP ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 4096));
    input.extend_from_slice(b"\r\n");
    let out = session(&f, &input).await;
    assert_eq!(
        replies_after_ehlo(&out),
        ["500 5.5.2 Line too long"],
        "{out}"
    );
}

#[tokio::test(start_paused = true)]
async fn nc_2_1_8_trickled_command_line_times_out_as_a_whole() {
    let f = fixture();
    let c = start(&f).await;
    let (mut rd, mut wr) = tokio::io::split(c);
    // One byte every 10 s: each read is quick, but the line is not complete within 300 s.
    let trickle = tokio::spawn(async move {
        for b in b"NOOP and more and more and more and more and more".iter() {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    });
    let started = tokio::time::Instant::now();
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut rd, &mut out)
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{GREETING}421 4.4.2 mail.example.test Timeout; closing connection\r\n")
    );
    assert!(
        (Duration::from_secs(300)..Duration::from_secs(320)).contains(&waited),
        "{waited:?}"
    );
    trickle.abort();
}

#[tokio::test(start_paused = true)]
async fn nc_2_1_8_trickled_data_below_the_minimum_rate_times_out() {
    let f = fixture();
    let c = start(&f).await;
    let (mut rd, mut wr) = tokio::io::split(c);
    let trickle = tokio::spawn(async move {
        let head =
            b"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n";
        if wr.write_all(head).await.is_err() {
            return;
        }
        // 10 bytes a second, far below the 500 bytes/s the data timeout asks for.
        loop {
            if wr.write_all(b"xxxxxxxxxx").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut rd, &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n421 4.4.2 mail.example.test Timeout; closing connection\r\n"),
        "{out}"
    );
    trickle.abort();
    assert_eq!(
        std::fs::read_dir(f.dir.join("messages")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn pipelined_commands_each_get_their_answer_in_order() {
    let f = fixture();
    let out = session(
        &f,
        b"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<x@other.test>\r\nDATA\r\nRSET\r\nQUIT\r\n",
    )
    .await;
    assert_eq!(
        replies_after_ehlo(&out),
        [
            "250 2.1.0 Sender ok",
            "550 5.7.1 Relaying denied: this server does not accept mail for that domain",
            "554 5.5.1 No valid recipients",
            "250 2.0.0 Ok",
            "221 2.0.0 Bye"
        ],
        "{out}"
    );
}

#[tokio::test]
async fn nc_2_2_vrfy_refused_and_too_many_errors_close_with_421() {
    let f = fixture_with(|c| c.limits.max_errors = std::num::NonZeroU32::new(3).unwrap());
    let out = session(&f, b"EHLO c.test\r\nVRFY a\r\nEXPN b\r\nTURN\r\nNOOP\r\n").await;
    assert_eq!(
        replies_after_ehlo(&out),
        [
            "502 5.5.1 Command not implemented",
            "502 5.5.1 Command not implemented",
            "502 5.5.1 Command not implemented",
            "421 4.7.0 mail.example.test Too many errors; closing connection"
        ],
        "{out}"
    );
}
