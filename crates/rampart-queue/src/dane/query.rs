//! One DNS question to a validating resolver, with the answer's AD bit (RFC 4035 section 3.2.3,
//! RFC 6840 section 5.7). hickory's resolver does not show the AD bit of an answer, so this asks
//! by itself: UDP, and TCP when the answer is truncated.
//!
//! Only [`super::lookup`] calls it, and only with servers the configuration has checked are on
//! loopback (`dnssec = "ad-from-loopback"`): an AD bit is worth nothing once it crossed a network.

use hickory_resolver::proto::op::{Edns, Message, Query, ResponseCode};
use hickory_resolver::proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_resolver::proto::rr::{Name, Record, RecordType};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Largest UDP answer asked for (RFC 9715's advice for EDNS buffer sizes).
const UDP_PAYLOAD: u16 = 1232;

/// The EDNS option code of Extended DNS Errors (RFC 8914).
const EDE_OPTION: u16 = 15;

/// What the resolver answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub rcode: ResponseCode,
    /// The resolver validated the answer (or the proof of non-existence) as secure.
    pub authentic: bool,
    pub answers: Vec<Record>,
    /// The Extended DNS Error info code (RFC 8914), when the resolver gave one.
    pub ede: Option<u16>,
}

/// Asks `servers` in turn for `name`/`rtype`, with DO and AD set; the first answer counts. Err:
/// none answered (timeout, network error, malformed answer).
pub async fn ask(
    servers: &[SocketAddr],
    timeout: Duration,
    name: &str,
    rtype: RecordType,
) -> Result<Answer, String> {
    let fqdn = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    let qname = Name::from_ascii(&fqdn).map_err(|e| format!("{name}: {e}"))?;
    let mut last = format!("no DNS server to ask for {name}");
    for server in servers {
        match tokio::time::timeout(timeout, ask_one(*server, &qname, rtype)).await {
            Ok(Ok(a)) => return Ok(a),
            Ok(Err(e)) => last = format!("{rtype} lookup of {name} at {server}: {e}"),
            Err(_) => last = format!("{rtype} lookup of {name} at {server} timed out"),
        }
    }
    Err(last)
}

async fn ask_one(server: SocketAddr, name: &Name, rtype: RecordType) -> Result<Answer, String> {
    let id: u16 = u16::from_be_bytes(rampart_store::random_bytes::<2>());
    let mut q = Message::query();
    q.metadata.id = id;
    q.metadata.recursion_desired = true;
    // RFC 6840 section 5.7: AD in a query asks for AD in the answer.
    q.metadata.authentic_data = true;
    q.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true);
    edns.set_max_payload(UDP_PAYLOAD);
    q.set_edns(edns);
    let wire = q.to_vec().map_err(|e| e.to_string())?;

    let local: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0"
            .parse()
            .map_err(|_| "bad address".to_string())?
    } else {
        "[::1]:0".parse().map_err(|_| "bad address".to_string())?
    };
    let sock = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
    sock.connect(server).await.map_err(|e| e.to_string())?;
    sock.send(&wire).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65535];
    let reply = loop {
        let n = sock.recv(&mut buf).await.map_err(|e| e.to_string())?;
        let Ok(m) = Message::from_vec(&buf[..n]) else {
            continue; // not a DNS message: keep waiting for ours
        };
        if m.metadata.id == id && m.queries.first().map(|x| x.name()) == Some(name) {
            break m;
        }
    };
    let reply = if reply.metadata.truncation {
        ask_tcp(server, &wire, id).await?
    } else {
        reply
    };
    let ede =
        reply
            .edns
            .as_ref()
            .and_then(|e| match e.options().get(EdnsCode::Unknown(EDE_OPTION))? {
                EdnsOption::Unknown(_, data) if data.len() >= 2 => {
                    Some(u16::from_be_bytes([data[0], data[1]]))
                }
                _ => None,
            });
    Ok(Answer {
        ede,
        rcode: reply.metadata.response_code,
        authentic: reply.metadata.authentic_data,
        answers: reply.answers,
    })
}

async fn ask_tcp(server: SocketAddr, wire: &[u8], id: u16) -> Result<Message, String> {
    let mut s = TcpStream::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(wire.len()).map_err(|_| "query too long".to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(wire);
    s.write_all(&framed).await.map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    let m = Message::from_vec(&buf).map_err(|e| e.to_string())?;
    if m.metadata.id != id {
        return Err("answer to another question".into());
    }
    Ok(m)
}
