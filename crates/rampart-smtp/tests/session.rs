//! Sessions over an in-memory stream: exact replies, and timeouts on a paused clock.

mod support;

use support::{fixture, read_all, start};
use tokio::io::AsyncWriteExt;

#[tokio::test(start_paused = true)]
async fn idle_client_times_out_with_421() {
    let f = fixture();
    let mut c = start(&f).await;
    let started = tokio::time::Instant::now();
    // Nothing sent: after the command timeout (300 s of paused, auto-advancing time) the server
    // says 421 4.4.2 and closes.
    let out = read_all(&mut c).await;
    assert_eq!(out, "220 mail.example.test ESMTP\r\n421 4.4.2 mail.example.test Timeout; closing connection\r\n");
    assert!(started.elapsed() >= std::time::Duration::from_secs(300));
}

#[tokio::test(start_paused = true)]
async fn stalled_data_times_out_after_the_data_timeout() {
    let f = fixture();
    let mut c = start(&f).await;
    c.write_all(b"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: half\r\n").await.unwrap();
    let started = tokio::time::Instant::now();
    let out = read_all(&mut c).await;
    assert!(
        out.contains("354 End data with <CR><LF>.<CR><LF>\r\n421 4.4.2 "),
        "{out}"
    );
    let waited = started.elapsed().as_secs();
    assert!(
        (180..300).contains(&waited),
        "data timeout is 180 s, waited {waited}"
    );
    // Nothing half-written stays behind: no message file, no queue row.
    assert_eq!(
        std::fs::read_dir(f.dir.join("messages")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn exact_replies_for_a_pipelined_transaction() {
    let f = fixture();
    let mut c = start(&f).await;
    c.write_all(b"EHLO c.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<x@other.test>\r\nDATA\r\nSubject: s\r\n\r\nhi\r\n.\r\nQUIT\r\n").await.unwrap();
    let out = read_all(&mut c).await;
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(lines[0], "220 mail.example.test ESMTP");
    assert_eq!(lines[1], "250-mail.example.test");
    let after_ehlo: Vec<&str> = lines
        .iter()
        .skip_while(|l| l.starts_with("250-") || l.starts_with("220"))
        .copied()
        .collect();
    assert_eq!(
        after_ehlo[0], "250 CHUNKING",
        "no STARTTLS without a certificate: {out}"
    );
    assert_eq!(after_ehlo[1], "250 2.1.0 Sender ok");
    assert_eq!(after_ehlo[2], "250 2.1.5 Recipient ok");
    assert_eq!(
        after_ehlo[3],
        "550 5.7.1 Relaying denied: this server does not accept mail for that domain"
    );
    assert_eq!(after_ehlo[4], "354 End data with <CR><LF>.<CR><LF>");
    assert!(
        after_ehlo[5].starts_with("250 2.0.0 Ok: queued as "),
        "{out}"
    );
    assert_eq!(after_ehlo[6], "221 2.0.0 Bye");
}
