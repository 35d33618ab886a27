//! The one writer: a thread that owns the write connection and commits in groups.
//!
//! Callers send operations (closures over a transaction). The thread takes every operation that
//! is waiting, runs each inside a savepoint (a failing one is rolled back alone), fsyncs the
//! message directory once if any operation added a message file, commits once, and only then
//! answers the callers. Under load one commit serves many messages; alone, a message waits for
//! nothing but its own commit.
//!
//! Fire-and-forget operations (trace events) wait a little for company: a batch holding only
//! those lingers up to [`LINGER`] for an operation somebody waits on, so the events a session
//! sends just before its message ride in that message's commit instead of taking a commit (and
//! an fsync) of their own on its critical path. Trace events were never durable at the moment
//! they are sent; this widens that window by at most [`LINGER`].
//!
//! Each operation's savepoint has a price: SQLite copies every page the operation changes
//! for the first time within it (index leaves the whole batch shares, over and over) into the
//! savepoint's journal. An operation that may safely run twice (no effect outside its
//! transaction; [`Writer::run_repeatable`]) therefore shares one savepoint with the repeatable
//! operations next to it; when one of them fails, that savepoint is rolled back, those before
//! it run again under a savepoint of their own and those after it as a new group, so the
//! failing one is still the only one undone. Queueing a
//! message is such an operation (issue 23: a savepoint per message was about a tenth of the
//! writer's CPU at 50 sessions).
//!
//! Trace events do not go through the channel one by one: they are appended to a shared list
//! that the thread empties into each commit, and only the first event of an empty list wakes
//! the thread (to start its linger). A lone session sends about seven events per message
//! (connect, HELO, MAIL, RCPT, queued, disconnect, …); each used to wake this thread, which
//! then went back to sleep to linger, a thread wake-up and a timer each time, on the way of
//! the client's next command (issue 23). At most [`TRACE_DEPTH`] events wait at once: past
//! that, senders wait for the next commit, as they would for room in the channel.

use crate::trace::Deferred;
use crate::{sync_dir, Result, StoreError, TraceEvent};
use rusqlite::Transaction;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Once = Box<dyn FnOnce(&Transaction) -> Result<()> + Send>;
type Repeatable = Box<dyn Fn(&Transaction) -> Result<()> + Send>;

/// What an operation runs: once, or (repeatable) as often as its savepoint needs.
enum OpFn {
    Once(Once),
    Repeatable(Repeatable),
}
type Done = Option<oneshot::Sender<Result<()>>>;

/// What the channel carries: an operation, or word that trace events are waiting in the list.
enum Msg {
    Op(Op),
    Traces,
}

/// Trace events waiting for the next commit, and the room left for more.
struct Traces {
    waiting: std::sync::Mutex<Vec<TraceEvent>>,
    room: tokio::sync::Semaphore,
}

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
/// Longest a batch of fire-and-forget operations waits for an operation somebody waits on.
const LINGER: std::time::Duration = std::time::Duration::from_millis(20);
/// Trace events that may wait for a commit before senders are held back.
const TRACE_DEPTH: usize = 16 * 1024;

/// Handle to the writer thread. Cheap to clone; the thread ends when every handle is dropped.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    traces: Arc<Traces>,
}

impl Writer {
    /// Starts the writer thread for the store's database.
    pub fn start(store: &crate::Store) -> Result<(Writer, std::thread::JoinHandle<()>)> {
        Self::start_with_wal_limit(store, crate::checkpoint::WAL_SIZE_LIMIT)
    }

