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
//!
//! Free pages: SQLite keeps the pages that removal frees ([`crate::lifecycle`]) in the file for
//! reuse, so the file would keep the size of the largest backlog it ever held. The database is
//! in `auto_vacuum = INCREMENTAL` mode (a new one from its creation; an older one is converted
//! once when this thread starts, see [`convert_to_incremental`]), and when idle this thread
//! hands free pages beyond [`KEEP_FREE`] back with `incremental_vacuum`, in transactions of
//! [`RECLAIM_CHUNK`] pages, stopping as soon as a commit comes in; then the `TRUNCATE`
//! checkpoint shortens the file.

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
/// Size the WAL file is cut back to when it restarts (bytes), and the size past which the writer
/// is asked to restart it. Under load the WAL grows by about 48 KiB per 10 KB message, so at
/// 4 MiB (the value until 2026-12-06) the writer restarted it some 30 times a second, each time
/// a `RESTART` checkpoint (one more fsync of the database on the commit path) and a cut of the
/// file that the next commits had to extend again (docs/PERFORMANCE.md, issue 23, eighth round).
pub const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;
/// `PASSIVE` checkpoints run back to back before the WAL size is looked at.
const CATCH_UP_ROUNDS: usize = 4;
/// How long a `TRUNCATE` checkpoint waits for readers before it gives up until the next idle.
const TRUNCATE_BUSY: Duration = Duration::from_millis(100);
/// Free pages kept for reuse (bytes): below this, nothing is handed back.
pub const KEEP_FREE: i64 = 4 * 1024 * 1024;
/// Pages handed back per transaction; a commit that arrives meanwhile waits for one at most.
pub const RECLAIM_CHUNK: i64 = 1024;
/// Longest the final reclaim at shutdown may take.
const RECLAIM_AT_STOP: Duration = Duration::from_secs(2);
/// A database not yet in incremental mode is converted at start (one `VACUUM`, which rewrites
/// the whole file) when it is at most this large, or when a quarter of it is free pages.
const CONVERT_UP_TO: i64 = 64 * 1024 * 1024;

