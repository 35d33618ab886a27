//! Command dispatch: a line is parsed and handed to its verb; parse errors get exact replies.

use super::{Flow, Session};
use crate::address::{check_forward_path, check_helo, raw_path};
use crate::reply::{self, EnhancedStatus, Reply};
use smtp_proto::Request;
use tokio::io::{AsyncRead, AsyncWrite};

impl Session {
    pub(super) async fn command<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        line: &[u8],
        io: &mut S,
    ) -> std::io::Result<Flow> {
        let verb: String = line
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .map(|b| b.to_ascii_uppercase() as char)
            .collect();
        // NC-2.2: TURN (not known to the parser) gives no information, like VRFY, EXPN and ETRN.
        if verb == "TURN" {
            self.trace("refused", "TURN", None).await;
            return Ok(self.error(reply::not_implemented()));
        }
        if verb == "EHLO" || verb == "HELO" {
            if let Err(r) = check_helo(line) {
                return Ok(self.helo_refused(&verb, line, r).await);
            }
        }
        let mut with_lf = line.to_vec();
        with_lf.push(b'\n');
        let parsed = Request::parse(&mut with_lf.iter());
        let req = match parsed {
            Ok(r) => r,
            Err(e) => return Ok(self.parse_error(&verb, e, line).await),
        };
        match req {
            Request::Ehlo { host } => Ok(self.ehlo(host.to_string(), true).await),
            Request::Helo { host } => Ok(self.ehlo(host.to_string(), false).await),
            Request::Lhlo { .. } => Ok(self.error(reply::unknown_command())),
            Request::Mail { from } => Ok(self.mail(from, line).await),
            Request::Rcpt { to } => Ok(self.rcpt(to, line).await),
            Request::Data => self.data(io).await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(io, chunk_size, is_last).await,
            Request::Rset => {
                self.discard_transaction();
                self.respond(reply::ok());
                Ok(Flow::Continue)
            }
            Request::Noop { .. } => {
                self.respond(reply::ok());
                Ok(Flow::Continue)
            }
            Request::Quit => {
                self.respond(reply::bye());
                Ok(Flow::Close)
            }
            Request::Help { .. } => {
                self.respond(Reply::new(214, EnhancedStatus::OTHER, "See RFC 5321"));
                Ok(Flow::Continue)
            }
            // NC-2.2: no information about accounts, no queue runs, no role reversal.
            Request::Vrfy { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. } => {
                self.trace("refused", verb, None).await;
                Ok(self.error(reply::not_implemented()))
            }
            Request::Burl { .. } => Ok(self.error(reply::not_implemented())),
            Request::Auth {
                mechanism,
                initial_response,
            } => {
                self.authenticate(io, mechanism, initial_response.to_string())
                    .await
            }
            Request::StartTls => Ok(self.starttls()),
        }
    }

    pub(super) async fn parse_error(
        &mut self,
        verb: &str,
        e: smtp_proto::Error,
        line: &[u8],
    ) -> Flow {
        use smtp_proto::Error as E;
        let mail_or_rcpt = verb == "RCPT" || verb == "MAIL";
        let r = match e {
            // RFC 6531 section 3.3: bytes that are not UTF-8 get the same answer however the
            // parser failed on them (it read them as U+FFFD).
            _ if mail_or_rcpt && std::str::from_utf8(line).is_err() => {
                let smtputf8 = if verb == "RCPT" {
                    self.tx.as_ref().is_some_and(|t| t.smtputf8)
                } else {
                    line.windows(9)
                        .any(|w| w.eq_ignore_ascii_case(b" SMTPUTF8"))
                };
                if smtputf8 {
                    reply::not_utf8()
                } else {
                    reply::needs_smtputf8()
                }
            }
            E::UnknownCommand => reply::unknown_command(),
            E::InvalidSenderAddress => Reply::new(
                501,
                EnhancedStatus::BAD_SENDER_SYNTAX,
                "Bad sender address syntax",
            ),
            E::InvalidRecipientAddress => {
                // A forward path the parser refuses may still be a relay trick: say so.
                let raw = String::from_utf8_lossy(line);
                match raw_path(&raw).map(check_forward_path) {
                    Some(Err(r)) => r,
                    _ => Reply::new(
                        501,
                        EnhancedStatus::BAD_RECIPIENT_SYNTAX,
                        "Bad recipient address syntax",
                    ),
                }
            }
            E::SyntaxError { syntax } => reply::syntax(syntax),
            E::InvalidParameter { param } => Reply::new(
                501,
                EnhancedStatus::INVALID_ARGUMENTS,
                format!("Invalid value for {param}"),
            ),
            E::UnsupportedParameter { param } => Reply::new(
                555,
                EnhancedStatus::INVALID_ARGUMENTS,
                format!(
                    "Unsupported parameter {}",
                    param.chars().take(40).collect::<String>()
                ),
            ),
            _ => reply::unknown_command(),
        };
        if mail_or_rcpt {
            self.trace(&verb.to_ascii_lowercase(), r.line(), None).await;
        }
        self.error(r)
    }

    /// An EHLO or HELO whose argument is not a host name: refused, what was known kept.
    pub(super) async fn helo_refused(&mut self, verb: &str, line: &[u8], r: Reply) -> Flow {
        // Escaped and cut short: the trace holds text, not the client's bytes.
        let arg: String = line
            .get(verb.len()..)
            .unwrap_or_default()
            .trim_ascii()
            .escape_ascii()
            .take(200)
            .map(char::from)
            .collect();
        self.trace("ehlo", format!("{verb} {arg} refused: {}", r.line()), None)
            .await;
        self.error(r)
    }
}
