//! `rampart serve`: open the store, bind the listeners, drop privileges, run until SIGTERM.

use rampart_config::{Config, LogFormat, Role};
use rampart_queue::QueueManager;
use rampart_smtp::{Server, ServerContext};
use rampart_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

pub type Error = Box<dyn std::error::Error>;

pub fn run(config: Config, config_path: Option<&std::path::Path>, demo: bool) -> Result<(), Error> {
    // Issue 19: the metrics are fed by the trace's log lines, so they exist before logging.
    let metrics = Arc::new(crate::metrics::Metrics::new());
    // Held until the end of `run`: dropping it writes out what the log thread still holds.
    let (_log_guard, log_dropped) = init_logging(&config, metrics.clone());
    // NC-2.1.1: no [[listener]], no service; nothing opens a socket on its own.
    if config.listeners.is_empty() {
        return Err("nothing to serve: the configuration has no [[listener]]; add one (see rampart.example.toml)".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let config_path = config_path.map(|p| std::path::absolute(p).unwrap_or(p.to_path_buf()));
    runtime.block_on(async {
        tokio::spawn(report_dropped_log_lines(log_dropped, metrics.clone()));
        serve(config, config_path, demo, metrics).await
    })
}

/// Log lines held for a reader that has fallen behind, at most (a few MiB). Past this, new lines
/// are dropped and counted rather than make the server wait.
const LOG_BUFFER_LINES: usize = 16_384;
/// How often dropped log lines are looked for and reported.
const LOG_DROPS_EVERY: Duration = Duration::from_secs(10);

/// The log goes to standard error through a thread of its own. Log lines are written where
/// decisions are made, the store's writer thread among them (each trace event is logged with
/// its row), so a log reader that stops reading (a stalled journald, a full pipe) must not make
/// that thread wait: every commit, and every 250 after DATA, would wait with it. The thread
/// writes lines in batches; when [`LOG_BUFFER_LINES`] are waiting, further lines are dropped
/// and counted ([`report_dropped_log_lines`]). The trace in the store keeps every event
/// (AL-3.1); the log is its copy for collectors (docs/LOGGING.md).
fn init_logging(
    config: &Config,
    metrics: Arc<crate::metrics::Metrics>,
) -> (
    tracing_appender::non_blocking::WorkerGuard,
    tracing_appender::non_blocking::ErrorCounter,
) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: a log file or a pipe to a collector gets
    // plain text, not `\x1b[` sequences mixed into every line.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .thread_name("rampart-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let dropped = writer.error_counter();
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer);
    let log = match config.log.format {
        LogFormat::Json => fmt.json().boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    // Each layer has its own filter: the log level does not hide the trace lines the metrics
    // count.
    let _ = tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .with(
            crate::metrics::MetricsLayer(metrics)
                .with_filter(crate::metrics::MetricsLayer::filter()),
        )
        .try_init();
    (guard, dropped)
}

/// Reports log lines dropped because the log's reader fell behind: a warning in the log (once
/// it is read again) and the `rampart_log_lines_dropped_total` metric.
async fn report_dropped_log_lines(
    dropped: tracing_appender::non_blocking::ErrorCounter,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let mut reported = 0;
    let mut tick = tokio::time::interval(LOG_DROPS_EVERY);
    loop {
        tick.tick().await;
        report_drops(&dropped, &mut reported, &metrics);
    }
}

/// One look at the drop count: the lines dropped since `reported`, counted and logged.
fn report_drops(
    dropped: &tracing_appender::non_blocking::ErrorCounter,
    reported: &mut usize,
    metrics: &crate::metrics::Metrics,
) -> usize {
    let now = dropped.dropped_lines();
    let n = now.saturating_sub(*reported);
    if n > 0 {
        *reported = now;
        metrics.log_lines_dropped(n);
        tracing::warn!(
            lines = n,
            "log lines were dropped because the log's reader fell behind; the trace in the \
             store keeps every event (rampart trace)"
        );
    }
    n
}

async fn serve(
    config: Config,
    config_path: Option<std::path::PathBuf>,
    demo: bool,
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<(), Error> {
    // Signals are caught from the start: a SIGTERM that arrives while starting up still means a
    // clean stop, never the default of dying on the spot.
    let signals = Signals::install()?;
    let systemd = crate::notify::Notifier::from_env();
    // A run_as that cannot work is refused before anything is touched.
    let run_as = match &config.run_as {
        Some(user) => Some(crate::privileges::check(user)?),
        None => None,
    };
    // `[store] backend`: the data directory's SQLite, or the shared PostgreSQL database
    // (serve_store.rs says what differs).
    let opened = crate::serve_store::Opened::open(&config).await?;
    if let Some(store) = opened.sqlite() {
        let orphans = store.remove_orphans()?;
        if orphans > 0 {
            tracing::info!(
                files = orphans,
                "removed message files that were never acknowledged"
            );
        }
        if demo {
            seed_demo(store)?;
        }
    }
    // The generated certificate is made or renewed here if due; a configured one is warned about
    // when near its end.
    let tls = Arc::new(rampart_smtp::tls::ServerTls::load(&config)?);

    let mut bound = Vec::new();
    for l in &config.listeners {
        let socket = bind(l.address).map_err(|e| {
            format!(
                "cannot listen on {} ({}): {e}; is another server using it?",
                l.address, l.role
            )
        })?;
        bound.push((socket, l.clone()));
    }
    // NC-2.2: the first integrity check runs before privileges are dropped, so that files only
    // root may read (keys) are hashed; later checks compare those by their metadata.
    let integrity_first = config
        .integrity
        .enabled
        .then(|| crate::integrity::watch::first(&config, config_path.as_deref()));
    if let Some(target) = run_as {
        crate::privileges::drop_to(&target, &config.data_dir)?;
        tracing::info!(user = %target.name, "switched user after binding");
    } else if crate::privileges::is_root() {
        tracing::warn!(
            "running as root; set run_as in the configuration to drop privileges after binding"
        );
    }

    // From here on the server sees the store only through its traits, but for the few parts
    // that need the concrete store (serve_store::Running::sqlite and console_store).
    let running = opened.start()?;
    let backend = running.backend.clone();
    if running.sqlite().is_none() {
        // The node's own spool: large messages that arrived but were never acknowledged.
        let orphans = backend.remove_orphans().await?;
        if orphans > 0 {
            tracing::info!(
                files = orphans,
                "removed spooled messages that were never acknowledged"
            );
        }
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let renewal = tokio::spawn(rampart_smtp::tls::renew_daily(
        tls.clone(),
        shutdown_rx.clone(),
    ));
    let notify = Arc::new(Notify::new());
    let config = Arc::new(config);
    let mut ctx = ServerContext::new(
        config.clone(),
        backend.clone(),
        Some(tokio_rustls::TlsAcceptor::from(tls.config())),
        notify.clone(),
        shutdown_rx.clone(),
    );
    // AL-1, NC-2.1.6: the recipient verifiers of the relay domains.
    ctx.verifiers = rampart_smtp::verify::Verifiers::from_config(
        &config.relay_domains,
        config.hostname.get_ref(),
    )?;
    // NC-2.3.4: listeners that verify client certificates; one TLS configuration per CA file.
    for ca in config
        .listeners
        .iter()
        .filter_map(|l| l.client_ca_file.as_ref())
    {
        if !ctx.client_auth_tls.contains_key(ca) {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.with_client_ca(ca)?);
            ctx.client_auth_tls.insert(ca.clone(), acceptor);
        }
    }
    // AL-1: a relay domain's mailboxes are elsewhere; one that is also a local domain here
    // would be delivered two ways.
    let local_domains = backend.domains().await.map_err(|e| {
        format!("the local domains could not be read to check [[relay_domain]] against them: {e}")
    })?;
    for d in config.relay_domains.iter().flat_map(|r| r.domains.iter()) {
        if local_domains.iter().any(|l| l.eq_ignore_ascii_case(d)) {
            return Err(format!(
                "relay_domain {d} is also a local domain of this server; remove it from [[relay_domain]] (see `rampart domain list`)"
            )
            .into());
        }
    }
    // The same builder runs again on SIGHUP (reload.rs), with the configuration read then.
    let build_pipeline: crate::reload::BuildPipeline = {
        let backend = backend.clone();
        Box::new(move |config: &Config| {
            Ok(Arc::new(
                rampart_checks::pipeline::Pipeline::new(
                    config.checks.clone(),
                    config.hostname.get_ref(),
                    &config.dns.servers,
                    config.dns.timeout_secs,
                )?
                // AL-1.2: the spam classifier reads what users and `rampart spam train` taught it.
                .with_token_source(Arc::new(crate::spam_cmd::StoreTokens(backend.clone()))),
            ))
        })
    };
    let pipeline = build_pipeline(&config)?;
    ctx.pipeline = Some(pipeline.clone());
    // Nothing to check again at delivery: local mailboxes get the message in the commit that
    // queues it, one commit (and fsync) instead of two. Not on PostgreSQL: there a delivery
    // holds its account's lock until its commit, so one account's messages would commit one by
    // one at the 250; queued alone, sessions' commits share the database's WAL flushes, and the
    // queue manager delivers a whole batch in one transaction (docs/SCALING.md).
    ctx.deliver_local_now = !pipeline.rechecks_urls()
        && config.store.backend != rampart_config::StoreBackend::Postgresql;
    if !config.checks.disabled.is_empty() {
        let names: Vec<String> = config
            .checks
            .disabled
            .iter()
            .map(|c| format!("{c:?}").to_lowercase())
            .collect();
        println!("checks switched off: {}", names.join(", "));
        tracing::warn!(checks = %names.join(","), "checks switched off by configuration");
    }
    // NC-2.4.1: on a shared store the nodes judge thresholds on one count (a brute force spread
    // over several nodes is caught as one).
    // NC-2.1.8: and the rate limits of messages and recipients on one count in the store.
    if running.sqlite().is_none() {
        ctx.ids.count_in_store();
        ctx.shared_counts = true;
    }
    // NC-2.4.2: the stored bans are in force before the first accept.
    ctx.ids.refresh(true).await?;
    let ids = ctx.ids.clone();
    let ids_task = tokio::spawn(ids.clone().run(shutdown_rx.clone()));
    let ctx = Arc::new(ctx);
    // The SMTP listeners' server: a reload puts a new context in it, and the JMAP submission and
    // the sendmail pickup take theirs from it at each message, so they follow reloads too.
    let server = Arc::new(Server::new(ctx.clone()));
    // JMAP (AL-4.1: mail is read over HTTPS, never IMAP or POP3) on every HTTPS listener.
    let web = config
        .listeners
        .iter()
        .any(|l| l.role == Role::Https)
        .then(|| {
            // The webmail (AL-4.1) at `/`, a client of the same JMAP backend.
            let jmap = crate::jmap::JmapBackend::new(ctx.clone(), server.clone());
            rampart_http::routes::base()
                .merge(jmap.router())
                .merge(crate::webmail::router(jmap))
                // AL-1.1: our MTA-STS policy for the represented domains (RFC 8461 section 3).
                .merge(crate::mta_sts::router(backend.clone(), config.clone()))
        });
    // The administration console on the admin listeners only, never beside the webmail.
    // On PostgreSQL the administrators, their sessions and the gauges are the shared
    // database's, so any node's console serves any administrator (issue 20).
    let console = config
        .listeners
        .iter()
        .any(|l| l.role == Role::Admin)
        .then(|| running.console_store())
        .map(|local| {
            crate::console::router(Arc::new(crate::console::Console {
                store: backend.clone(),
                local,
                config: config.clone(),
                notify: notify.clone(),
                ids: ids.clone(),
                config_path: config_path.clone(),
            }))
            // Prometheus metrics (issue 19) beside the console: the admin listener is on
            // loopback unless allow_remote names the networks that may reach it.
            .merge(crate::metrics::router(
                metrics.clone(),
                backend.clone(),
                config.data_dir.clone(),
            ))
        });
    // NC-2.1.9: what `rampart sendmail` left in the drop directory goes through the pipeline.
    // The directory is made before the listeners are announced, so it exists once the server
    // says it is up; a failure is reported by the pickup itself.
    let _ = crate::sendmail::pickup::prepare(&config.sendmail.drop_dir(&config.data_dir));
    let pickup = tokio::spawn(crate::sendmail::pickup::run(
        server.clone(),
        shutdown_rx.clone(),
    ));
    let guard_ctx = ctx;
    let mut accept_tasks = Vec::new();
    let mut https_tasks = Vec::new();
    // Bound before the listeners are announced, so whoever waits for them finds the socket; it
    // answers once their addresses are known (connections wait in the backlog until then).
    let admin_listener = crate::admin_socket::bind(&config.data_dir).map_err(|e| {
        format!(
            "cannot create the admin socket {}: {e}",
            crate::admin_socket::path(&config.data_dir).display()
        )
    })?;
    let mut listening = Vec::new();
    for (socket, l) in bound {
        let local = socket.local_addr()?;
        listening.push(serde_json::json!({ "role": l.role.to_string(), "address": local }));
        println!("listening on {local} ({})", l.role);
        tracing::info!(address = %local, role = %l.role, "listening");
        if l.role == Role::Https {
            // The same certificate as the SMTP listeners (renewed for both); the web routes
            // are merged into the base Router as they are built.
            https_tasks.push(tokio::spawn(rampart_http::serve_watched(
                socket,
                tls.config(),
                web.clone().unwrap_or_else(rampart_http::routes::base),
                http_limits(&config),
                // NC-2.4.1, NC-2.4.2: bans refused at accept; scans and TLS failures counted.
                Arc::new(rampart_ids::Shared(ids.clone())),
                shutdown_rx.clone(),
            )));
            continue;
        }
        if l.role == Role::Admin {
            https_tasks.push(tokio::spawn(rampart_http::serve_watched(
                socket,
                tls.config(),
                console.clone().unwrap_or_else(rampart_http::routes::base),
                http_limits(&config),
                // Outside loopback and `allow`: closed at accept, as a banned address is.
                Arc::new(crate::console::Gate {
                    listener: l.clone(),
                    ids: rampart_ids::Shared(ids.clone()),
                }),
                shutdown_rx.clone(),
            )));
            continue;
        }
        let s = server.clone();
        accept_tasks.push(tokio::spawn(async move { s.serve(socket, l).await }));
    }
    let data_dir =
        std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    println!("data directory: {}", data_dir.display());
    // What `rampart audit` asks the running server (mode 0600, the service's user only).
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let integrity_last = integrity_first
        .as_ref()
        .map(|_| crate::integrity::watch::LastCheck::default());
    let sources = Arc::new(crate::admin_status::Sources {
        started_at,
        listening,
        config: config.clone(),
        store: match running.sqlite() {
            Some((store, _)) => crate::admin_status::StatusStore::Embedded(store.clone()),
            None => crate::admin_status::StatusStore::Shared(backend.clone()),
        },
        integrity: integrity_last.clone(),
    });
    let status: crate::admin_socket::Status = Arc::new(move || {
        let s = sources.clone();
        Box::pin(s.status())
    });
    // NC-2.4.2: on a shared store `rampart ban remove` on any host lifts this node's AUTH blocks
    // too (they live in memory here; the command logs an event every node reads).
    let unblocks = running.sqlite().is_none().then(|| {
        tokio::spawn(crate::unblock_watch::run(
            backend.clone(),
            guard_ctx.auth_guard.clone(),
            shutdown_rx.clone(),
        ))
    });
    // `rampart ban remove`: the AUTH guard's blocks live in this process only.
    let unblock: crate::admin_socket::Unblock = Arc::new(move |network: &str| {
        match rampart_ids::net::parse_network(network) {
            Ok(net) => {
                let n = guard_ctx.auth_guard.unblock(&net);
                tracing::warn!(network = %net, addresses = n, "AUTH blocks lifted by the administrator");
                serde_json::json!({ "unblocked": n })
            }
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        }
    });
    let admin = tokio::spawn(crate::admin_socket::serve(
        admin_listener,
        status,
        ids.clone(),
        unblock,
        shutdown_rx.clone(),
    ));
    // NC-2.2 and NC-2.4.4: the integrity and freshness watchers, findings mailed to the postmaster.
    let integrity = integrity_first.map(|first| {
        let w = crate::integrity::watch::Watcher {
            config: config.clone(),
            config_path: config_path.clone(),
            store: backend.clone(),
            notify: notify.clone(),
            last: integrity_last.clone().unwrap_or_default(),
        };
        tokio::spawn(w.run(first, shutdown_rx.clone()))
    });
    let freshness = tokio::spawn(
        crate::freshness::Watcher {
            config: config.clone(),
            store: backend.clone(),
            notify: notify.clone(),
        }
        .run(shutdown_rx.clone()),
    );
    // AL-3.2: the daily and weekly system reports of [reports], each period mailed once (on a
    // shared store, by the first node to claim the period).
    let reports = tokio::spawn(crate::report_summary::run_schedule(
        backend.clone(),
        config.clone(),
        notify.clone(),
        shutdown_rx.clone(),
    ));
    // Type=notify: the listeners are bound and accepting, privileges are dropped.
    systemd.ready();
    let watchdog = systemd.watchdog_interval().map(|every| {
        tokio::spawn(crate::notify::watchdog(
            systemd.clone(),
            every,
            running.probe(),
            shutdown_rx.clone(),
        ))
    });
    let outbound =
        rampart_queue::outbound::Outbound::new(backend.clone(), config.clone(), notify.clone())?;
    let manager = tokio::spawn(
        QueueManager {
            store: backend.clone(),
            notify,
            shutdown: shutdown_rx,
            retention_days: config.trace.retention_days.get(),
            outbound: Arc::new(outbound),
            // Asked at delivery only when URL feeds or lists are configured; the pipeline of
            // the moment, so a reload's feeds and lists apply to queued mail too.
            pipeline: {
                let server = server.clone();
                Arc::new(move || server.context().pipeline.clone())
            },
        }
        .run(),
    );

    // SIGHUP (`systemctl reload`): see reload.rs for what is applied and what needs a restart.
    let reloader = crate::reload::Reloader {
        file_data_dir: config_path
            .as_deref()
            .and_then(|p| Config::load(p).ok())
            .map(|c| c.data_dir),
        path: config_path,
        running: std::sync::Mutex::new(config.clone()),
        tls: tls.clone(),
        server: server.clone(),
        pipeline: build_pipeline,
    };
    signals
        .wait(|| {
            let outcome = reloader.reload();
            metrics.reload(matches!(outcome, crate::reload::Outcome::Reloaded { .. }));
        })
        .await;
    systemd.stopping();
    println!("shutting down");
    tracing::info!("shutdown: no new connections; waiting for sessions in flight");
    let _ = shutdown_tx.send(true);
    for t in accept_tasks {
        let _ = t.await;
    }
    // Each HTTPS listener lets its requests in flight finish within the same grace.
    for t in https_tasks {
        let _ = t.await;
    }
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    if !server.drain(grace).await {
        tracing::warn!(
            remaining = server.connections().count(),
            "grace period over; closing the remaining sessions"
        );
    }
    let _ = manager.await;
    let _ = renewal.await;
    let _ = pickup.await;
    let _ = admin.await;
    let _ = freshness.await;
    let _ = reports.await;
    if let Some(t) = integrity {
        let _ = t.await;
    }
    let _ = ids_task.await;
    if let Some(t) = unblocks {
        let _ = t.await;
    }
    if let Some(t) = watchdog {
        let _ = t.await;
    }
    // Everything sent to the writer before this point is committed once this returns.
    running.finish().await?;
    tracing::info!("stopped");
    Ok(())
}

/// The HTTPS listeners' limits (NC-2.1.8) from `[http]`, the TLS handshake timeout shared with
/// SMTP, and the shutdown grace.
fn http_limits(config: &Config) -> rampart_http::HttpLimits {
    let h = &config.http;
    let secs = |n: std::num::NonZeroU32| Duration::from_secs(u64::from(n.get()));
    rampart_http::HttpLimits {
        max_body_bytes: u64::from(h.max_request_body_bytes.get()),
        max_header_bytes: usize::try_from(h.max_header_bytes.get()).unwrap_or(usize::MAX),
        header_read_timeout: secs(h.header_read_timeout_secs),
        body_read_timeout: secs(h.body_read_timeout_secs),
        idle_timeout: secs(h.idle_timeout_secs),
        max_concurrent_requests: usize::try_from(h.max_concurrent_requests.get())
            .unwrap_or(usize::MAX),
        max_connections: usize::try_from(h.max_connections.get()).unwrap_or(usize::MAX),
        tls_handshake_timeout: secs(config.timeouts.tls_handshake_secs),
        shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
    }
}

/// Listen queue for each listener. The usual default (128) overflows under a burst of
/// connections and clients then wait seconds for a SYN retry; the kernel caps this at
/// net.core.somaxconn.
const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// SIGTERM and SIGINT, caught from start-up on; SIGHUP too (`systemctl reload`), which must
/// never end the server the way its default disposition would.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, Error> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for SIGTERM or SIGINT; each SIGHUP calls `on_hup` (the reload) and the wait goes
    /// on.
    async fn wait(mut self, mut on_hup: impl FnMut()) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => on_hup(),
            }
        }
    }
}

