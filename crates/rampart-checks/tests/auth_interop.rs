//! Interoperability (AL-2.2): a message signed by an independent DKIM implementation, dkimpy,
//! verifies in Rampart; the same message with its body changed fails. Requires
//! `pip install dkimpy`; without it the test fails (it does not skip).

mod auth_support;

use std::process::Command;

use auth_support::*;
use rampart_checks::auth::{DkimResult, DmarcResult};
use rampart_checks::Action;
use rampart_testdns::TestDns;

const SIGN: &str = r#"
import sys
try:
    import dkim
except ImportError:
    sys.stderr.write("python module dkim missing: run `pip install dkimpy`\n")
    sys.exit(3)
message = open(sys.argv[1], "rb").read()
key = open(sys.argv[2], "rb").read()
sig = dkim.sign(message, b"py", b"example.com", key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
sys.stdout.buffer.write(sig)
"#;

fn dkimpy_sign(raw: &str) -> String {
    let dir = TempDir::new("dkimpy");
    let msg = dir.path("message.eml");
    std::fs::write(&msg, raw).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(SIGN)
        .arg(&msg)
        .arg(rsa_key().path())
        .output()
        .expect("python3 must be installed to run the dkimpy interoperability test");
    assert!(
        out.status.code() != Some(3),
        "dkimpy is not installed: run `pip install dkimpy` (the interoperability test needs it)"
    );
    assert!(
        out.status.success(),
        "dkimpy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header = String::from_utf8(out.stdout).unwrap();
    assert!(header.starts_with("DKIM-Signature:"), "{header}");
    header + raw
}

#[tokio::test]
async fn dkimpy_signature_verifies_and_body_change_fails() {
    let dns = TestDns::builder()
        .txt("py._domainkey.example.com", rsa_key().dns_record())
        .txt("_dmarc.example.com", "v=DMARC1; p=reject")
        .start();
    let auth = authenticator(&config(&dns));
    let env = Envelope::from("bounce@unrelated.test");

    let signed = dkimpy_sign(&message("alice@example.com", "interop"));
    let o = check(&auth, &signed, &env).await;
    assert_eq!(o.dkim.len(), 1);
    assert_eq!(o.dkim[0].result, DkimResult::Pass, "{:?}\n{signed}", o.dkim);
    assert_eq!(o.dmarc.result(), DmarcResult::Pass);
    assert_eq!(o.verdict.action, Action::Accept, "{}", o.verdict.reason);

    let changed = signed.replace("the body of the message", "the body of another message");
    let o = check(&auth, &changed, &env).await;
    assert!(
        matches!(o.dkim[0].result, DkimResult::Fail(_)),
        "{:?}",
        o.dkim
    );
    assert!(
        matches!(o.verdict.action, Action::Reject(_)),
        "{}",
        o.verdict.reason
    );
}
