//! A message as it arrives, until it is durable: in memory, in its file, or both.
//!
//! Without content checks a message goes to `messages/<id>` in [`SPOOL_BUFFER`] pieces as it
//! arrives: nothing will change it, so it is written once. With checks, the message is held in
//! memory whole ([`Store::spool`] with a [`MemoryBudget`]): the checks read it there, their changes
//! (the `[External]` tag, Authentication-Results) are made there, and it is written once when it
//! is finished — into the database with its rows when it is small ([`INLINE_MAX`]), else as a
//! file that is `fdatasync`'d. Only when the server-wide budget is spent does a message go to
//! disk while it arrives; it is then read back for the checks and, when changed, cut back and
//! rewritten in the same file.
//!
//! A spool removes its file when dropped unfinished, so a session that ends half-way, or a
//! message that is refused, leaves nothing behind and the session never handles paths itself.

use crate::{io_err, QueueId, Result, Store, StoreError};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes a spool keeps in memory before they are written out, when nothing holds it whole. A
/// held spool keeps this much without asking the [`MemoryBudget`], as every spool may.
pub const SPOOL_BUFFER: usize = 256 * 1024;

/// Largest message kept in the database rather than in a file of its own. A small message in a
/// file costs a file creation, an `fdatasync` and a directory `fsync` before its 250; in the
/// database it rides in the group commit's one WAL `fsync`. SQLite reads blobs of this size
/// faster than separate files, too.
pub const INLINE_MAX: usize = 128 * 1024;

/// The budget is taken in steps of this size, so a growing message asks it now and then.
const BUDGET_STEP: usize = 256 * 1024;

/// A finished spool: its size, and the message itself when it is kept in the database.
#[derive(Debug)]
pub struct Spooled {
    pub size: u64,
    /// `Some` for a message of at most [`INLINE_MAX`] bytes, which then has no file: it becomes
    /// durable with its rows ([`crate::Enqueue::inline`]).
    pub inline: Option<Vec<u8>>,
}

/// The bytes of message data every session of a server together may hold in memory beyond each
/// spool's own [`SPOOL_BUFFER`], while messages arrive and are checked. Cheap to clone; every
/// clone counts against the same total.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    inner: Arc<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    limit: usize,
    used: AtomicUsize,
    /// Messages that went to disk as they arrived because the budget was spent.
    spilled: AtomicU64,
}

impl MemoryBudget {
    pub fn new(limit_bytes: u64) -> MemoryBudget {
        MemoryBudget {
            inner: Arc::new(BudgetState {
                limit: usize::try_from(limit_bytes).unwrap_or(usize::MAX),
                used: AtomicUsize::new(0),
                spilled: AtomicU64::new(0),
            }),
        }
    }

