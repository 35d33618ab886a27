//! Crash safety (DESIGN.md, "Nothing is acknowledged before it is durable"): load the server from
//! several connections, kill -9 it at several moments, restart it on the same data directory, and
//! check that every message that received a 250 is in a mailbox or still in the queue, and that
//! what was still queued is delivered after the restart.

use crate::common;

use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Client threads, each with its own connection at a time.
const CLIENTS: usize = 4;
/// Messages a client sends on one connection before it says QUIT and connects again, so that
/// kills also land on greetings, EHLO and QUIT, not only inside transactions.
const MESSAGES_PER_CONNECTION: usize = 7;
/// Per round: the number of acknowledged messages after which the server is killed. 0 kills it
/// right after the restart, while the clients connect and the queue is being recovered.
const KILL_AFTER: [usize; 6] = [1, 50, 0, 120, 9, 30];
/// Size of each message body.
const BODY_SIZE: usize = 10 * 1024;
const ALICE: &str = "alice@example.test";

/// A message the server acknowledged with 250.
#[derive(Clone, Debug)]
struct Ack {
    message_id: String,
    queue_id: String,
    body: String,
}

/// What one client thread saw that it should not have: a complete reply with an unexpected code
/// (a connection cut by the kill is expected and not reported).
type Anomalies = Vec<String>;

/// A tiny SMTP client whose every failure is a value: after kill -9 the socket errors are normal.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(READ_TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// One whole reply: its code and the text of its last line.
    fn reply(&mut self) -> std::io::Result<(u16, String)> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 || !line.ends_with("\r\n") {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end();
            let code = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("not a reply: {line:?}")))?;
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, line.get(4..).unwrap_or("").to_string()));
            }
        }
    }

    /// Sends `bytes` and reads one reply, which must have code `want`.
    fn step(&mut self, bytes: &[u8], want: u16) -> Result<String, Stop> {
        if !bytes.is_empty() {
            self.writer.write_all(bytes).map_err(|_| Stop::Cut)?;
        }
        match self.reply() {
            Ok((code, text)) if code == want => Ok(text),
            Ok((code, text)) => Err(Stop::Anomaly(format!(
                "after {:?}: expected {want}, got {code} {text}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
            ))),
            Err(_) => Err(Stop::Cut),
        }
    }
}

enum Stop {
    /// The connection broke (the server was killed).
    Cut,
    /// A complete reply that should not have come.
    Anomaly(String),
}

/// A message of exactly BODY_SIZE body bytes (128 lines of 78 characters and CRLF), unique to
/// `id`, ready to send after DATA (dot included).
fn crash_message(id: &str) -> (String, String) {
    let mut body = String::with_capacity(BODY_SIZE);
    let mut i = 0;
    while body.len() < BODY_SIZE {
        let mut line = format!("{id}:{i:03}:");
        let pad = (b'a'..=b'z').cycle().skip(i % 26);
        line.extend(pad.take(78 - line.len()).map(char::from));
        body.push_str(&line);
        body.push_str("\r\n");
        i += 1;
    }
    assert_eq!(body.len(), BODY_SIZE);
    let whole = format!(
        "From: <loader@remote.test>\r\nTo: <{ALICE}>\r\nSubject: crash {id}\r\nMessage-ID: <{id}@remote.test>\r\n\r\n{body}.\r\n"
    );
    (whole, body)
}

/// One client thread: sends messages to alice over successive connections until the server goes
/// away, reporting each 250 on `acks` as soon as it is read.
fn load(addr: SocketAddr, round: usize, client: usize, acks: mpsc::Sender<Ack>) -> Anomalies {
    let mut anomalies = Vec::new();
    let mut n = 0;
    loop {
        match connection(addr, round, client, &mut n, &acks) {
            Ok(()) => continue,
            Err(Stop::Cut) => return anomalies,
            Err(Stop::Anomaly(a)) => {
                anomalies.push(a);
                return anomalies;
            }
        }
    }
}

fn connection(
    addr: SocketAddr,
    round: usize,
    client: usize,
    n: &mut usize,
    acks: &mpsc::Sender<Ack>,
) -> Result<(), Stop> {
    let mut c = Conn::open(addr).map_err(|_| Stop::Cut)?;
    c.step(b"", 220)?;
    c.step(b"EHLO loader.test\r\n", 250)?;
    for _ in 0..MESSAGES_PER_CONNECTION {
        let id = format!("crash-r{round}-c{client}-m{n}");
        *n += 1;
        let (message, body) = crash_message(&id);
        c.step(b"MAIL FROM:<loader@remote.test>\r\n", 250)?;
        c.step(format!("RCPT TO:<{ALICE}>\r\n").as_bytes(), 250)?;
        c.step(b"DATA\r\n", 354)?;
        let text = c.step(message.as_bytes(), 250)?;
        let queue_id = match text.strip_prefix("2.0.0 Ok: queued as ") {
            Some(q) => q.to_string(),
            None => return Err(Stop::Anomaly(format!("250 without a queue id: {text}"))),
        };
        let ack = Ack {
            message_id: format!("{id}@remote.test"),
            queue_id,
            body,
        };
        if acks.send(ack).is_err() {
            return Err(Stop::Cut);
        }
    }
    c.step(b"QUIT\r\n", 221)?;
    Ok(())
}

/// Where the acknowledged messages are.
#[derive(Default)]
struct Census {
    /// Message-ID -> (mailbox entry id, queue id) for each copy in alice's mailbox.
    mailbox: HashMap<String, Vec<(i64, String)>>,
    /// Queue id -> status of alice's queue row.
    queue: HashMap<String, String>,
}

