//! `rampart-loadgen`: the command line of the load generator. The JSON report goes to stdout,
//! a summary to stderr. Exit status 0 when the run completed (failures are in the report), 1 when
//! it could not start, 2 for bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rampart_loadgen::{Config, DEFAULT_EHLO, DEFAULT_TLS_NAME};

/// SMTP load generator: parallel sessions, STARTTLS, latency per message.
#[derive(Debug, Parser)]
#[command(name = "rampart-loadgen", version)]
struct Args {
    /// Server to send to, HOST:PORT.
    #[arg(long)]
    server: String,
    /// Sessions in parallel.
    #[arg(long, default_value_t = rampart_loadgen::DEFAULT_SESSIONS)]
    sessions: usize,
    /// Messages in total (the timed part), over all sessions.
    #[arg(long, default_value_t = rampart_loadgen::DEFAULT_MESSAGES)]
    messages: u64,
    /// Body bytes per message, before dot-stuffing; headers come on top.
    #[arg(long, default_value_t = rampart_loadgen::DEFAULT_SIZE)]
    size: usize,
    /// Messages per connection (1: connect, EHLO, MAIL, RCPT, DATA, QUIT for each message).
    #[arg(long, default_value_t = 1)]
    per_connection: u32,
    /// Envelope sender and From address.
    #[arg(long)]
    from: String,
    /// Recipient; repeat for several.
    #[arg(long, required = true)]
    to: Vec<String>,
    /// Name given in EHLO.
    #[arg(long, default_value = DEFAULT_EHLO)]
    ehlo: String,
    /// STARTTLS after EHLO on every connection (fails where the server does not offer it).
    #[arg(long)]
    starttls: bool,
    /// PEM file with the CA certificate(s) the server's certificate must chain to.
    #[arg(long, value_name = "PEM")]
    tls_ca: Option<PathBuf>,
    /// Name the server's certificate must carry.
    #[arg(long, default_value = DEFAULT_TLS_NAME)]
    tls_name: String,
    /// Full TLS handshakes only: do not resume earlier sessions.
    #[arg(long)]
    tls_no_resume: bool,
    /// Pipeline MAIL, RCPT and DATA where the server offers PIPELINING.
    #[arg(long)]
    pipelining: bool,
    /// Seconds any connect, handshake, write or reply may take.
    #[arg(long, default_value_t = rampart_loadgen::DEFAULT_TIMEOUT_SECS)]
    timeout_secs: u64,
    /// Messages per session sent before the timed part, not counted.
    #[arg(long, default_value_t = 0)]
    warmup: u32,
    /// Runtime threads. 1 (the default) keeps the load generator on one core, leaving the other
    /// to the server on a small machine.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = Config {
        server: args.server,
        sessions: args.sessions,
        messages: args.messages,
        size: args.size,
        per_connection: args.per_connection,
        from: args.from,
        to: args.to,
        ehlo: args.ehlo,
        starttls: args.starttls,
        tls_ca: args.tls_ca,
        tls_name: args.tls_name,
        tls_resume: !args.tls_no_resume,
        pipelining: args.pipelining,
        timeout: Duration::from_secs(args.timeout_secs),
        warmup: args.warmup,
    };
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rampart-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(rampart_loadgen::run(cfg)) {
        Ok(report) => {
            eprint!("{}", report.human());
            println!("{}", report.to_json());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rampart-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
