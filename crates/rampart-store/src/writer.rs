//! The one writer: a thread that owns the write connection and commits in groups.
//!
//! Callers send operations (closures over a transaction). The thread takes every operation that
//! is waiting, runs each inside its own savepoint (a failing one is rolled back alone), fsyncs the
//! message directory once if any operation added a message file, commits once, and only then
//! answers the callers. Under load one commit serves many messages; alone, a message waits for
//! nothing but its own commit.

use crate::{open_connection, sync_dir, Result, StoreError, TraceEvent};
use rusqlite::Transaction;
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};

type OpFn = Box<dyn FnOnce(&Transaction) -> Result<()> + Send>;
type Done = Option<oneshot::Sender<Result<()>>>;

struct Op {
    run: OpFn,
    /// The operation references a message file just written: the directory entry must be durable
    /// before the commit that makes the message visible.
    sync_dir: bool,
    done: Done,
}

/// Most operations one transaction takes; more wait for the next.
const MAX_BATCH: usize = 1024;
/// Operations that may wait before senders are held back.
const CHANNEL_DEPTH: usize = 16 * 1024;

/// Handle to the writer thread. Cheap to clone; the thread ends when every handle is dropped.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Op>,
}

impl Writer {
    /// Starts the writer thread for the store's database.
    pub fn start(store: &crate::Store) -> Result<(Writer, std::thread::JoinHandle<()>)> {
        let mut conn = open_connection(store.db_path())?;
        let dir: PathBuf = store.messages_dir();
        let (tx, mut rx) = mpsc::channel::<Op>(CHANNEL_DEPTH);
        let handle = std::thread::Builder::new()
            .name("rampart-writer".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(MAX_BATCH);
                while let Some(op) = rx.blocking_recv() {
                    batch.push(op);
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(op) => batch.push(op),
                            Err(_) => break,
                        }
                    }
                    commit_batch(&mut conn, &dir, &mut batch);
                }
            })
            .map_err(|e| StoreError::Io {
                path: "writer thread".into(),
                source: e,
            })?;
        Ok((Writer { tx }, handle))
    }

    /// Runs `f` in the next group commit and waits until that commit is durable.
    pub async fn run<F>(&self, sync_dir: bool, f: F) -> Result<()>
    where
        F: FnOnce(&Transaction) -> Result<()> + Send + 'static,
    {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Op {
                run: Box::new(f),
                sync_dir,
                done: Some(done),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        wait.await.map_err(|_| StoreError::Closed)?
    }

    /// Records a trace event in the next commit, without waiting for it.
    pub async fn trace(&self, event: TraceEvent) {
        let op = Op {
            run: Box::new(move |tx| event.insert(tx)),
            sync_dir: false,
            done: None,
        };
        if self.tx.send(op).await.is_err() {
            tracing::warn!("trace event dropped: the writer has stopped");
        }
    }
}

fn commit_batch(conn: &mut rusqlite::Connection, dir: &std::path::Path, batch: &mut Vec<Op>) {
    let mut results: Vec<(Done, Result<()>)> = Vec::with_capacity(batch.len());
    let outcome = (|| -> Result<()> {
        if batch.iter().any(|op| op.sync_dir) {
            sync_dir(dir)?;
        }
        let tx = conn.transaction()?;
        for op in batch.drain(..) {
            let r = run_in_savepoint(&tx, op.run);
            if let Err(e) = &r {
                tracing::error!(error = %e, "store operation failed");
            }
            results.push((op.done, r));
        }
        tx.commit()?;
        Ok(())
    })();
    match outcome {
        Ok(()) => {
            for (done, r) in results {
                if let Some(done) = done {
                    let _ = done.send(r);
                }
            }
        }
        Err(e) => {
            // Nothing of this batch is durable: every caller hears so (and answers 451).
            tracing::error!(error = %e, "group commit failed");
            let msg = e.to_string();
            for (done, _) in results
                .into_iter()
                .chain(batch.drain(..).map(|op| (op.done, Ok(()))))
            {
                if let Some(done) = done {
                    let _ = done.send(Err(StoreError::Invalid(format!("commit failed: {msg}"))));
                }
            }
        }
    }
}

fn run_in_savepoint(tx: &Transaction, f: OpFn) -> Result<()> {
    tx.execute_batch("SAVEPOINT op")?;
    match f(tx) {
        Ok(()) => {
            tx.execute_batch("RELEASE op")?;
            Ok(())
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO op; RELEASE op")?;
            Err(e)
        }
    }
}