fn census(s: &Server) -> Census {
    let mut c = Census::default();
    // The queue first, then the mailbox: a message delivered between the two reads is then seen
    // in the mailbox, never missed by both.
    for line in cli(&s.config, &["queue", "list"], None).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(f.len() >= 3, "queue list line: {line:?}");
        if f[1] == ALICE {
            c.queue.insert(f[0].to_string(), f[2].to_string());
        }
    }
    for line in cli(&s.config, &["mailbox", "list", ALICE, "--json"], None).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("mailbox list --json line");
        let Some(mid) = v["message_id"].as_str() else {
            continue;
        };
        let mid = mid
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string();
        let entry = (
            v["id"].as_i64().expect("mailbox entry id"),
            v["queue_id"].as_str().expect("queue id").to_string(),
        );
        c.mailbox.entry(mid).or_default().push(entry);
    }
    c
}

/// Counts per acknowledged message; panics with the details if any is lost.
#[derive(Debug, Default)]
struct Outcome {
    in_mailbox: usize,
    queued: usize,
    duplicates: usize,
}

fn check(s: &Server, acked: &[Ack], when: &str) -> Outcome {
    let c = census(s);
    let mut o = Outcome::default();
    let mut lost = Vec::new();
    for a in acked {
        match c.mailbox.get(&a.message_id) {
            Some(copies) => {
                o.in_mailbox += 1;
                o.duplicates += copies.len() - 1;
                assert!(
                    copies.iter().any(|(_, q)| *q == a.queue_id),
                    "{when}: {} was acknowledged as {} but the mailbox holds it as {copies:?}",
                    a.message_id,
                    a.queue_id
                );
            }
            None if c.queue.get(&a.queue_id).map(String::as_str) == Some("queued") => o.queued += 1,
            None => lost.push(format!(
                "{} (queued as {}, queue row: {:?})",
                a.message_id,
                a.queue_id,
                c.queue.get(&a.queue_id)
            )),
        }
    }
    assert!(
        lost.is_empty(),
        "{when}: {} of {} acknowledged messages lost: {lost:#?}",
        lost.len(),
        acked.len()
    );
    o
}

/// The stored copy of an acknowledged message is whole: its Message-ID and its body intact.
fn check_intact(s: &Server, a: &Ack) {
    let c = census(s);
    let copies = c
        .mailbox
        .get(&a.message_id)
        .unwrap_or_else(|| panic!("{} not delivered", a.message_id));
    for (id, _) in copies {
        let stored = s.show(ALICE, &id.to_string());
        assert!(
            stored.contains(&format!("Message-ID: <{}>\r\n", a.message_id)),
            "{stored}"
        );
        assert!(
            stored.ends_with(&format!("\r\n\r\n{}", a.body)),
            "body of {} damaged; stored {} bytes",
            a.message_id,
            stored.len()
        );
    }
}

#[test]
fn every_acknowledged_message_survives_kill_9() {
    let started = Instant::now();
    let mut s = Server::start();
    let mut acked: Vec<Ack> = Vec::new();
    let mut anomalies: Anomalies = Vec::new();
    let mut last_of_round = Vec::new();
    for (round, &kill_after) in KILL_AFTER.iter().enumerate() {
        let (tx, rx) = mpsc::channel();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (tx, addr) = (tx.clone(), s.addr);
                std::thread::spawn(move || load(addr, round, client, tx))
            })
            .collect();
        drop(tx);
        // Wait (bounded) for this round's acknowledgements, then crash the server.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = 0;
        while seen < kill_after {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(a) => {
                    acked.push(a);
                    seen += 1;
                }
                Err(e) => {
                    s.kill9();
                    panic!(
                        "round {round}: only {seen} of {kill_after} messages acknowledged ({e})"
                    );
                }
            }
        }
        s.kill9();
        for c in clients {
            anomalies.extend(c.join().expect("client thread"));
        }
        // 250s read between the last count and the kill count too: the clients saw them.
        let late: Vec<Ack> = rx.try_iter().collect();
        seen += late.len();
        acked.extend(late);
        last_of_round.push(acked.last().expect("acknowledged").clone());

        s.spawn();
        let o = check(&s, &acked, &format!("after kill -9 number {}", round + 1));
        eprintln!(
            "round {}: {seen} acknowledged this round; of {} so far: {} in the mailbox, {} queued, {} duplicate copies",
            round + 1,
            acked.len(),
            o.in_mailbox,
            o.queued,
            o.duplicates
        );
    }
    assert!(
        anomalies.is_empty(),
        "replies that should not have come: {anomalies:#?}"
    );
    let mut ids: Vec<&str> = acked.iter().map(|a| a.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), acked.len(), "Message-IDs are unique");

    // After the last restart whatever was still queued is delivered: wait (bounded) until every
    // acknowledged message is in the mailbox.
    s.wait_mailbox(ALICE, acked.len());
    let deadline = Instant::now() + Duration::from_secs(20);
    let final_outcome = loop {
        let o = check(&s, &acked, "after the last restart");
        if o.queued == 0 {
            break o;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged messages still queued after the restart: {o:?}",
            o.queued
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(final_outcome.in_mailbox, acked.len());
    for a in &last_of_round {
        check_intact(&s, a);
    }
    eprintln!(
        "{} messages acknowledged across {} kills: 0 lost, {} duplicate copies, {:?}",
        acked.len(),
        KILL_AFTER.len(),
        final_outcome.duplicates,
        started.elapsed()
    );
}