/// The demo: domain example.test and user demo@example.test with a random password, printed once
/// (NC-2.1.2: never a fixed password). Only on first start, when the store has no domain.
fn seed_demo(store: &Store) -> Result<(), Error> {
    if !store.domains()?.is_empty() {
        return Ok(());
    }
    store.add_domain("example.test")?;
    let password = crate::admin::generate_password();
    store.add_user("demo@example.test", &password)?;
    store.add_alias("postmaster@example.test", "demo@example.test")?;
    store.add_alias("abuse@example.test", "demo@example.test")?;
    println!("demo domain example.test created");
    println!("demo user demo@example.test password: {password}");
    println!("(the password is shown this once; it is stored only as an Argon2id hash)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A log reader that never reads: every write says it began, then waits until the test
    /// ends.
    struct Stalled(
        std::sync::mpsc::Receiver<()>,
        std::sync::mpsc::SyncSender<()>,
    );

    impl Write for Stalled {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            let _ = self.1.try_send(());
            let _ = self.0.recv();
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Lines past the buffer of a stalled log are dropped, never waited for, and each look
    /// reports the new drops once, in the metric.
    #[test]
    fn dropped_log_lines_are_counted_once() {
        let (release, stalled) = std::sync::mpsc::channel();
        let (began, writing) = std::sync::mpsc::sync_channel(1);
        let (mut writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(4)
            .finish(Stalled(stalled, began));
        let counter = writer.error_counter();
        // The log thread takes the first line and waits in its write (the test waits until it
        // does: the buffer's room is then known); four more fill the buffer, fifteen are dropped.
        writer.write_all(b"line 0\n").unwrap();
        writing.recv().unwrap();
        for i in 1..20 {
            writer.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        let metrics = crate::metrics::Metrics::new();
        let mut reported = 0;
        let first = report_drops(&counter, &mut reported, &metrics);
        assert_eq!(first, 15, "dropped of 20 with room for 5");
        assert_eq!(
            report_drops(&counter, &mut reported, &metrics),
            0,
            "reported once"
        );
        writer.write_all(b"one more\n").unwrap();
        assert_eq!(report_drops(&counter, &mut reported, &metrics), 1);
        let text = metrics.render_openmetrics();
        assert!(
            text.contains(&format!("rampart_log_lines_dropped_total {}", first + 1)),
            "{text}"
        );
        drop(release);
        drop(guard);
    }
}
