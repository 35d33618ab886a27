//! `rampart-jmapload`: JMAP API load over HTTPS for bench/jmap_query.py. Prints one JSON object.

use clap::Parser;
use rampart_loadgen::jmap::{first_page_request, run, Conn, JmapLoad};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "rampart-jmapload",
    about = "JMAP API load over HTTPS (HTTP/1.1, kept alive)"
)]
struct Args {
    /// The https listener, HOST:PORT.
    #[arg(long)]
    server: String,
    /// PEM file with the CA the server's certificate chains to.
    #[arg(long)]
    tls_ca: PathBuf,
    /// Name the server's certificate must carry.
    #[arg(long, default_value = "localhost")]
    tls_name: String,
    /// A bearer token (`rampart user token add`); repeat for several users, used in turn by
    /// the clients (one user may run only maxConcurrentRequests requests at once). The first
    /// token's user must reach the account.
    #[arg(long, required = true)]
    bearer: Vec<String>,
    /// The account to query (default: the first token's primary mail account).
    #[arg(long)]
    account_id: Option<String>,
    /// Connections, each sending one request at a time.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Requests in the timed part, over all clients.
    #[arg(long, default_value_t = 1000)]
    requests: u64,
    /// Requests per client before the timed part.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Seconds one request may take.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// Runtime threads (1 keeps the load generator on one core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rampart-jmapload: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let server = match rampart_loadgen::resolve(&a.server).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rampart-jmapload: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut load = JmapLoad {
            server,
            tls_ca: a.tls_ca,
            tls_name: a.tls_name,
            authorizations: a.bearer.iter().map(|t| format!("Bearer {t}")).collect(),
            clients: a.clients.max(1),
            requests: a.requests,
            warmup: a.warmup,
            body: String::new(),
            timeout: Duration::from_secs(a.timeout_secs.max(1)),
        };
        // The account id from the session resource, unless given.
        let account = match a.account_id.clone() {
            Some(id) => id,
            None => match session_account(&load).await {
                Ok(id) => id,
                Err(e) => {
                    eprintln!("rampart-jmapload: the session: {e}");
                    return ExitCode::FAILURE;
                }
            },
        };
        load.body = first_page_request(&account);
        match run(load).await {
            Ok(r) => {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rampart-jmapload: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn session_account(load: &JmapLoad) -> Result<String, String> {
    let mut c = Conn::open(load).await?;
    let (status, body) = c
        .request("GET", "/jmap/session", &load.authorizations[0], b"")
        .await?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    v["primaryAccounts"]["urn:ietf:params:jmap:mail"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "no primary mail account".into())
}
