//! WAL checkpoints, off the commit path.
//!
//! In WAL mode every commit appends to `rampart.db-wal`; a checkpoint copies those pages into
//! the database so the WAL can start over. SQLite's automatic checkpoint runs inside the commit
//! that crosses its threshold, so the session waiting for that commit (and its 250) would pay
//! for it. The writer's connection therefore has it turned off, and this thread, with its own
//! connection, checkpoints instead:
//!
//! - while commits come in, `PASSIVE` checkpoints every [`EVERY_COMMITS`] commits or
//!   [`BUSY_INTERVAL`], whichever is first: they copy the WAL into the database without taking
//!   any lock a commit needs;
//! - a WAL restarts from its beginning (cut back to [`WAL_SIZE_LIMIT`]) only at a commit that
//!   begins after a checkpoint copied all of it, which a writer that never pauses rarely
//!   offers. When the file has passed [`WAL_SIZE_LIMIT`], this thread asks the writer to run a
//!   `RESTART` checkpoint between two batches: the bulk is copied by then, so that costs the
//!   writer the last few pages and one fsync, once per few MiB written;
//! - after [`IDLE`] without a commit, a `TRUNCATE` checkpoint, which empties the WAL file; it
//!   gives up after a short busy wait rather than hold up a commit that arrives meanwhile.
//!
//! The writer only signals after a commit (a non-blocking send on a channel of one).

use crate::{open_connection, Result, Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Commits between two checkpoints under load.
pub const EVERY_COMMITS: u64 = 16;
/// Longest time between two checkpoints under load.
pub const BUSY_INTERVAL: Duration = Duration::from_millis(200);
/// Time without a commit after which the WAL file is emptied.
pub const IDLE: Duration = Duration::from_secs(1);
/// Size the WAL file is cut back to when it restarts (bytes).
pub const WAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;
/// `PASSIVE` checkpoints run back to back before the WAL size is looked at.
const CATCH_UP_ROUNDS: usize = 4;
/// How long a `TRUNCATE` checkpoint waits for readers before it gives up until the next idle.
const TRUNCATE_BUSY: Duration = Duration::from_millis(100);

/// The writer's handle on the checkpoint thread.
pub(crate) struct Checkpointer {
    signal: Option<SyncSender<()>>,
    /// Set by the thread when the WAL should be restarted by the writer.
    restart: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(store: &Store) -> Result<Checkpointer> {
        let conn = open_connection(store.db_path())?;
        let mut wal = store.db_path().as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let (signal, rx) = sync_channel(1);
        let restart = Arc::new(AtomicBool::new(false));
        let asked = restart.clone();
        let thread = std::thread::Builder::new()
            .name("rampart-checkpoint".into())
            .spawn(move || run(conn, rx, wal, &asked))
            .map_err(|e| StoreError::Io {
                path: "checkpoint thread".into(),
                source: e,
            })?;
        Ok(Checkpointer {
            signal: Some(signal),
            restart,
            thread: Some(thread),
        })
    }

    /// Called by the writer after each commit. Never blocks: when a signal is already pending,
    /// this one is folded into it.
    pub(crate) fn committed(&self) {
        if let Some(s) = &self.signal {
            let _ = s.try_send(());
        }
    }

    /// Called by the writer between batches, on its own connection: when the checkpoint thread
    /// has copied the bulk of an oversized WAL, a `RESTART` checkpoint copies the rest and makes
    /// the next commit start the WAL over (cut back to [`WAL_SIZE_LIMIT`]).
    pub(crate) fn restart_if_asked(&self, conn: &rusqlite::Connection) {
        if self.restart.swap(false, Ordering::Relaxed) {
            let _ = conn.busy_timeout(TRUNCATE_BUSY);
            checkpoint(conn, "RESTART");
            let _ = conn.busy_timeout(Duration::from_secs(10));
        }
    }

    /// Ends the thread after a final `TRUNCATE` checkpoint.
    pub(crate) fn stop(mut self) {
        self.signal = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: rusqlite::Connection, rx: Receiver<()>, wal: PathBuf, restart: &AtomicBool) {
    let mut commits = 0u64;
    let mut last = Instant::now();
    let mut dirty = false;
    loop {
        match rx.recv_timeout(IDLE) {
            Ok(()) => {
                commits += 1;
                dirty = true;
                if commits >= EVERY_COMMITS || last.elapsed() >= BUSY_INTERVAL {
                    catch_up(&conn, &wal, restart);
                    commits = 0;
                    last = Instant::now();
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if dirty && truncate(&conn) {
                    dirty = false;
                    commits = 0;
                    last = Instant::now();
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    if dirty {
        truncate(&conn);
    }
}

/// Under load: `PASSIVE` checkpoints back to back while each copies what was appended during
/// the one before, until one finds the WAL fully copied. The writer restarts the WAL from its
/// beginning on its next commit, but only if that commit began after the checkpoint ended; a
/// writer that never pauses would keep the file growing. So when the file has grown past
/// [`WAL_SIZE_LIMIT`] anyway, the writer is asked to restart it itself between two batches
/// ([`Checkpointer::restart_if_asked`]): the bulk is copied by then, so that costs it the copy of
/// the last few pages.
fn catch_up(conn: &rusqlite::Connection, wal: &Path, restart: &AtomicBool) {
    for _ in 0..CATCH_UP_ROUNDS {
        if checkpoint(conn, "PASSIVE") {
            break;
        }
    }
    let size = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    if size > WAL_SIZE_LIMIT as u64 {
        restart.store(true, Ordering::Relaxed);
    }
}

/// Runs a checkpoint; returns true when it copied the whole WAL.
fn checkpoint(conn: &rusqlite::Connection, mode: &str) -> bool {
    // (busy, frames in the WAL, frames checkpointed)
    let r = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    match r {
        Ok((busy, log, done)) => busy == 0 && log == done,
        Err(e) => {
            tracing::warn!(error = %e, mode, "WAL checkpoint failed");
            false
        }
    }
}

fn truncate(conn: &rusqlite::Connection) -> bool {
    let _ = conn.busy_timeout(TRUNCATE_BUSY);
    let done = checkpoint(conn, "TRUNCATE");
    let _ = conn.busy_timeout(Duration::from_secs(10));
    done
}

#[cfg(test)]
mod tests {
    use crate::directory::tempdir;
    use crate::{Store, Writer};

    fn wal_size(store: &Store) -> u64 {
        let mut p = store.db_path().as_os_str().to_owned();
        p.push("-wal");
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }

    /// A burst of commits (40 MB written) leaves a WAL bounded by the checkpoints made during the
    /// burst, and once the burst is over the WAL file is emptied.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wal_stays_bounded_under_a_burst_and_empties_when_idle() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let (writer, thread) = Writer::start(&store).unwrap();
        let blob = vec![0x5au8; 4096];
        let mut largest = 0;
        for commit in 0..1000 {
            let blob = blob.clone();
            writer
                .run(false, move |tx| {
                    let mut st =
                        tx.prepare_cached("INSERT INTO message_bodies(id, data) VALUES (?1, ?2)")?;
                    for i in 0..20 {
                        st.execute(rusqlite::params![format!("{commit}-{i}"), blob])?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
            largest = largest.max(wal_size(&store));
        }
        // 1,000 commits of 80 KiB each: without checkpoints the WAL would pass 80 MB.
        assert!(largest < 24 * 1024 * 1024, "WAL grew to {largest} bytes");
        // Idle now: the checkpoint thread empties the WAL (polled, with a generous deadline).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while wal_size(&store) > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(wal_size(&store), 0, "the WAL was not emptied when idle");
        drop(writer);
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
    }
}