    /// [`Writer::start`] with another WAL size limit (tests use a small one).
    pub(crate) fn start_with_wal_limit(
        store: &crate::Store,
        wal_limit: i64,
    ) -> Result<(Writer, std::thread::JoinHandle<()>)> {
        let mut conn = crate::open_writer_connection(store.db_path())?;
        // The WAL is checkpointed by its own thread, never on the commit path (see
        // [`crate::checkpoint`]); when the WAL is reset it is cut back to this size.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", wal_limit)?;
        let checkpointer = crate::checkpoint::Checkpointer::start(store, wal_limit)?;
        let dir: PathBuf = store.messages_dir();
        let (tx, mut rx) = mpsc::channel::<Msg>(CHANNEL_DEPTH);
        let traces = Arc::new(Traces {
            waiting: std::sync::Mutex::new(Vec::new()),
            room: tokio::sync::Semaphore::new(TRACE_DEPTH),
        });
        let pending = traces.clone();
        let handle = std::thread::Builder::new()
            .name("rampart-writer".into())
            .spawn(move || {
                // The thread's own clock for the linger; it runs nothing else. Without one
                // (it could not be made) batches are committed at once, as before.
                let clock = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .ok();
                let mut batch = Vec::with_capacity(MAX_BATCH);
                let mut open = true;
                while open {
                    match rx.blocking_recv() {
                        Some(msg) => push(&mut batch, msg),
                        None => break,
                    }
                    take_waiting(&mut rx, &mut batch);
                    if let Some(clock) = clock.as_ref() {
                        // Until an operation somebody waits on arrives, or the linger ends: a
                        // fire-and-forget one arriving meanwhile does not end it.
                        let until = tokio::time::Instant::now() + LINGER;
                        while open && batch.iter().all(|op| op.done.is_none()) {
                            // The timer must be made inside the clock's context.
                            let next = clock.block_on(async {
                                tokio::time::timeout_at(until, rx.recv()).await
                            });
                            match next {
                                Ok(Some(msg)) => {
                                    push(&mut batch, msg);
                                    take_waiting(&mut rx, &mut batch);
                                }
                                Ok(None) => open = false,
                                Err(_) => break,
                            }
                        }
                    }
                    let events = pending.take();
                    if batch.is_empty() && events.is_empty() {
                        continue;
                    }
                    commit_batch(&mut conn, &dir, &events, &mut batch);
                    pending.room.add_permits(events.len());
                    checkpointer.committed();
                    checkpointer.restart_if_asked(&conn);
                }
                // Events sent after the last commit, when every handle was gone.
                let events = pending.take();
                if !events.is_empty() {
                    commit_batch(&mut conn, &dir, &events, &mut batch);
                    checkpointer.committed();
                }
                // Last, with nothing left to commit: the WAL is folded into the database.
                checkpointer.stop();
            })
            .map_err(|e| StoreError::Io {
                path: "writer thread".into(),
                source: e,
            })?;
        Ok((Writer { tx, traces }, handle))
    }

    /// Runs `f` in the next group commit and waits until that commit is durable.
    pub async fn run<F>(&self, sync_dir: bool, f: F) -> Result<()>
    where
        F: FnOnce(&Transaction) -> Result<()> + Send + 'static,
    {
        self.run_op(sync_dir, OpFn::Once(Box::new(f))).await
    }

    /// As [`Writer::run`], for an operation that may run more than once in the same commit:
    /// its only effect is on the transaction, which is rolled back to before it when it runs
    /// again. It then shares a savepoint with the repeatable operations next to it.
    pub async fn run_repeatable<F>(&self, sync_dir: bool, f: F) -> Result<()>
    where
        F: Fn(&Transaction) -> Result<()> + Send + 'static,
    {
        self.run_op(sync_dir, OpFn::Repeatable(Box::new(f))).await
    }

