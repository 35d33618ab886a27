//! `rampart-testdns`: the test DNS server as a process, for scripts that start Rampart and must
//! not depend on the machine's resolver (the stress suites under `bench/`).
//!
//! It serves the records of `--records FILE` (format: `rampart_testdns::records_file`) and
//! answers NXDOMAIN for every other name, prints `listening on ADDR` once it serves, and runs
//! until SIGTERM, SIGINT or the end of its standard input. The last one means a parent that
//! holds the write end of a pipe cannot leave it running by dying.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rampart_testdns::{records_file, Record, TestDns};
use tokio::signal::unix::{signal, SignalKind};

const USAGE: &str = "\
usage: rampart-testdns [--listen ADDR] [--records FILE]

  --listen ADDR   address to serve on, UDP and TCP (default 127.0.0.1:0, a free port)
  --records FILE  records, one per line: `name TXT \"v=spf1 -all\"`, `name A 192.0.2.1`,
                  `name AAAA ::1`, `name MX 10 host`, `name NULLMX`, `name CNAME target`,
                  `192.0.2.1 PTR host`; `#` starts a comment. Without it, every name is NXDOMAIN.

Prints `listening on ADDR` on stdout once serving. Stops on SIGTERM, SIGINT or end of stdin
(keep stdin open, e.g. a pipe from the parent; `</dev/null` stops it at once).";

/// The command line.
struct Args {
    listen: SocketAddr,
    records: Option<PathBuf>,
}

/// What the command line asks for.
enum Command {
    Serve(Args),
    Help,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        records: None,
    };
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                parsed.listen = v
                    .parse()
                    .map_err(|_| format!("--listen: `{v}` is not an address:port"))?;
            }
            "--records" => parsed.records = Some(PathBuf::from(value("--records")?)),
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Command::Serve(parsed))
}

/// Reads and parses the records file; the error is one line naming the file (and line).
fn load_records(path: &Path) -> Result<Vec<Record>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    records_file::parse(&text).map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.message))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("rampart-testdns: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let records = match args.records.as_deref().map(load_records).transpose() {
        Ok(records) => records.unwrap_or_default(),
        Err(e) => {
            eprintln!("rampart-testdns: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(args.listen, records) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rampart-testdns: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(listen: SocketAddr, records: Vec<Record>) -> Result<(), String> {
    let count = records.len();
    let dns = TestDns::builder().listen(listen).records(records).start();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    // The handlers are in place before the line below: a SIGTERM sent as soon as the parent
    // reads it is a clean stop, not the default action.
    let (mut term, mut int) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            ))
        })
        .map_err(|e| format!("installing signal handlers: {e}"))?;
    // A blocking read cannot be cancelled, so it runs on its own thread (which simply ends with
    // the process) rather than on tokio's blocking pool, whose shutdown would wait for it.
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = eof_tx.send(());
        })
        .map_err(|e| format!("starting the stdin thread: {e}"))?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", dns.addr())
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing to stdout: {e}"))?;
    drop(out);

    let why = rt.block_on(async {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = eof_rx => "end of stdin",
        }
    });
    eprintln!(
        "rampart-testdns: stopping on {why}: {} queries received, {count} records served",
        dns.queries()
    );
    drop(dns);
    Ok(())
}