    /// Takes `n` bytes if they fit under the limit.
    fn try_take(&self, n: usize) -> bool {
        let limit = self.inner.limit;
        self.inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= limit)
            })
            .is_ok()
    }

    /// Takes `n` bytes whatever the limit: memory already in use is counted as it is.
    fn force_take(&self, n: usize) {
        self.inner.used.fetch_add(n, Ordering::AcqRel);
    }

    fn give_back(&self, n: usize) {
        self.inner.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Counts one message sent to disk while arriving; returns how many have been so far.
    fn count_spill(&self) -> u64 {
        self.inner.spilled.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The part of a [`MemoryBudget`] one spool holds; given back when dropped.
struct Hold {
    budget: MemoryBudget,
    taken: usize,
}

impl Hold {
    /// Makes the hold cover `bytes`; false when the budget cannot.
    fn cover(&mut self, bytes: usize) -> bool {
        if bytes <= self.taken {
            return true;
        }
        let step = bytes.div_ceil(BUDGET_STEP).saturating_mul(BUDGET_STEP);
        // A whole step when there is room for it, else just what is needed.
        for want in [step, bytes] {
            if self.budget.try_take(want - self.taken) {
                self.taken = want;
                return true;
            }
        }
        false
    }

    /// Counts `bytes` already in memory, over the limit if need be.
    fn count(&mut self, bytes: usize) {
        if bytes > self.taken {
            self.budget.force_take(bytes - self.taken);
            self.taken = bytes;
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.budget.give_back(self.taken);
    }
}

/// One message being received. Blocking where it writes: call [`SpoolFile::flush`],
/// [`SpoolFile::read_back`] and (unless [`SpoolFile::stays_inline`]) [`SpoolFile::finish`] from
/// a blocking context.
pub struct SpoolFile {
    id: QueueId,
    path: PathBuf,
    file: Option<File>,
    /// What is not (yet) in the file: everything, while the message is held in memory.
    buf: Vec<u8>,
    /// Bytes in the file.
    written: u64,
    /// The file is to be cut back to this length before the next write: the message was
    /// replaced after its first bytes ([`SpoolFile::replace_after`]).
    cut_to: Option<u64>,
    /// Set while the message is held in memory whole: its share of the budget.
    hold: Option<Hold>,
}

impl Store {
    /// A spool for message `id`. With a budget it holds the whole message in memory for as long
    /// as the budget allows, so the checks read it and change it there and it is written once;
    /// without, it writes the message out as it arrives.
    pub fn spool(&self, id: &QueueId, hold: Option<&MemoryBudget>) -> SpoolFile {
        let mut spool = SpoolFile::new(self, id);
        spool.hold = hold.map(|b| Hold {
            budget: b.clone(),
            taken: 0,
        });
        spool
    }
}

impl SpoolFile {
    /// A spool that writes the message out as it arrives (see [`Store::spool`]).
    pub fn new(store: &Store, id: &QueueId) -> SpoolFile {
        SpoolFile {
            id: id.clone(),
            path: store.message_path(id),
            file: None,
            buf: Vec::with_capacity(16 * 1024),
            written: 0,
            cut_to: None,
            hold: None,
        }
    }

    /// A spool for message `id` as a file named by the id under `dir`, for a store that keeps
    /// bodies elsewhere once they are durable (the PostgreSQL store reads the file into the
    /// database at enqueue and removes it). With a budget it holds the message in memory as
    /// [`Store::spool`] does; the file is written only for a message larger than that, or than
    /// [`INLINE_MAX`] when it is finished.
    pub fn in_dir(dir: &std::path::Path, id: &QueueId, hold: Option<&MemoryBudget>) -> SpoolFile {
        SpoolFile {
            id: id.clone(),
            path: dir.join(&id.0),
            file: None,
            buf: Vec::with_capacity(16 * 1024),
            written: 0,
            cut_to: None,
            hold: hold.map(|b| Hold {
                budget: b.clone(),
                taken: 0,
            }),
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The in-memory buffer, for decoders that append to it directly.
    pub fn buffer_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// True when the buffer should be written out before more is pushed: it is full and the
    /// message is not held, or no longer can be.
    pub fn should_flush(&mut self) -> bool {
        if self.buf.len() < SPOOL_BUFFER {
            return false;
        }
        let Some(hold) = self.hold.as_mut() else {
            return true;
        };
        if hold.cover(self.buf.len() - SPOOL_BUFFER) {
            return false;
        }
        // The budget is spent: this message goes to disk from here on, and is read back once
        // for the checks. Dropping the hold gives its share back at once.
        let spilled = hold.budget.count_spill();
        self.hold = None;
        tracing::debug!(
            queue_id = %self.id,
            held = self.buf.len(),
            spilled,
            "message memory budget spent: spooling to disk while receiving"
        );
        true
    }

    /// The whole message when none of it has been written out: what the checks read, with no
    /// read-back.
    pub fn in_memory(&self) -> Option<&[u8]> {
        self.file.is_none().then_some(self.buf.as_slice())
    }

    /// Writes out what is buffered and reads the whole message back from its file: for a
    /// message that went to disk as it arrived.
    pub fn read_back(&mut self) -> Result<Vec<u8>> {
        if self.file.is_none() {
            return Ok(self.buf.clone());
        }
        self.flush()?;
        std::fs::read(&self.path).map_err(io_err(&self.path))
    }

    /// Keeps the first `keep` bytes (our Return-Path and Received lines) and puts `message` after
    /// them: the checks changed the message. Held in memory, it changes there; already in its
    /// file, the file is cut back to `keep` bytes at the next write. No I/O here.
    pub fn replace_after(&mut self, keep: usize, message: &[u8]) {
        let keep = keep as u64;
        if self.file.is_some() && keep <= self.written {
            self.cut_to = Some(keep);
            self.buf.clear();
        } else {
            let in_buf = keep.saturating_sub(self.written);
            self.buf
                .truncate(usize::try_from(in_buf).unwrap_or(usize::MAX));
        }
        self.buf.extend_from_slice(message);
        let beyond = self.buf.len().saturating_sub(SPOOL_BUFFER);
        if let Some(hold) = self.hold.as_mut() {
            hold.count(beyond);
        }
    }

    /// Writes the buffer to the file, creating it (owner-only) on first use.
    pub fn flush(&mut self) -> Result<()> {
        let file = match self.file.as_mut() {
            Some(f) => f,
            None => {
                use std::os::unix::fs::OpenOptionsExt;
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&self.path)
                    .map_err(io_err(&self.path))?;
                self.file.insert(f)
            }
        };
        if let Some(len) = self.cut_to.take() {
            file.set_len(len).map_err(io_err(&self.path))?;
            file.seek(SeekFrom::Start(len))
                .map_err(io_err(&self.path))?;
            self.written = len;
        }
        file.write_all(&self.buf).map_err(io_err(&self.path))?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// True when [`SpoolFile::finish`] will keep the message in memory for the database: it
    /// does no I/O then, and need not run on the blocking pool.
    pub fn stays_inline(&self) -> bool {
        self.file.is_none() && self.buf.len() <= INLINE_MAX
    }

    /// Finishes the message: a small one is handed back to be stored with its rows; a larger one
    /// is written out and its file `fdatasync`'d. The file is then the message's, and stays;
    /// on failure it is removed.
    pub fn finish(mut self) -> Result<Spooled> {
        if self.stays_inline() {
            let data = std::mem::take(&mut self.buf);
            return Ok(Spooled {
                size: data.len() as u64,
                inline: Some(data),
            });
        }
        self.flush()?;
        let synced = match self.file.as_ref() {
            Some(f) => f.sync_data().map_err(io_err(&self.path)),
            None => Err(StoreError::Invalid(format!("{}: not written", self.id))),
        };
        synced?;
        // Kept: from here the file belongs to the message (and to [`Store::enqueue`]).
        self.file = None;
        Ok(Spooled {
            size: self.written,
            inline: None,
        })
    }

    /// Drops the message: its file, if one was started, is removed.
    pub fn discard(self) {}
}

impl Drop for SpoolFile {
    /// An unfinished message leaves no file behind.
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::tempdir;

    fn store() -> (Store, tempdir::Dir) {
        let d = tempdir::Dir::new();
        (Store::open(d.path()).unwrap(), d)
    }

    fn used(b: &MemoryBudget) -> usize {
        b.inner.used.load(Ordering::Acquire)
    }

    const PREFIX: &[u8] = b"Return-Path: <a@example.org>\r\n";

    /// A spool with our prefix and `n` bytes of message, as the decoder fills it (checking
    /// whether to flush as it goes); returns the spool and the message.
    fn filled(store: &Store, budget: Option<&MemoryBudget>, n: usize) -> (SpoolFile, Vec<u8>) {
        let id = QueueId::generate();
        let mut spool = store.spool(&id, budget);
        spool.push(PREFIX);
        let message: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
        for chunk in message.chunks(8 * 1024) {
            spool.buffer_mut().extend_from_slice(chunk);
            if spool.should_flush() {
                spool.flush().unwrap();
            }
        }
        (spool, message)
    }

    fn files(store: &Store) -> usize {
        std::fs::read_dir(store.messages_dir()).unwrap().count()
    }

    #[test]
    fn a_held_message_stays_in_memory_and_is_written_once_with_its_change() {
        let (store, _d) = store();
        let budget = MemoryBudget::new(1 << 20);
        let (mut spool, message) = filled(&store, Some(&budget), 600 * 1024);
        assert_eq!(files(&store), 0, "nothing on disk while it is held");
        let all = spool.in_memory().unwrap();
        assert_eq!(&all[PREFIX.len()..], &message[..]);
        assert!(used(&budget) >= 600 * 1024 + PREFIX.len() - SPOOL_BUFFER);
        let mut changed = b"Subject: [External] x\r\n".to_vec();
        changed.extend_from_slice(&message);
        spool.replace_after(PREFIX.len(), &changed);
        let spooled = spool.finish().unwrap();
        assert!(spooled.inline.is_none());
        assert_eq!(used(&budget), 0, "given back when finished");
        let id_file = std::fs::read_dir(store.messages_dir())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let stored = std::fs::read(id_file).unwrap();
        assert_eq!(&stored[..PREFIX.len()], PREFIX);
        assert_eq!(&stored[PREFIX.len()..], &changed[..]);
        assert_eq!(spooled.size, stored.len() as u64);
    }

    #[test]
    fn a_spent_budget_sends_the_message_to_disk_and_a_change_cuts_the_same_file() {
        let (store, _d) = store();
        let budget = MemoryBudget::new(1);
        let (mut spool, message) = filled(&store, Some(&budget), 600 * 1024);
        assert!(spool.in_memory().is_none(), "on disk while arriving");
        assert_eq!(used(&budget), 0);
        let all = spool.read_back().unwrap();
        assert_eq!(&all[..PREFIX.len()], PREFIX);
        assert_eq!(&all[PREFIX.len()..], &message[..]);
        let changed = b"Subject: shorter\r\n\r\nbody\r\n";
        spool.replace_after(PREFIX.len(), changed);
        spool.finish().unwrap();
        let names: Vec<_> = std::fs::read_dir(store.messages_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(names.len(), 1);
        let stored = std::fs::read(&names[0]).unwrap();
        assert_eq!(
            stored,
            [PREFIX, &changed[..]].concat(),
            "cut back, not appended"
        );
    }

    #[test]
    fn a_small_held_message_goes_inline_and_the_budget_is_untouched() {
        let (store, _d) = store();
        let budget = MemoryBudget::new(1);
        let (spool, message) = filled(&store, Some(&budget), 1000);
        assert!(spool.stays_inline());
        let spooled = spool.finish().unwrap();
        assert_eq!(spooled.inline.unwrap()[PREFIX.len()..], message[..]);
        assert_eq!(files(&store), 0);
    }

    #[test]
    fn the_budget_is_shared_and_given_back_on_drop() {
        let (store, _d) = store();
        let budget = MemoryBudget::new(3 * BUDGET_STEP as u64);
        let (first, _) = filled(&store, Some(&budget), SPOOL_BUFFER + 2 * BUDGET_STEP);
        assert!(first.in_memory().is_some());
        // The second finds the budget nearly spent and goes to disk.
        let (second, _) = filled(&store, Some(&budget), SPOOL_BUFFER + 2 * BUDGET_STEP);
        assert!(second.in_memory().is_none());
        assert_eq!(files(&store), 1);
        drop(second);
        assert_eq!(files(&store), 0, "an unfinished spool leaves no file");
        drop(first);
        assert_eq!(used(&budget), 0);
        let (third, _) = filled(&store, Some(&budget), SPOOL_BUFFER + 2 * BUDGET_STEP);
        assert!(third.in_memory().is_some(), "the budget came back");
    }

    fn enqueue(id: &QueueId, spooled: Spooled) -> crate::Enqueue {
        crate::Enqueue {
            id: id.clone(),
            sender: "a@example.org".into(),
            size: spooled.size,
            message_id: None,
            return_path_len: PREFIX.len(),
            client: None,
            recipients: vec![crate::QueuedRecipient {
                address: "b@example.org".into(),
                local: false,
            }],
            events: Vec::new(),
            quarantine: None,
            inline: spooled.inline,
            deliver_local_now: false,
            junk: false,
            authenticated_from: None,
        }
    }

    /// A message whose commit fails was never accepted: the store removes its file, so no
    /// caller has to know where it is.
    #[tokio::test]
    async fn a_failed_enqueue_removes_its_file() {
        let (store, _d) = store();
        let (writer, _thread) = crate::Writer::start(&store).unwrap();
        // A small message is queued under an id; a large one under the same id cannot be.
        let (small, _) = filled(&store, None, 100);
        let id = small.id.clone();
        let spooled = small.finish().unwrap();
        store.enqueue(&writer, enqueue(&id, spooled)).await.unwrap();
        let mut large = store.spool(&id, None);
        large.push(PREFIX);
        large.push(&vec![b'x'; INLINE_MAX + 1]);
        let spooled = large.finish().unwrap();
        assert_eq!(files(&store), 1);
        assert!(store.enqueue(&writer, enqueue(&id, spooled)).await.is_err());
        assert_eq!(files(&store), 0, "the refused message's file is gone");
        // The message queued first is untouched.
        assert_eq!(
            store.message_bytes(&id, true).unwrap().len(),
            PREFIX.len() + 100
        );
    }

    #[test]
    fn without_a_budget_the_message_is_written_as_it_arrives() {
        let (store, _d) = store();
        let (mut spool, message) = filled(&store, None, 600 * 1024);
        assert!(spool.in_memory().is_none());
        assert_eq!(files(&store), 1);
        assert_eq!(&spool.read_back().unwrap()[PREFIX.len()..], &message[..]);
        spool.discard();
        assert_eq!(files(&store), 0);
    }
}