    async fn run_op(&self, sync_dir: bool, run: OpFn) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.queue(Op {
            run,
            sync_dir,
            done: Some(done),
        })
        .await?;
        wait.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` in the next group commit without waiting for that commit: it is committed no
    /// later than any operation sent after it (the channel keeps their order). Waits only for
    /// room in the channel. A failure is logged by the writer, as for every operation.
    pub async fn send<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce(&Transaction) -> Result<()> + Send + 'static,
    {
        self.queue(Op {
            run: OpFn::Once(Box::new(f)),
            sync_dir: false,
            done: None,
        })
        .await
    }

    /// Puts `op` in the channel, waiting for room.
    async fn queue(&self, op: Op) -> Result<()> {
        self.tx
            .send(Msg::Op(op))
            .await
            .map_err(|_| StoreError::Closed)
    }

    /// AL-3.1: records a trace event in the next commit, without waiting for it (only for
    /// room, when [`TRACE_DEPTH`] events already wait). Its log line is written here, on the
    /// caller's thread: a session's event says what happened, whatever becomes of its row, and
    /// the writer thread, which every commit waits for, does not format it (as the PostgreSQL
    /// store's `record` does).
    pub async fn trace(&self, event: TraceEvent) {
        event.log();
        match self.traces.room.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => {
                tracing::warn!("trace event dropped: the writer has stopped");
                return;
            }
        }
        let first = {
            let mut waiting = rampart_sync::lock(&self.traces.waiting);
            waiting.push(event);
            waiting.len() == 1
        };
        // The first event of an empty list wakes the thread; the others find it awake (or
        // lingering) and ride in the same commit. A full channel means the thread is busy and
        // empties the list at its next commit anyway.
        if first {
            let _ = self.tx.try_send(Msg::Traces);
        }
    }
}

impl Traces {
    fn take(&self) -> Vec<TraceEvent> {
        std::mem::take(&mut *rampart_sync::lock(&self.waiting))
    }
}

fn push(batch: &mut Vec<Op>, msg: Msg) {
    if let Msg::Op(op) = msg {
        batch.push(op);
    }
}

/// Moves the operations already waiting into the batch, up to [`MAX_BATCH`].
fn take_waiting(rx: &mut mpsc::Receiver<Msg>, batch: &mut Vec<Op>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(msg) => push(batch, msg),
            Err(_) => break,
        }
    }
}

fn commit_batch(
    conn: &mut rusqlite::Connection,
    dir: &std::path::Path,
    events: &[TraceEvent],
    batch: &mut Vec<Op>,
) {
    // The store's commit latency (issue 19 metrics): read by the metrics layer on this target.
    let started = std::time::Instant::now();
    let ops = batch.len() + events.len();
    let mut results: Vec<(Done, Result<()>)> = Vec::with_capacity(batch.len());
    // The log lines of the events the operations insert wait for the commit (trace.rs).
    let held = Deferred::start();
    let outcome = (|| -> Result<()> {
        if batch.iter().any(|op| op.sync_dir) {
            sync_dir(dir)?;
        }
        // IMMEDIATE: the write lock is taken at BEGIN, waiting out the busy timeout for any
        // other writer (an administrative command, a checkpoint). A deferred transaction that
        // read first and then wrote would instead fail at once with SQLITE_BUSY when another
        // connection had committed meanwhile, failing every operation of the batch.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // AL-3.1: the trace events sent before the operations (each one statement; a failing
        // one is logged and leaves the others). Their log lines were written when they were
        // sent ([`Writer::trace`]): they say what happened in a session, stored or not.
        for e in events {
            if let Err(e) = e.insert_row(&tx) {
                tracing::error!(error = %e, "trace event not recorded");
            }
        }
        let mut ops = batch.drain(..).peekable();
        while let Some(op) = ops.next() {
            match op.run {
                OpFn::Once(f) => {
                    let r = run_in_savepoint(&tx, |tx| f(tx));
                    if let Err(e) = &r {
                        tracing::error!(error = %e, "store operation failed");
                    }
                    results.push((op.done, r));
                }
                OpFn::Repeatable(f) => {
                    let mut group = vec![(op.done, f)];
                    while let Some(next) = ops.next_if(|o| matches!(o.run, OpFn::Repeatable(_))) {
                        if let OpFn::Repeatable(f) = next.run {
                            group.push((next.done, f));
                        }
                    }
                    run_repeatables(&tx, group, &mut results);
                }
            }
            if tx.is_autocommit() {
                // SQLite rolled the whole transaction back after an error (SQLITE_FULL, an
                // I/O error): every operation of the batch is undone, and one run now would
                // commit on its own. The batch fails as that operation did; the operations
                // not run yet are answered with it.
                for op in ops.by_ref() {
                    results.push((op.done, Ok(())));
                }
                let lost = results
                    .iter()
                    .rev()
                    .find_map(|(_, r)| r.as_ref().err())
                    .map(StoreError::again)
                    .unwrap_or_else(|| StoreError::Invalid("transaction rolled back".into()));
                return Err(lost);
            }
        }
        tx.commit()?;
        Ok(())
    })();
    tracing::debug!(
        target: "rampart::store",
        seconds = started.elapsed().as_secs_f64(),
        ops,
        "group commit"
    );
    match outcome {
        Ok(()) => {
            held.committed();
            for (done, r) in results {
                if let Some(done) = done {
                    let _ = done.send(r);
                }
            }
        }
        Err(e) => {
            // Nothing of this batch is durable: every caller hears so (and answers 451, or 452
            // when the disk is full), and the lines of the events its operations inserted
            // ("queued", "delivered") are dropped with them.
            drop(held);
            tracing::error!(error = %e, "group commit failed");
            keep_events(conn, events);
            for (done, _) in results
                .into_iter()
                .chain(batch.drain(..).map(|op| (op.done, Ok(()))))
            {
                if let Some(done) = done {
                    let _ = done.send(Err(e.context("commit failed")));
                }
            }
        }
    }
}

/// Runs repeatable operations under one savepoint. When one fails, the savepoint is rolled
/// back: those before it run again under a savepoint of their own (their trace lines are not
/// logged a second time), the failing one is answered with its error, and those after it go
/// on as a new group. Each caller thus hears what its own operation gave, as with a savepoint
/// each.
fn run_repeatables(
    tx: &Transaction,
    group: Vec<(Done, Repeatable)>,
    results: &mut Vec<(Done, Result<()>)>,
) {
    let (dones, ops): (Vec<Done>, Vec<Repeatable>) = group.into_iter().unzip();
    let mut outcome: Vec<Result<()>> = Vec::with_capacity(ops.len());
    while outcome.len() < ops.len() {
        let from = outcome.len();
        let mut failed = None;
        let together = run_in_savepoint(tx, |tx| {
            for (i, f) in ops.iter().enumerate().skip(from) {
                if let Err(e) = f(tx) {
                    failed = Some(i);
                    return Err(e);
                }
            }
            Ok(())
        });
        match (together, failed) {
            (Ok(()), _) => outcome.resize_with(ops.len(), || Ok(())),
            (Err(e), Some(k)) => {
                tracing::error!(error = %e, "store operation failed");
                if tx.is_autocommit() {
                    // The transaction itself is gone (see commit_batch): nothing runs again.
                    let rest = Err(e);
                    outcome.resize_with(ops.len(), || copy(&rest));
                    break;
                }
                if k > from {
                    let again =
                        run_in_savepoint(tx, |tx| ops[from..k].iter().try_for_each(|f| f(tx)));
                    for _ in from..k {
                        outcome.push(copy(&again));
                    }
                }
                outcome.push(Err(e));
            }
            (Err(e), None) => {
                // The savepoint itself failed: nothing of the rest was kept.
                tracing::error!(error = %e, "store operations failed");
                let rest = Err(e);
                outcome.resize_with(ops.len(), || copy(&rest));
            }
        }
    }
    results.extend(dones.into_iter().zip(outcome));
}

/// One result for several callers.
fn copy(r: &Result<()>) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) => Err(e.again()),
    }
}

/// The trace events of a batch whose commit failed, tried again alone: a session's events
/// (connect, MAIL, the refusal that follows) are kept when only an operation's rows could not
/// be. With the disk full these fail too, and the log lines already written are all that is
/// left of them.
fn keep_events(conn: &mut rusqlite::Connection, events: &[TraceEvent]) {
    if events.is_empty() {
        return;
    }
    let kept = (|| -> Result<()> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for e in events {
            e.insert_row(&tx)?;
        }
        Ok(tx.commit()?)
    })();
    if let Err(e) = kept {
        tracing::error!(error = %e, events = events.len(), "trace events not recorded");
    }
}

fn run_in_savepoint(tx: &Transaction, f: impl FnOnce(&Transaction) -> Result<()>) -> Result<()> {
    // Prepared once per connection, not parsed again for every operation.
    tx.prepare_cached("SAVEPOINT op")?.execute([])?;
    let logged = Deferred::mark();
    match f(tx) {
        Ok(()) => {
            tx.prepare_cached("RELEASE op")?.execute([])?;
            Ok(())
        }
        Err(e) => {
            // The rows go, and the log lines held for them.
            Deferred::undo_to(logged);
            if tx.is_autocommit() {
                // SQLite already rolled back the whole transaction, savepoint and all.
                return Err(e);
            }
            tx.execute_batch("ROLLBACK TO op; RELEASE op")?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::tempdir;
    use crate::Store;

    fn events_of(store: &Store) -> Vec<String> {
        store
            .read(|c| {
                let mut st = c.prepare("SELECT detail FROM trace ORDER BY id")?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .unwrap()
    }

    /// Holds the writer thread inside an operation until the returned sender is used; the
    /// handle ends with that operation.
    async fn hold(
        writer: &Writer,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<()>>,
    ) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (entered_tx, entered) = oneshot::channel();
        let writer = writer.clone();
        let busy = tokio::spawn(async move {
            writer
                .run(false, move |_| {
                    let _ = entered_tx.send(());
                    let _ = held.recv();
                    Ok(())
                })
                .await
        });
        entered.await.unwrap();
        (release, busy)
    }

    /// An operation sent without waiting returns while the writer is busy elsewhere, and is
    /// committed no later than an operation sent after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sent_operation_does_not_wait_and_precedes_later_ones() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let (writer, thread) = Writer::start(&store).unwrap();
        // The writer thread is held inside an operation until `release` is sent.
        let (release, busy) = hold(&writer).await;
        let sent = writer.send(|tx| {
            tx.execute(
                "INSERT INTO domains(name, created) VALUES ('sent.test', 0)",
                [],
            )?;
            Ok(())
        });
        tokio::time::timeout(std::time::Duration::from_secs(30), sent)
            .await
            .expect("send waited for the busy writer")
            .unwrap();
        assert!(!store.is_local_domain("sent.test").unwrap());
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        writer.run(false, |_| Ok(())).await.unwrap();
        assert!(store.is_local_domain("sent.test").unwrap());
        drop(writer);
        thread.join().unwrap();
    }

    /// Repeatable operations share a savepoint; when one of them fails, those before it are
    /// run again on their own and kept, the failing one is undone alone, and those after it
    /// run once more as a group: each caller hears its own outcome.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_repeatable_operation_is_undone_alone() {
        use std::future::Future;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let (writer, thread) = Writer::start(&store).unwrap();
        // The writer is held inside an operation while the others queue up: one batch.
        let (release, busy) = hold(&writer).await;
        let runs: Vec<Arc<AtomicUsize>> = (0..4).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        // Each operation is polled once here, which puts it in the channel before the next is
        // made: one batch, in this order. (Spawned tasks and a look at the channel's capacity
        // were not enough: a slot is counted when it is reserved, and a task preempted between
        // reserving and sending left its operation for the next batch on a loaded machine.)
        let mut waits = Vec::new();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for (i, name) in ["a", "b", "bad", "c"].into_iter().enumerate() {
            let runs = runs[i].clone();
            let mut op = Box::pin(writer.run_repeatable(false, move |tx| {
                runs.fetch_add(1, Ordering::SeqCst);
                tx.execute(
                    "INSERT INTO domains(name, created) VALUES (?1, 0)",
                    [format!("{name}.test")],
                )?;
                if name == "bad" {
                    return Err(StoreError::Invalid("refused on purpose".into()));
                }
                Ok(())
            }));
            assert!(op.as_mut().poll(&mut cx).is_pending(), "{name}");
            waits.push(op);
        }
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        let mut outcomes = Vec::new();
        for w in waits {
            outcomes.push(w.await.is_ok());
        }
        assert_eq!(outcomes, vec![true, true, false, true]);
        for (name, kept) in [("a", true), ("b", true), ("bad", false), ("c", true)] {
            assert_eq!(
                store.is_local_domain(&format!("{name}.test")).unwrap(),
                kept,
                "{name}"
            );
        }
        // a and b: together, then again on their own; the failing one once; c once, as the
        // next group.
        let counts: Vec<usize> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
        assert_eq!(counts, vec![2, 2, 1, 1]);
        drop(writer);
        thread.join().unwrap();
    }

    /// An operation of the batch, as the channel brings it.
    fn op(run: OpFn) -> (Op, oneshot::Receiver<Result<()>>) {
        let (done, wait) = oneshot::channel();
        let op = Op {
            run,
            sync_dir: false,
            done: Some(done),
        };
        (op, wait)
    }

    /// An operation that records `detail` in the trace and then fails when `fail` says so.
    fn tracing_op(detail: &'static str, fail: bool) -> Repeatable {
        Box::new(move |tx| {
            TraceEvent::new("delivered", detail).insert(tx)?;
            if fail {
                return Err(StoreError::Invalid("refused on purpose".into()));
            }
            Ok(())
        })
    }

    /// AL-3.1, docs/LOGGING.md: the log says "delivered" only of a row that was committed. The
    /// lines of an operation rolled back to its savepoint go with its rows; an operation run
    /// again after a neighbour failed is logged once; a session's events are logged whatever
    /// happens to the operations beside them.
    #[test]
    fn a_trace_line_is_logged_only_with_its_committed_row() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let mut conn = crate::open_writer_connection(store.db_path()).unwrap();
        let (a, wait_a) = op(OpFn::Repeatable(tracing_op("kept a", false)));
        let (bad, wait_bad) = op(OpFn::Repeatable(tracing_op("undone b", true)));
        let (c, wait_c) = op(OpFn::Repeatable(tracing_op("kept c", false)));
        let (once, wait_once) = op(OpFn::Once(Box::new(|tx| tracing_op("undone d", true)(tx))));
        let mut batch = vec![a, bad, c, once];
        let events = [TraceEvent::new("connect", "session event")];
        let log = crate::conformance::MailLog::start();
        commit_batch(&mut conn, &store.messages_dir(), &events, &mut batch);
        let outcomes: Vec<bool> = [wait_a, wait_bad, wait_c, wait_once]
            .into_iter()
            .map(|w| w.blocking_recv().unwrap().is_ok())
            .collect();
        assert_eq!(outcomes, [true, false, true, false]);
        // Each line once: "kept a" ran twice (with b, then again alone) and is logged once.
        // The session's event was logged when it was sent (Writer::trace), not here.
        assert_eq!(log.details(), ["kept a", "kept c"]);
        assert_eq!(events_of(&store), ["session event", "kept a", "kept c"]);
    }

    /// A batch whose commit fails: its callers hear so, the lines of the events its operations
    /// inserted are not written, and the session's events are stored all the same (in a
    /// transaction of their own). The commit is made to fail by a foreign key
    /// checked only at COMMIT (`defer_foreign_keys`).
    #[test]
    fn a_failed_commit_logs_none_of_its_operations_events() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let mut conn = crate::open_writer_connection(store.db_path()).unwrap();
        let (doomed, wait) = op(OpFn::Once(Box::new(|tx| {
            TraceEvent::new("queued", "doomed").insert(tx)?;
            tx.execute_batch(
                "PRAGMA defer_foreign_keys = ON;
                 INSERT INTO users(address, domain, password_hash, created)
                 VALUES ('x@nowhere.test', 'nowhere.test', '-', 0);",
            )?;
            Ok(())
        })));
        let mut batch = vec![doomed];
        let events = [TraceEvent::new("connect", "session event")];
        let log = crate::conformance::MailLog::start();
        commit_batch(&mut conn, &store.messages_dir(), &events, &mut batch);
        let err = wait.blocking_recv().unwrap().unwrap_err();
        assert!(err.to_string().starts_with("commit failed"), "{err}");
        assert!(!err.is_full(), "{err}");
        assert_eq!(log.details(), Vec::<String>::new());
        assert_eq!(events_of(&store), ["session event"]);
    }

    /// A database that cannot grow (here `max_page_count`, SQLite's own limit, standing in
    /// for a full disk) fails the operation as [`StoreError::Full`], which SMTP answers
    /// `452 4.3.1`; the writer goes on once there is room again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_database_is_reported_as_full() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let (writer, thread) = Writer::start(&store).unwrap();
        /// Grows the database past a page limit set just before, then lifts the limit.
        fn fill(tx: &Transaction) -> Result<()> {
            let pages: i64 = tx.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            tx.execute_batch(&format!("PRAGMA max_page_count = {pages}"))?;
            let grown = tx.execute(
                "INSERT INTO domains(name, created) VALUES (?1, 0)",
                [&"x".repeat(64 * 1024)],
            );
            tx.execute_batch("PRAGMA max_page_count = 1073741823")?;
            grown?;
            Ok(())
        }
        let err = writer.run(false, fill).await.unwrap_err();
        assert!(err.is_full(), "{err}");
        // SQLite rolls the whole transaction back on SQLITE_FULL: the operations after the
        // failing one in the same batch are not run outside it (each would commit on its own
        // while its caller heard of a failure), and every caller hears that the disk is full.
        let mut conn = crate::open_writer_connection(store.db_path()).unwrap();
        let (full, wait_full) = op(OpFn::Once(Box::new(fill)));
        let (after, wait_after) = op(OpFn::Repeatable(Box::new(|tx| {
            tx.execute(
                "INSERT INTO domains(name, created) VALUES ('after.test', 0)",
                [],
            )?;
            Ok(())
        })));
        let events = [TraceEvent::new("connect", "session event")];
        tokio::task::block_in_place(|| {
            commit_batch(
                &mut conn,
                &store.messages_dir(),
                &events,
                &mut vec![full, after],
            );
        });
        for wait in [wait_full, wait_after] {
            let err = wait.await.unwrap().unwrap_err();
            assert!(err.is_full(), "{err}");
        }
        assert!(!store.is_local_domain("after.test").unwrap());
        // The session's event is kept by a transaction of its own.
        assert!(events_of(&store).contains(&"session event".to_string()));
        writer
            .run(false, |tx| {
                tx.execute(
                    "INSERT INTO domains(name, created) VALUES ('room.test', 0)",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(store.is_local_domain("room.test").unwrap());
        drop(writer);
        thread.join().unwrap();
    }

    /// A session's event is logged when it is sent, on the sender's thread, before the writer
    /// has stored it: the writer thread, which every commit waits for, formats no such line.
    #[tokio::test]
    async fn a_session_event_is_logged_by_its_sender() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let (writer, thread) = Writer::start(&store).unwrap();
        let log = crate::conformance::MailLog::start();
        // Held inside an operation, the writer cannot have stored the event yet.
        let (release, busy) = hold(&writer).await;
        writer.trace(TraceEvent::new("connect", "sent")).await;
        assert_eq!(log.details(), ["sent"]);
        assert!(events_of(&store).is_empty());
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        writer.run(false, |_| Ok(())).await.unwrap();
        assert_eq!(events_of(&store), ["sent"]);
        drop(writer);
        thread.join().unwrap();
    }

    /// Trace events sent just before an operation somebody waits on are durable once that
    /// operation's commit is: they share it, or went in an earlier one.
    #[tokio::test]
    async fn trace_events_ride_in_the_next_waited_commit() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let (writer, thread) = Writer::start(&store).unwrap();
        writer.trace(TraceEvent::new("connect", "first")).await;
        writer.trace(TraceEvent::new("mail", "second")).await;
        writer
            .run(false, |tx| {
                tx.execute(
                    "INSERT INTO domains(name, created) VALUES ('example.test', 0)",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(events_of(&store), vec!["first", "second"]);
        assert!(store.is_local_domain("example.test").unwrap());
        drop(writer);
        thread.join().unwrap();
    }

    /// A lone trace event is committed when the linger ends, or at the latest when the writer
    /// stops: nothing sent is dropped.
    #[tokio::test]
    async fn a_lone_trace_event_is_committed_before_the_writer_ends() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let (writer, thread) = Writer::start(&store).unwrap();
        writer.trace(TraceEvent::new("disconnect", "last")).await;
        drop(writer);
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
        assert_eq!(events_of(&store), vec!["last"]);
    }

    /// Another connection writing at the same time (an administrative command) makes the
    /// writer wait for the lock, never fail: each operation reads, then writes, and all of
    /// them land. With a deferred transaction, the read's snapshot went stale when the other
    /// connection committed, and the write failed at once with "database is locked".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_concurrent_writer_makes_the_writer_wait_not_fail() {
        let d = tempdir::Dir::new();
        let store = Store::open(d.path()).unwrap();
        let (writer, thread) = Writer::start(&store).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let other = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let conn = store.admin_connection().unwrap();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    conn.execute(
                        "INSERT INTO domains(name, created) VALUES (?1, 0)",
                        [format!("other{n}.test")],
                    )
                    .unwrap();
                    n += 1;
                    // An administrator's command writes now and then, not in a tight loop that
                    // would starve every other connection's busy wait.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            })
        };
        let mut failed = 0;
        for i in 0..300 {
            let r = writer
                .run(false, move |tx| {
                    let before: i64 =
                        tx.query_row("SELECT count(*) FROM domains", [], |r| r.get(0))?;
                    tx.execute(
                        "INSERT INTO domains(name, created) VALUES (?1, ?2)",
                        rusqlite::params![format!("w{i}.test"), before],
                    )?;
                    Ok(())
                })
                .await;
            if r.is_err() {
                failed += 1;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        other.join().unwrap();
        assert_eq!(failed, 0, "writer operations failed beside another writer");
        drop(writer);
        thread.join().unwrap();
    }
}
