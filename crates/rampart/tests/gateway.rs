//! The secure email gateway end to end (issue 5): a real clamd started by the test, attachments,
//! URL feeds at receipt and at delivery, DLP on outbound mail, the [External] tag, quarantine.
//! One clamd serves the whole scenario (it takes a moment to start).

use crate::common;

use crate::clamd;

use common::*;

/// A message with one base64 attachment.
fn with_attachment(from: &str, to: &str, name: &str, data: &[u8]) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: attachment {name}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        b64(data)
    )
}

/// A zip archive with one stored (uncompressed) entry, written by hand.
fn zip_stored(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32(data);
    let mut z = Vec::new();
    let local = |z: &mut Vec<u8>| {
        z.extend_from_slice(&[0x50, 0x4b, 3, 4, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(data.len() as u32).to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z.extend_from_slice(name.as_bytes());
    };
    local(&mut z);
    z.extend_from_slice(data);
    let cd_start = z.len();
    z.extend_from_slice(&[0x50, 0x4b, 1, 2, 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0; 12]);
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() - cd_start;
    z.extend_from_slice(&[0x50, 0x4b, 5, 6, 0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&(cd_len as u32).to_le_bytes());
    z.extend_from_slice(&(cd_start as u32).to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn send(c: &mut Client, from: &str, to: &str, msg: &str) -> (u16, String) {
    c.send(&format!("MAIL FROM:<{from}>"));
    c.expect(250);
    c.send(&format!("RCPT TO:<{to}>"));
    c.expect(250);
    c.send("DATA");
    c.expect(354);
    c.send_raw(msg.as_bytes());
    c.send_raw(b".\r\n");
    c.reply().unwrap()
}

#[test]
fn gateway_checks_end_to_end() {
    let mut av = clamd::Clamd::start(&[(
        "test.hdb",
        clamd::hdb_line(&clamd::eicar(), "Eicar-Test-Signature"),
    )]);
    let dir = TempDir::new("feeds");
    let feed = dir.0.join("bad-urls.txt");
    std::fs::write(&feed, "# test feed\nphish.example\n").unwrap();
    // remote.test's MX answers on a port nothing listens on: outbound mail waits in the queue.
    let dns = rampart_testdns::TestDns::builder()
        .mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", "127.0.0.1".parse().unwrap())
        .start();
    let closed = ClosedPort::new();
    let s = Server::start_with(Options {
        top: format!(
            "[dns]\nservers = [\"{}\"]\n[delivery]\nport = {}\nretry_secs = [1]\n\
             [[listener]]\nrole = \"submissions\"\naddress = \"127.0.0.1:0\"\n",
            dns.addr(),
            closed.port()
        ),
        limits: "max_errors = 100".into(),
        checks: Some(format!(
            "disabled = []\nnotify = \"bob@example.test\"\n[checks.antivirus]\nclamd = \"{}\"\ntimeout_ms = 20000\n\
             [checks.urls]\nfeeds = [\"{}\"]\ncheck_outbound = true\n\
             [checks.authentication]\ndns_timeout_ms = 500\n",
            av.socket.display(),
            feed.display()
        )),
        ..Default::default()
    });
    let mut c = s.ehlo();
    let ext = "x@remote.test";

    // NC-2.3.2 / AL-1.2: EICAR as an attachment, and inside a zip inside a zip, refused by name.
    for (name, data) in [
        ("eicar.txt", clamd::eicar()),
        (
            "outer.zip",
            zip_stored("inner.zip", &zip_stored("eicar.com", &clamd::eicar())),
        ),
    ] {
        let (code, text) = send(
            &mut c,
            ext,
            "alice@example.test",
            &with_attachment(ext, "alice@example.test", name, &data),
        );
        assert_eq!(code, 554, "{name}: {text}");
        assert!(
            text.starts_with("5.7.1") && text.contains("Eicar-Test-Signature"),
            "{name}: {text}"
        );
    }
    // AL-1.4: a PE executable named .pdf is refused by its true type.
    let mut pe = b"MZ".to_vec();
    pe.extend_from_slice(&[0x90; 58]);
    pe.extend_from_slice(&64u32.to_le_bytes());
    pe.extend_from_slice(b"PE\0\0");
    pe.extend_from_slice(&[0; 64]);
    let (code, text) = send(
        &mut c,
        ext,
        "alice@example.test",
        &with_attachment(ext, "alice@example.test", "invoice.pdf", &pe),
    );
    assert!(code >= 550, "{text}");
    // AL-1.3: a URL on the feed is refused at receipt.
    let phish = format!("From: <{ext}>\r\nSubject: verify\r\n\r\nLog in at https://login.phish.example/account now\r\n");
    let (code, text) = send(&mut c, ext, "alice@example.test", &phish);
    assert_eq!(code, 554, "{text}");
    // AL-1.6: clean inbound mail is tagged once, and not again on a reply.
    for subject in ["hello", "RE: [External] hello"] {
        let m = format!("From: <{ext}>\r\nSubject: {subject}\r\n\r\nclean\r\n");
        assert_eq!(send(&mut c, ext, "alice@example.test", &m).0, 250);
    }
    let inbox = s.wait_mailbox("alice@example.test", 2);
    let first = s.show("alice@example.test", inbox[0].split('\t').next().unwrap());
    let second = s.show("alice@example.test", inbox[1].split('\t').next().unwrap());
    assert!(
        first.contains("\r\nSubject: [External] hello\r\n"),
        "{first}"
    );
    assert!(
        second.contains("\r\nSubject: RE: [External] hello\r\n"),
        "never doubled: {second}"
    );
    c.send("QUIT");
    c.expect(221);

    // Internal mail (authenticated) is not tagged; outbound DLP refuses a card number (AL-1.5).
    let mut sub = s.login_alice();
    let internal = "From: <alice@example.test>\r\nSubject: lunch\r\n\r\nnoon?\r\n";
    assert_eq!(
        send(&mut sub, "alice@example.test", "bob@example.test", internal).0,
        250
    );
    let b = s.wait_mailbox("bob@example.test", 1);
    let lunch = s.show("bob@example.test", b[0].split('\t').next().unwrap());
    assert!(
        lunch.contains("\r\nSubject: lunch\r\n"),
        "internal mail untagged: {lunch}"
    );
    let card = "From: <alice@example.test>\r\nSubject: order\r\n\r\nPlease charge 4111 1111 1111 1111 today.\r\n";
    let (code, text) = send(&mut sub, "alice@example.test", "buyer@remote.test", card);
    assert_eq!(code, 550, "{text}");
    assert!(
        text.starts_with("5.7.1") && !text.contains("4111"),
        "names the rule, never the value: {text}"
    );

    // A rule whose action is to notify (ABA routing numbers by default): delivered, and the
    // administrator told which rule, never the number.
    let aba = "From: <alice@example.test>\r\nSubject: payroll\r\n\r\nThe routing number is 021000021.\r\n";
    assert_eq!(
        send(&mut sub, "alice@example.test", "bob@example.test", aba).0,
        250
    );
    let b = s.wait_mailbox("bob@example.test", 3);
    let notice = b
        .iter()
        .map(|l| s.show("bob@example.test", l.split('\t').next().unwrap()))
        .find(|m| m.contains("DLP notice"))
        .expect("a DLP notice");
    assert!(
        notice.contains("Sender: <alice@example.test>") && !notice.contains("021000021"),
        "{notice}"
    );

    // AL-1.3 at delivery: a message waiting in the queue meets a feed updated meanwhile.
    let later =
        "From: <alice@example.test>\r\nSubject: link\r\n\r\nsee https://soon-bad.example/x\r\n";
    let (code, text) = send(&mut sub, "alice@example.test", "carol@remote.test", later);
    assert_eq!(code, 250, "{text}");
    let qid = text.rsplit(' ').next().unwrap().to_string();
    wait_trace(&s, &["trace", "--queue-id", &qid], "deferred");
    std::fs::write(&feed, "phish.example\nsoon-bad.example\n").unwrap();
    let t = wait_trace(&s, &["trace", "--queue-id", &qid], "held at delivery");
    assert!(t.contains("soon-bad.example"), "{t}");
    let q = cli(&s.config, &["quarantine", "list"], None);
    assert!(q.contains(&qid), "{q}");

    // NC-2.3.2: with clamd gone, mail is not let through unscanned.
    av.stop();
    let mut c = s.ehlo();
    let (code, text) = send(
        &mut c,
        ext,
        "alice@example.test",
        &format!("From: <{ext}>\r\nSubject: later\r\n\r\nhi\r\n"),
    );
    assert_eq!(code, 451, "{text}");
    assert!(text.starts_with("4.7."), "{text}");
}
