//! The server's log as an operator's collector receives it: written to a pipe (or a file), it
//! carries no terminal colour codes.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `rampart serve` with its log on a pipe writes plain text: no ANSI escape sequence (`ESC [`)
/// in any line, while the lines themselves (level, message, fields) are all there.
#[test]
fn log_on_a_pipe_has_no_colour_codes() {
    let dir = TempDir::new("log-pipe");
    make_pki(&dir.0);
    let config = dir.0.join("rampart.toml");
    std::fs::write(
        &config,
        "hostname = \"mail.example.test\"\ndata_dir = \"data\"\n\
         [log]\nformat = \"text\"\nlevel = \"info\"\n\
         [tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
         [[listener]]\nrole = \"mx\"\naddress = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rampart serve");
    // The log is read to its end on its own thread, so a full pipe can never stall the server.
    let mut err = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = Vec::new();
        err.read_to_end(&mut s).map(|_| s)
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("listening on ") {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "server exited before listening");
    }
    // SIGTERM: the shutdown adds its own lines to the log, and the process ends, closing the pipe.
    signal(child.id(), 15);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server still running 15 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let log = log.join().unwrap().expect("read the log");
    let text = String::from_utf8_lossy(&log);
    assert!(
        text.lines()
            .any(|l| l.contains("INFO") && l.contains("listening")),
        "the log has its lines: {text}"
    );
    assert!(
        !log.windows(2).any(|w| w == b"\x1b["),
        "colour codes in a log written to a pipe: {text:?}"
    );
}
