//! The harness for session tests: a store in a temporary directory, a server context over it,
//! and a session on one end of an in-memory stream.
#![allow(dead_code)]

use rampart_config::Config;
use rampart_smtp::{ServerContext, Session};
use rampart_store::{Sqlite, Store, Writer};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::sync::{watch, Notify};

pub struct Fixture {
    pub ctx: Arc<ServerContext>,
    _shutdown: watch::Sender<bool>,
    pub dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn fixture() -> Fixture {
    fixture_with(|_| {})
}

/// A fixture whose configuration `change` adjusts first (relay networks, limits).
pub fn fixture_with(change: impl FnOnce(&mut Config)) -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "rampart-session-{}",
        std::process::id() as u64 * 1000 + rand_u16() as u64
    ));
    let mut config = Config::embedded_default();
    config.data_dir = dir.clone();
    change(&mut config);
    let store = Store::open(&dir).unwrap();
    store.add_domain("example.test").unwrap();
    store
        .add_user("alice@example.test", "correct horse battery")
        .unwrap();
    let (writer, _) = Writer::start(&store).unwrap();
    let (tx, rx) = watch::channel(false);
    Fixture {
        ctx: Arc::new(ServerContext::new(
            Arc::new(config),
            Arc::new(Sqlite::new(store, writer)),
            None,
            Arc::new(Notify::new()),
            rx,
        )),
        _shutdown: tx,
        dir,
    }
}

fn rand_u16() -> u16 {
    u16::from_le_bytes(rampart_store::random_bytes::<2>())
}

pub async fn start(f: &Fixture) -> DuplexStream {
    let (client, mut server) = tokio::io::duplex(64 * 1024);
    let ctx = f.ctx.clone();
    let listener = ctx.config.listeners[0].clone();
    tokio::spawn(async move {
        let mut s = Session::new(ctx, listener, "192.0.2.1:4000".parse().unwrap());
        s.greet(&mut server).await.unwrap();
        let _ = s.run(&mut server).await;
    });
    client
}

pub async fn read_all(c: &mut DuplexStream) -> String {
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}
