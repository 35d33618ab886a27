//! The `rampart::mail` log lines ([`crate::trace::LOG_TARGET`]) written on this thread, for a
//! backend's tests of what its log says (AL-3.1: "queued" or "delivered" only of a committed
//! row).

use std::sync::{Arc, Mutex};

/// Captures, from [`MailLog::start`] until it is dropped, the log lines written on this thread
/// (a `current_thread` runtime's tasks included).
pub struct MailLog {
    sink: Sink,
    _default: tracing::subscriber::DefaultGuard,
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        rampart_sync::lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = Sink;
    fn make_writer(&'a self) -> Sink {
        self.clone()
    }
}

impl MailLog {
    pub fn start() -> MailLog {
        let sink = Sink::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(sink.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        MailLog {
            sink,
            _default: tracing::subscriber::set_default(subscriber),
        }
    }

    /// The trace's log lines so far.
    pub fn lines(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&rampart_sync::lock(&self.sink.0)).to_string();
        text.lines()
            .filter(|l| l.contains(crate::trace::LOG_TARGET))
            .map(str::to_string)
            .collect()
    }

    /// The `detail` of each trace line so far, in order.
    pub fn details(&self) -> Vec<String> {
        self.lines()
            .iter()
            .filter_map(|l| l.split("detail=\"").nth(1))
            .map(|d| d.strip_suffix('"').unwrap_or(d).to_string())
            .collect()
    }
}
