//! Prometheus metrics (issue 19 item 5), served as `GET /metrics` by [`router`] on the admin
//! listener (which mounts it; nothing here listens).
//!
//! One seam feeds the counters: the trace. Every trace event is also a log line on target
//! [`rampart_store::trace::LOG_TARGET`] ([`rampart_store::TraceEvent::log`]); [`MetricsLayer`], a
//! `tracing` layer, counts those lines as they are written, so a metric cannot disagree with the
//! trace and no call site is instrumented twice. Two latencies are timed where they happen and
//! written as DEBUG events the layer reads: each check (target `rampart::check`, fields `check`
//! and `seconds`) and each group commit of the store (target `rampart::store`, `seconds`). The
//! queue and the bans in force are read from the store when scraped.
//!
//! Names follow Prometheus conventions: `rampart_` prefix, base units (`_seconds`), `_total` on
//! counters. [`Metrics::render`] writes the classic text format (0.0.4), which every Prometheus
//! scrapes and `promtool check metrics` lints; [`Metrics::render_openmetrics`] the OpenMetrics one.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use rampart_store::summary::parse_verdicts;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tracing::field::{Field, Visit};

type Labels = Vec<(String, String)>;
type Counters = Family<Labels, Counter>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Latency buckets from 100 µs to about 26 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 4.0, 10))
}

