//! A hand-written TLS 1.0/1.1 ClientHello (RFC 2246 section 7.4.1.2, RFC 4346) and the reading of
//! the server's answer: which version its ServerHello chose, or its alert.
//!
//! Why by hand: rustls cannot speak TLS 1.0 or 1.1, and `openssl s_client` on Debian refuses them
//! on its own side unless its security level is lowered, which makes the result depend on the
//! auditor's OpenSSL build. The question is only whether the *server* agrees to the old version,
//! and its ServerHello answers it: we never finish the handshake.

/// What the server did with an old-version ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A ServerHello choosing this version (0x0301 = TLS 1.0, 0x0302 = TLS 1.1).
    Chose(u16),
    /// A TLS alert, with its description code (70: protocol_version, 40: handshake_failure).
    Alert(u8),
    /// Something else: not TLS, or a handshake message other than ServerHello.
    Other(String),
}

/// Cipher suites such a client offers: ECDHE and plain RSA key exchange with AES-CBC and 3DES,
/// so that a server which would speak the version finds something in common.
const SUITES: &[u16] = &[
    0xc014, 0xc013, 0xc00a, 0xc009, 0x0039, 0x0033, 0x0035, 0x002f, 0x000a,
];

fn push_u16(v: &mut Vec<u8>, n: usize) {
    v.extend_from_slice(&(n as u16).to_be_bytes());
}

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    push_u16(out, body.len());
    out.extend_from_slice(body);
}

/// The ClientHello record for `version`, naming `sni` (a DNS name) when given. `random` is the
/// client random; it need not be secret, as no key is ever derived.
pub(crate) fn client_hello(version: u16, sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let mut list = vec![0u8]; // host_name
        push_u16(&mut list, name.len());
        list.extend_from_slice(name.as_bytes());
        let mut body = Vec::new();
        push_u16(&mut body, list.len());
        body.extend_from_slice(&list);
        extension(&mut ext, 0x0000, &body);
    }
    // supported_groups: x25519, secp256r1, secp384r1 (RFC 8422).
    extension(&mut ext, 0x000a, &[0, 6, 0, 0x1d, 0, 0x17, 0, 0x18]);
    // ec_point_formats: uncompressed.
    extension(&mut ext, 0x000b, &[1, 0]);
    // renegotiation_info, empty (RFC 5746).
    extension(&mut ext, 0xff01, &[0]);

    let mut hello = Vec::new();
    hello.extend_from_slice(&version.to_be_bytes());
    hello.extend_from_slice(&random);
    hello.push(0); // no session id
    push_u16(&mut hello, SUITES.len() * 2);
    for s in SUITES {
        hello.extend_from_slice(&s.to_be_bytes());
    }
    hello.extend_from_slice(&[1, 0]); // compression: null only
    push_u16(&mut hello, ext.len());
    hello.extend_from_slice(&ext);

    let mut hs = vec![1u8]; // client_hello
    hs.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&hello);

    let mut record = vec![0x16, 0x03, 0x01];
    push_u16(&mut record, hs.len());
    record.extend_from_slice(&hs);
    record
}

/// Reads the answer from the first record's header and body.
pub(crate) fn answer(header: &[u8; 5], body: &[u8]) -> Answer {
    match header[0] {
        0x15 if body.len() >= 2 => Answer::Alert(body[1]),
        0x16 if body.len() >= 6 && body[0] == 2 => {
            Answer::Chose(u16::from_be_bytes([body[4], body[5]]))
        }
        0x16 => Answer::Other(format!(
            "handshake message type {}",
            body.first().copied().unwrap_or(0)
        )),
        t => Answer::Other(format!("record type {t}")),
    }
}

/// A client random that differs per hello, from the clock (no key is derived from it).
pub(crate) fn random() -> [u8; 32] {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9_7f4a_7c15)
        | 1;
    let mut r = [0u8; 32];
    for chunk in r.chunks_mut(8) {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_be_bytes());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn al_1_1_the_client_hello_is_well_formed() {
        let r = client_hello(0x0301, Some("mx.example"), [7; 32]);
        assert_eq!(&r[..3], &[0x16, 0x03, 0x01]);
        let rec_len = u16::from_be_bytes([r[3], r[4]]) as usize;
        assert_eq!(rec_len, r.len() - 5);
        assert_eq!(r[5], 1);
        let hs_len = u32::from_be_bytes([0, r[6], r[7], r[8]]) as usize;
        assert_eq!(hs_len, rec_len - 4);
        assert_eq!(&r[9..11], &[0x03, 0x01], "client_version");
        // Extensions' length matches what follows them.
        let body = &r[9..];
        let mut i = 2 + 32 + 1;
        let suites = u16::from_be_bytes([body[i], body[i + 1]]) as usize;
        i += 2 + suites + 2;
        let ext_len = u16::from_be_bytes([body[i], body[i + 1]]) as usize;
        assert_eq!(i + 2 + ext_len, body.len());
        assert!(r.windows(10).any(|w| w == b"mx.example"));
    }

    #[test]
    fn al_1_1_server_answers_are_read() {
        let hdr = [0x16, 3, 1, 0, 42];
        assert_eq!(answer(&hdr, &[2, 0, 0, 38, 3, 1]), Answer::Chose(0x0301));
        assert_eq!(answer(&[0x15, 3, 1, 0, 2], &[2, 70]), Answer::Alert(70));
        assert!(matches!(
            answer(&[0x17, 3, 3, 0, 1], &[0]),
            Answer::Other(_)
        ));
    }
}
