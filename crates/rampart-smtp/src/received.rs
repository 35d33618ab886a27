//! The lines Rampart adds to a message: Return-Path and Received (RFC 5321 section 4.4).
//! NC-2.1.3: they name this host and the protocol, never the software.

/// `Return-Path: <sender>` with CRLF (RFC 5321 section 4.4), the local part quoted again when
/// it needs quotes.
pub fn return_path(sender: &str) -> String {
    format!("Return-Path: <{}>\r\n", crate::address::path_text(sender))
}

/// Facts for the Received line.
pub struct ReceivedInfo<'a> {
    pub helo: &'a str,
    pub client_ip: std::net::IpAddr,
    pub hostname: &'a str,
    /// `ESMTP`, `ESMTPS`, `SMTP` (RFC 3848).
    pub protocol: &'a str,
    /// e.g. `TLSv1.3 TLS13_AES_256_GCM_SHA384`
    pub tls: Option<&'a str>,
    pub queue_id: &'a str,
    /// Named only when the message has exactly one recipient, so a list's members stay private.
    pub single_recipient: Option<&'a str>,
    pub unix_time: i64,
}

pub fn received(r: &ReceivedInfo<'_>) -> String {
    let helo: String = r
        .helo
        .chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '(' | ')' | ';'))
        .take(255)
        .collect();
    let mut s = format!(
        "Received: from {helo} ([{}])\r\n\tby {}",
        r.client_ip, r.hostname
    );
    if let Some(tls) = r.tls {
        s.push_str(&format!(" ({tls})"));
    }
    s.push_str(&format!(" with {} id {}", r.protocol, r.queue_id));
    if let Some(rcpt) = r.single_recipient {
        s.push_str(&format!("\r\n\tfor <{rcpt}>"));
    }
    s.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(r.unix_time)));
    s
}

pub use rampart_store::rfc5322_date;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_424_038),
            "Mon, 23 Nov 2026 08:53:58 +0000"
        );
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn return_path_keeps_a_quoted_local_part_quoted() {
        assert_eq!(
            return_path("john doe@example.test"),
            "Return-Path: <\"john doe\"@example.test>\r\n"
        );
        assert_eq!(return_path(""), "Return-Path: <>\r\n");
        assert_eq!(
            return_path("a@example.test"),
            "Return-Path: <a@example.test>\r\n"
        );
    }

    #[test]
    fn received_line_names_no_software() {
        let r = received(&ReceivedInfo {
            helo: "client.test (evil)\r\nX: y",
            client_ip: "192.0.2.7".parse().unwrap(),
            hostname: "mx.example.test",
            protocol: "ESMTPS",
            tls: Some("TLSv1.3 TLS13_AES_128_GCM_SHA256"),
            queue_id: "ABC",
            single_recipient: Some("a@example.test"),
            unix_time: 0,
        });
        assert!(r.starts_with(
            "Received: from client.testevilX:y ([192.0.2.7])\r\n\tby mx.example.test (TLSv1.3"
        ));
        assert!(r.ends_with("+0000\r\n"));
        assert_eq!(r.matches("\r\n").count(), 4, "{r}");
    }
}
