//! EmailSubmission's sending, over the SMTP submission pipeline: [`rampart_smtp::submit::submit`]
//! runs a submission session authenticated as the user, so JMAP mail meets sender alignment
//! (NC-2.1.7), rate limits (NC-2.1.8), the content checks (DLP AL-1.5, antivirus), the AL-4.2
//! forwarding rule, the durable commit and the trace exactly as SMTP mail does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use rampart_jmap::Origin;
use rampart_jmap_mail::submission::{Refused, RefusedAt, Submitter};
use rampart_smtp::submit::{is_header_sender_refusal, submit, Stage};
use rampart_smtp::Server;

/// The server's [`Submitter`]. It takes the SMTP listeners' current context at each
/// submission, so a reload's checks, limits and rate limits apply to JMAP mail as to SMTP mail.
pub struct Pipeline {
    pub server: Arc<Server>,
}

#[async_trait]
impl Submitter for Pipeline {
    async fn submit(
        &self,
        origin: &Origin,
        user: &str,
        mail_from: &str,
        rcpt_to: &[String],
        message: Vec<u8>,
    ) -> Result<String, Refused> {
        // The HTTPS client's address is the submission's client (trace, rate limits, Received);
        // the port is not known here.
        let ip = origin.ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let peer = SocketAddr::new(ip, 0);
        let ctx = self.server.context();
        match submit(&ctx, peer, user, mail_from, rcpt_to, &message).await {
            Ok(id) => {
                // Delivery starts at once, as after an SMTP submission.
                ctx.queue_notify.notify_one();
                Ok(id.0)
            }
            Err(r) => {
                let header_sender = is_header_sender_refusal(&r);
                let at = match r.stage {
                    Stage::Sender => RefusedAt::Sender,
                    Stage::Recipients(list) => RefusedAt::Recipients(list),
                    Stage::Message => RefusedAt::Message { header_sender },
                };
                Err(Refused {
                    at,
                    code: r.code,
                    enhanced: r.enhanced,
                    text: r.text,
                })
            }
        }
    }
}