/// The writer's handle on the checkpoint thread.
pub(crate) struct Checkpointer {
    signal: Option<SyncSender<()>>,
    /// Set by the thread when the WAL should be restarted by the writer.
    restart: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(store: &Store, wal_limit: i64) -> Result<Checkpointer> {
        let conn = open_connection(store.db_path())?;
        // Before the writer's first commit: the conversion rewrites the file.
        convert_to_incremental(&conn);
        let mut wal = store.db_path().as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let (signal, rx) = sync_channel(1);
        let restart = Arc::new(AtomicBool::new(false));
        let asked = restart.clone();
        let thread = std::thread::Builder::new()
            .name("rampart-checkpoint".into())
            .spawn(move || run(conn, rx, wal, &asked, wal_limit))
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
    /// the next commit start the WAL over (cut back to the limit).
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

fn run(
    conn: rusqlite::Connection,
    rx: Receiver<()>,
    wal: PathBuf,
    restart: &AtomicBool,
    wal_limit: i64,
) {
    let mut commits = 0u64;
    let mut last = Instant::now();
    let mut dirty = false;
    loop {
        match rx.recv_timeout(IDLE) {
            Ok(()) => {
                commits += 1;
                dirty = true;
                if commits >= EVERY_COMMITS || last.elapsed() >= BUSY_INTERVAL {
                    catch_up(&conn, &wal, restart, wal_limit);
                    commits = 0;
                    last = Instant::now();
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if !dirty {
                    continue;
                }
                // A commit arriving meanwhile ends the reclaim; it is counted like any other.
                let mut interrupted = false;
                reclaim(&conn, &mut || {
                    interrupted = interrupted || rx.try_recv().is_ok();
                    interrupted
                });
                if interrupted {
                    commits += 1;
                } else if truncate(&conn) {
                    dirty = false;
                    commits = 0;
                    last = Instant::now();
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    if dirty {
        let until = Instant::now() + RECLAIM_AT_STOP;
        reclaim(&conn, &mut || Instant::now() >= until);
        truncate(&conn);
    }
}

fn pragma_i64(conn: &rusqlite::Connection, name: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
}

/// Hands free pages beyond [`KEEP_FREE`] back to the file system (they leave the file at the
/// next checkpoint), [`RECLAIM_CHUNK`] pages per transaction, until `stop` says so between two.
/// Returns how many pages were handed back.
fn reclaim(conn: &rusqlite::Connection, stop: &mut dyn FnMut() -> bool) -> i64 {
    let _ = conn.busy_timeout(TRUNCATE_BUSY);
    let mut freed = 0;
    loop {
        let (free, page) = match (
            pragma_i64(conn, "freelist_count"),
            pragma_i64(conn, "page_size"),
        ) {
            (Ok(f), Ok(p)) if p > 0 => (f, p),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "reading the free page count failed");
                break;
            }
            _ => break,
        };
        let surplus = free - KEEP_FREE / page;
        if surplus <= 0 || stop() {
            break;
        }
        let n = surplus.min(RECLAIM_CHUNK);
        // Busy (a commit holds the lock): the next idle tries again.
        if let Err(e) = incremental_vacuum(conn, n) {
            tracing::debug!(error = %e, "incremental vacuum gave way");
            break;
        }
        freed += n;
    }
    let _ = conn.busy_timeout(Duration::from_secs(10));
    freed
}

/// Frees up to `n` pages in one transaction. The statement hands back one page per step, so
/// it is stepped to its end.
fn incremental_vacuum(conn: &rusqlite::Connection, n: i64) -> rusqlite::Result<()> {
    let mut st = conn.prepare(&format!("PRAGMA incremental_vacuum({n})"))?;
    let mut rows = st.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

/// Converts a database created before `auto_vacuum = INCREMENTAL` (see `open_connection`): the
/// mode takes effect only with a `VACUUM`, which rewrites the whole file. Done at start, before
/// the writer's first commit, when the file is small enough for that to be quick or a quarter
/// of it is free pages; otherwise at a later start. A failure leaves the database as it was.
fn convert_to_incremental(conn: &rusqlite::Connection) {
    const INCREMENTAL: i64 = 2;
    let (mode, pages, free, page) = match (
        pragma_i64(conn, "auto_vacuum"),
        pragma_i64(conn, "page_count"),
        pragma_i64(conn, "freelist_count"),
        pragma_i64(conn, "page_size"),
    ) {
        (Ok(m), Ok(n), Ok(f), Ok(p)) => (m, n, f, p),
        _ => return,
    };
    if mode == INCREMENTAL || (pages * page > CONVERT_UP_TO && free * 4 < pages) {
        return;
    }
    let started = Instant::now();
    let done = conn
        .execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
        .and_then(|()| pragma_i64(conn, "auto_vacuum"));
    match done {
        Ok(INCREMENTAL) => {
            checkpoint(conn, "TRUNCATE");
            tracing::info!(
                bytes = pages * page,
                free_bytes = free * page,
                millis = started.elapsed().as_millis() as u64,
                "database converted to incremental vacuum: free pages now go back to the file system"
            );
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "converting the database to incremental vacuum failed; it keeps its free pages")
        }
    }
}

/// Under load: `PASSIVE` checkpoints back to back while each copies what was appended during
/// the one before, until one finds the WAL fully copied. The writer restarts the WAL from its
/// beginning on its next commit, but only if that commit began after the checkpoint ended; a
/// writer that never pauses would keep the file growing. So when the file has grown past
/// the limit ([`WAL_SIZE_LIMIT`]) anyway, the writer is asked to restart it itself between two batches
/// ([`Checkpointer::restart_if_asked`]): the bulk is copied by then, so that costs it the copy of
/// the last few pages.
fn catch_up(conn: &rusqlite::Connection, wal: &Path, restart: &AtomicBool, wal_limit: i64) {
    for _ in 0..CATCH_UP_ROUNDS {
        if checkpoint(conn, "PASSIVE") {
            break;
        }
    }
    let size = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    if size > wal_limit as u64 {
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
    use super::{pragma_i64, reclaim, KEEP_FREE};
    use crate::directory::tempdir;
    use crate::{Store, Writer};

    fn db_size(store: &Store) -> u64 {
        std::fs::metadata(store.db_path()).unwrap().len()
    }

    /// Writes `mib` MiB of message bodies in `mib` commits, then removes them all.
    async fn fill_and_remove(writer: &Writer, mib: usize) {
        for commit in 0..mib {
            writer
                .run(false, move |tx| {
                    let mut st =
                        tx.prepare_cached("INSERT INTO message_bodies(id, data) VALUES (?1, ?2)")?;
                    for i in 0..4 {
                        st.execute(rusqlite::params![
                            format!("{commit}-{i}"),
                            vec![0xa5u8; 256 * 1024]
                        ])?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
        }
        writer
            .run(false, |tx| {
                tx.execute("DELETE FROM message_bodies", [])?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Issue #11 item 7: 24 MiB written and removed leave a file of about the pages kept for
    /// reuse, not of the largest backlog it held.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn freed_pages_leave_the_database_file() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let mode = store.read(|c| Ok(pragma_i64(c, "auto_vacuum")?)).unwrap();
        assert_eq!(
            mode, 2,
            "a new database is created in incremental vacuum mode"
        );
        let (writer, thread) = Writer::start(&store).unwrap();
        fill_and_remove(&writer, 24).await;
        // The writer stops; its checkpoint thread reclaims and checkpoints a last time.
        drop(writer);
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
        let size = db_size(&store);
        assert!(
            size <= (KEEP_FREE + 1024 * 1024) as u64,
            "the database file kept {size} bytes after 24 MiB were removed"
        );
    }

    /// A reclaim that is told to stop (a commit came in) hands nothing back.
    #[test]
    fn reclaim_gives_way_to_a_commit() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let conn = crate::open_connection(store.db_path()).unwrap();
        conn.execute_batch(
            "CREATE TABLE filler(data BLOB);
             WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 4096)
             INSERT INTO filler SELECT zeroblob(4000) FROM r;
             DELETE FROM filler;",
        )
        .unwrap();
        let free = pragma_i64(&conn, "freelist_count").unwrap();
        assert!(free * 4096 > KEEP_FREE, "{free} free pages");
        assert_eq!(reclaim(&conn, &mut || true), 0);
        assert_eq!(pragma_i64(&conn, "freelist_count").unwrap(), free);
        // Left alone, it hands back all but the pages kept for reuse.
        assert!(reclaim(&conn, &mut || false) > 0);
        let page = pragma_i64(&conn, "page_size").unwrap();
        assert_eq!(
            pragma_i64(&conn, "freelist_count").unwrap(),
            KEEP_FREE / page
        );
    }

    /// A database made before incremental vacuum (auto_vacuum NONE) is converted when the writer
    /// starts, and its free pages leave the file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_older_database_is_converted_at_start() {
        let d = tempdir::Dir::new();
        drop(Store::open(d.path()).unwrap());
        let path = d.path().join("rampart.db");
        // Rewrite it as an older Rampart left it: auto_vacuum NONE, a large free list.
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(
                "PRAGMA auto_vacuum = NONE; VACUUM;
                 CREATE TABLE filler(data BLOB);
                 WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 4096)
                 INSERT INTO filler SELECT zeroblob(4000) FROM r;
                 DROP TABLE filler;
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .unwrap();
            assert_eq!(pragma_i64(&c, "auto_vacuum").unwrap(), 0);
        }
        let before = std::fs::metadata(&path).unwrap().len();
        assert!(before > 16 * 1024 * 1024, "{before}");
        let store = Store::open(d.path()).unwrap();
        let (writer, thread) = Writer::start(&store).unwrap();
        // Asked on a connection of its own: one open before the conversion answers from its
        // cache until its next transaction.
        let c = rusqlite::Connection::open(&path).unwrap();
        assert_eq!(pragma_i64(&c, "auto_vacuum").unwrap(), 2);
        assert!(db_size(&store) < 1024 * 1024, "{} bytes", db_size(&store));
        drop(writer);
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
    }

    fn wal_size(store: &Store) -> u64 {
        let mut p = store.db_path().as_os_str().to_owned();
        p.push("-wal");
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }

    /// A burst of commits (80 MB written) leaves a WAL bounded by the checkpoints made during the
    /// burst, and once the burst is over the WAL file is emptied. The limit is 4 MiB here, not
    /// [`super::WAL_SIZE_LIMIT`], so that the burst passes it many times over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wal_stays_bounded_under_a_burst_and_empties_when_idle() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let (writer, thread) = Writer::start_with_wal_limit(&store, 4 * 1024 * 1024).unwrap();
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