/// The metrics registry and every metric in it.
pub struct Metrics {
    registry: Registry,
    sessions: Counters,
    sessions_active: Gauge,
    refusals: Counters,
    queued: Counters,
    messages: Counters,
    verdicts: Counters,
    deliveries: Counters,
    tls: Counters,
    tls_failures: Counter,
    auth_failures: Counter,
    bans: Counter,
    bans_active: Gauge,
    data_free: Gauge,
    /// No sample until a reading counts inodes: where the filesystem has no fixed number
    /// (btrfs), a 0 would read as "none left".
    data_free_inodes: Family<Labels, Gauge>,
    quarantine: Counters,
    queue_messages: Gauge,
    queue_oldest: Gauge<f64, AtomicU64>,
    check_seconds: Histograms,
    commit_seconds: Histogram,
    reloads: Counters,
    log_dropped: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            sessions: Counters::default(),
            sessions_active: Gauge::default(),
            refusals: Counters::default(),
            queued: Counters::default(),
            messages: Counters::default(),
            verdicts: Counters::default(),
            deliveries: Counters::default(),
            tls: Counters::default(),
            tls_failures: Counter::default(),
            auth_failures: Counter::default(),
            bans: Counter::default(),
            bans_active: Gauge::default(),
            data_free: Gauge::default(),
            data_free_inodes: Family::default(),
            quarantine: Counters::default(),
            queue_messages: Gauge::default(),
            queue_oldest: Gauge::default(),
            check_seconds: Histograms::new_with_constructor(latency),
            commit_seconds: latency(),
            reloads: Counters::default(),
            log_dropped: Counter::default(),
            registry: Registry::default(),
        };
        // prometheus-client adds `_total` to counters and the unit to names registered with one.
        r.register(
            "rampart_smtp_sessions",
            "SMTP sessions opened, by listener role",
            m.sessions.clone(),
        );
        r.register(
            "rampart_smtp_sessions_active",
            "SMTP sessions open now",
            m.sessions_active.clone(),
        );
        r.register(
            "rampart_smtp_refusals",
            "Refusals in the SMTP dialogue, by stage (connection, mail, rcpt, data, protocol)",
            m.refusals.clone(),
        );
        r.register(
            "rampart_messages_queued",
            "Messages taken into the queue, by source (inbound, submitted, generated)",
            m.queued.clone(),
        );
        r.register(
            "rampart_messages",
            "Messages checked, by the checks' decision (accepted, quarantined, refused)",
            m.messages.clone(),
        );
        r.register(
            "rampart_check_verdicts",
            "Verdicts, by check and action",
            m.verdicts.clone(),
        );
        r.register(
            "rampart_delivery_attempts",
            "Delivery outcomes per recipient, by outcome (delivered, relayed, deferred, failed, expired)",
            m.deliveries.clone(),
        );
        r.register(
            "rampart_tls_sessions",
            "TLS sessions, by direction (in, out) and protocol version (none: plain text)",
            m.tls.clone(),
        );
        r.register(
            "rampart_tls_handshake_failures",
            "Inbound TLS handshakes that failed or timed out",
            m.tls_failures.clone(),
        );
        r.register(
            "rampart_auth_failures",
            "Failed authentications (wrong password)",
            m.auth_failures.clone(),
        );
        r.register(
            "rampart_bans",
            "Bans made by intrusion prevention",
            m.bans.clone(),
        );
        r.register(
            "rampart_bans_active",
            "Bans in force",
            m.bans_active.clone(),
        );
        r.register(
            "rampart_data_free_bytes",
            "Free bytes on the data directory's filesystem (MAIL is refused under limits.min_free_space)",
            m.data_free.clone(),
        );
        r.register(
            "rampart_data_free_inodes",
            "Free inodes on the data directory's filesystem (MAIL is refused under 1024; absent where the filesystem does not count them)",
            m.data_free_inodes.clone(),
        );
        r.register(
            "rampart_quarantine_events",
            "Quarantine events, by event (held, released, deleted)",
            m.quarantine.clone(),
        );
        r.register(
            "rampart_queue_messages",
            "Messages in the queue with a recipient still to deliver",
            m.queue_messages.clone(),
        );
        r.register_with_unit(
            "rampart_queue_oldest_age",
            "Age of the oldest message in the queue",
            Unit::Seconds,
            m.queue_oldest.clone(),
        );
        r.register_with_unit(
            "rampart_check_duration",
            "Time each check took on one message",
            Unit::Seconds,
            m.check_seconds.clone(),
        );
        r.register_with_unit(
            "rampart_store_commit_duration",
            "Time of one group commit of the store, fsync included",
            Unit::Seconds,
            m.commit_seconds.clone(),
        );
        r.register(
            "rampart_config_reloads",
            "Configuration reloads on SIGHUP, by outcome (applied, refused)",
            m.reloads.clone(),
        );
        r.register(
            "rampart_log_lines_dropped",
            "Log lines dropped because the log's reader fell behind (the trace keeps every event)",
            m.log_dropped.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// Counts one trace event (its `event` name and `detail`, as logged).
    pub fn trace_event(&self, event: &str, detail: &str, has_session: bool) {
        let inc = |f: &Counters, pairs: &[(&str, &str)]| {
            f.get_or_create(&labels(pairs)).inc();
        };
        let refused = detail.contains("refused");
        match event {
            "connect" => {
                // "connection from A to ROLE listener B"; a local submission names no listener.
                if let Some(role) = detail
                    .split_once(" to ")
                    .and_then(|(_, r)| r.split_once(" listener "))
                    .map(|(role, _)| role)
                {
                    inc(&self.sessions, &[("role", role)]);
                    self.sessions_active.inc();
                }
            }
            "disconnect" => {
                self.sessions_active.dec();
            }
            "refused" => inc(&self.refusals, &[("stage", "connection")]),
            "protocol" | "early-talker" => inc(&self.refusals, &[("stage", "protocol")]),
            "mail" | "rcpt" | "data" if refused => inc(&self.refusals, &[("stage", event)]),
            "queued" => {
                let source = if !has_session {
                    "generated"
                } else if detail.contains(", authenticated as ") {
                    "submitted"
                } else {
                    "inbound"
                };
                inc(&self.queued, &[("source", source)]);
            }
            "checks" => {
                let decision = if detail.starts_with("accepted") {
                    "accepted"
                } else if detail.starts_with("quarantined by ") {
                    "quarantined"
                } else if detail.starts_with("refused by ") {
                    "refused"
                } else {
                    return;
                };
                inc(&self.messages, &[("decision", decision)]);
                for v in parse_verdicts(detail) {
                    inc(
                        &self.verdicts,
                        &[("check", &v.check), ("action", &v.action)],
                    );
                }
            }
            "delivered" | "relayed" | "deferred" | "failed" | "expired" => {
                inc(&self.deliveries, &[("outcome", event)]);
                if let Some(v) = outbound_version(detail) {
                    inc(&self.tls, &[("direction", "out"), ("version", v)]);
                }
            }
            "tls" if detail.starts_with("handshake") => {
                self.tls_failures.inc();
            }
            "tls" => {
                let v = detail.split(' ').next().unwrap_or("unknown");
                inc(&self.tls, &[("direction", "in"), ("version", v)]);
            }
            "auth" if detail.starts_with("failed for ") => {
                self.auth_failures.inc();
            }
            "ban" => {
                self.bans.inc();
            }
            "quarantined" => inc(&self.quarantine, &[("event", "held")]),
            "released" | "deleted" => inc(&self.quarantine, &[("event", event)]),
            _ => {}
        }
    }

    pub fn check_latency(&self, check: &str, seconds: f64) {
        self.check_seconds
            .get_or_create(&labels(&[("check", check)]))
            .observe(seconds);
    }

    /// A reload on SIGHUP: applied, or refused (the old configuration stayed).
    pub fn reload(&self, applied: bool) {
        let outcome = if applied { "applied" } else { "refused" };
        self.reloads
            .get_or_create(&labels(&[("outcome", outcome)]))
            .inc();
    }

    pub fn log_lines_dropped(&self, n: usize) {
        self.log_dropped
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    pub fn commit_latency(&self, seconds: f64) {
        self.commit_seconds.observe(seconds);
    }

    /// The gauges read from the store at scrape time.
    pub fn set_queue(&self, messages: u64, oldest_age_secs: f64) {
        self.queue_messages
            .set(i64::try_from(messages).unwrap_or(i64::MAX));
        self.queue_oldest.set(oldest_age_secs);
    }

    pub fn set_bans_active(&self, n: usize) {
        self.bans_active.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn set_data_free(&self, room: rampart_store::FreeRoom) {
        self.data_free
            .set(i64::try_from(room.bytes).unwrap_or(i64::MAX));
        if let Some(n) = room.inodes {
            self.data_free_inodes
                .get_or_create(&Labels::new())
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The OpenMetrics text, as prometheus-client writes it.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The classic Prometheus text format (0.0.4): the OpenMetrics text with each counter's
    /// HELP and TYPE under its sample name (`_total`), and without `# UNIT` and `# EOF`, which
    /// that format does not have.
    pub fn render(&self) -> String {
        let om = self.render_openmetrics();
        let counters: Vec<String> = om
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.strip_suffix(" counter"))
            .map(str::to_string)
            .collect();
        let mut out = String::with_capacity(om.len());
        for line in om.lines() {
            if line.starts_with("# UNIT ") || line == "# EOF" {
                continue;
            }
            let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
                let rest = line.strip_prefix(p)?;
                let (name, tail) = rest.split_once(' ')?;
                counters
                    .iter()
                    .any(|c| c == name)
                    .then(|| format!("{p}{name}_total {tail}"))
            });
            out.push_str(renamed.as_deref().unwrap_or(line));
            out.push('\n');
        }
        out
    }
}

/// The TLS version in an outbound outcome's ` via HOST (TLSv1.3 ...; ...)`; `none` without TLS.
fn outbound_version(detail: &str) -> Option<&str> {
    let (_, via) = detail.split_once(" via ")?;
    let (_, security) = via.split_once(" (")?;
    let first = security.split([' ', ';', ')']).next().unwrap_or("");
    Some(if first.starts_with("TLS") {
        first
    } else {
        "none"
    })
}

/// The `tracing` layer that feeds [`Metrics`] from the trace's log lines and the two timing
/// targets. Give it [`MetricsLayer::filter`] so it sees those targets whatever the log level.
pub struct MetricsLayer(pub Arc<Metrics>);

impl MetricsLayer {
    /// The targets the layer reads, at the levels they are written.
    pub fn filter() -> tracing_subscriber::filter::Targets {
        tracing_subscriber::filter::Targets::new()
            .with_target(rampart_store::trace::LOG_TARGET, tracing::Level::INFO)
            .with_target("rampart::check", tracing::Level::DEBUG)
            .with_target("rampart::store", tracing::Level::DEBUG)
    }
}

#[derive(Default)]
struct Fields {
    event: Option<String>,
    detail: Option<String>,
    check: Option<String>,
    session: bool,
    seconds: Option<f64>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "event" => self.event = Some(value.to_string()),
            "detail" => self.detail = Some(value.to_string()),
            "check" => self.check = Some(value.to_string()),
            "session" => self.session = true,
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "seconds" {
            self.seconds = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `Option<&str>` fields arrive here only when present (absent ones are not recorded).
        if field.name() == "session" {
            self.session = true;
        } else if matches!(field.name(), "event" | "detail" | "check") {
            self.record_str(field, format!("{value:?}").trim_matches('"'));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for MetricsLayer {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = Fields::default();
        e.record(&mut f);
        match e.metadata().target() {
            "rampart::check" => {
                if let (Some(check), Some(s)) = (f.check, f.seconds) {
                    self.0.check_latency(&check, s);
                }
            }
            "rampart::store" => {
                if let Some(s) = f.seconds {
                    self.0.commit_latency(s);
                }
            }
            _ => {
                if let (Some(event), Some(detail)) = (f.event, f.detail) {
                    self.0.trace_event(&event, &detail, f.session);
                }
            }
        }
    }
}

/// `GET /metrics`, on the admin listener: the gauges read from the store, then the text. The
/// store is read through its traits, so on PostgreSQL the queue and the bans are the shared
/// ones, the same on every node.
pub fn router(
    metrics: Arc<Metrics>,
    store: rampart_store::AnyStore,
    data_dir: std::path::PathBuf,
) -> axum::Router {
    use axum::http::header::CONTENT_TYPE;
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (metrics, store, data_dir) = (metrics.clone(), store.clone(), data_dir.clone());
            async move {
                if let Ok(free) = rampart_store::free_room(&data_dir) {
                    metrics.set_data_free(free);
                }
                let now = rampart_store::now_micros();
                if let Ok((n, oldest)) = store.queue_gauge().await {
                    let age = oldest.map(|o| (now - o).max(0) as f64 / 1e6).unwrap_or(0.0);
                    metrics.set_queue(n, age);
                }
                if let Ok(bans) = store.list_active(now).await {
                    metrics.set_bans_active(bans.len());
                }
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    metrics.render(),
                )
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_store::TraceEvent;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    fn event(name: &str, detail: &str, session: bool) -> TraceEvent {
        let mut e = TraceEvent::new(name, detail);
        if session {
            e.session = Some("s1".into());
            e.client = Some("192.0.2.1".into());
        }
        e
    }

    /// Real trace events, logged as the store logs them, through the layer into the metrics;
    /// the output is linted by Debian's promtool.
    #[test]
    fn metrics_from_trace_events_pass_promtool() {
        let metrics = Arc::new(Metrics::new());
        // The log filter of a quiet server: the layer still sees the INFO trace lines.
        let subscriber = tracing_subscriber::registry()
            .with(MetricsLayer(metrics.clone()).with_filter(MetricsLayer::filter()))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::sink)
                    .with_filter(tracing_subscriber::EnvFilter::new("warn")),
            );
        tracing::subscriber::with_default(subscriber, || {
            for e in [
                event("connect", "connection from 192.0.2.1:4000 to mx listener 127.0.0.1:25", true),
                event("tls", "TLSv1.3 TLS13_AES_256_GCM_SHA384", true),
                event("rcpt", "RCPT TO:<x@y.test> refused: 550 5.1.1 no such user", true),
                event("checks", "quarantined by antivirus; verdicts: antivirus=quarantine (Eicar); spam=accept (score 0)", true),
                event("queued", "10 bytes for 1 recipient(s) (1 to deliver); 250 2.0.0 Ok: queued as A", true),
                event("auth", "failed for alice@example.test; answered after 500 ms", true),
                event("relayed", "delivered to a@r.test via mx.r.test (TLSv1.2 X; certificate verified; policy none): 250 ok", false),
                event("deferred", "a@r.test via mx.r.test (no TLS; no certificate; policy none): 451 later", false),
                event("quarantined", "held at receipt: antivirus", false),
                event("disconnect", "messages: 1, errors: 1", true),
            ] {
                e.log();
            }
            tracing::debug!(target: "rampart::check", check = "antivirus", seconds = 0.02_f64);
            tracing::debug!(target: "rampart::store", seconds = 0.004_f64);
        });
        metrics.set_queue(3, 42.5);
        metrics.reload(true);
        metrics.reload(false);
        metrics.reload(true);
        let text = metrics.render();
        for want in [
            "rampart_smtp_sessions_total{role=\"mx\"} 1",
            "rampart_smtp_sessions_active 0",
            "rampart_smtp_refusals_total{stage=\"rcpt\"} 1",
            "rampart_messages_total{decision=\"quarantined\"} 1",
            "rampart_check_verdicts_total{check=\"antivirus\",action=\"quarantine\"} 1",
            "rampart_messages_queued_total{source=\"inbound\"} 1",
            "rampart_auth_failures_total 1",
            "rampart_delivery_attempts_total{outcome=\"deferred\"} 1",
            "rampart_tls_sessions_total{direction=\"in\",version=\"TLSv1.3\"} 1",
            "rampart_tls_sessions_total{direction=\"out\",version=\"none\"} 1",
            "rampart_quarantine_events_total{event=\"held\"} 1",
            "rampart_queue_messages 3",
            "rampart_queue_oldest_age_seconds 42.5",
            "rampart_check_duration_seconds_count{check=\"antivirus\"} 1",
            "rampart_store_commit_duration_seconds_count 1",
            "# TYPE rampart_auth_failures_total counter",
            "rampart_config_reloads_total{outcome=\"applied\"} 2",
            "rampart_config_reloads_total{outcome=\"refused\"} 1",
        ] {
            assert!(text.contains(want), "{want} missing from:\n{text}");
        }
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool (Debian package prometheus) must be installed");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
