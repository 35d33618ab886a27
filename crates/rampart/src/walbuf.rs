//! A SQLite VFS for the writer's connection that writes its WAL appends in fewer system calls.
//!
//! SQLite writes each WAL frame with two `pwrite` calls, the 24-byte frame header and then the
//! page, and a group commit of a dozen 10 KB messages is some 100 frames. On ext4 every write
//! call costs several microseconds whatever its size (the page-cache lookups and the file's
//! time stamps), so the writer thread spent more of its kernel time in `pwrite` than in the
//! commit's `fsync` (docs/PERFORMANCE.md, issue 23, eighth round). This VFS is the platform's
//! default one with one change: for a WAL file, writes that continue where the previous one
//! ended are gathered in memory and reach the file in one call.
//!
//! What makes that safe, given that other connections (readers, the checkpoint thread, the
//! command line) read the same WAL file through the default VFS:
//! - the gathered bytes reach the file before anything that could make them visible or needed:
//!   when the frame that commits a transaction has been written (a frame header whose second
//!   field, the database size after the commit, is not zero, then its page), which is before
//!   SQLite publishes the new frames in the WAL index; and before every read, sync, truncate,
//!   size query, file control and close of the file, and before any write that does not
//!   continue the gathered bytes, so writes reach the file in the order SQLite made them;
//! - the durability of a commit is the `fsync` SQLite asks for (`synchronous = FULL`), and the
//!   gathered bytes are written before it; bytes still in memory when the process dies belong
//!   to a transaction that had not committed, exactly as with bytes not yet written;
//! - a write that fails is reported to SQLite by the call that triggered it (the commit
//!   frame's write, a read, the sync), so the transaction fails as it would have; the gathered
//!   bytes are then dropped, not written later.
//!
//! The database file and the WAL index are opened by the default VFS unchanged; locking, the
//! shared-memory index and memory mapping are its own.
//!
//! The store asks for this VFS by name ([`rampart_store::WRITER_VFS`]) for its writer thread's
//! connection only; `main` registers it before anything opens the store. Without it the store
//! uses the default VFS, frame by frame, as before.
//!
//! Unsafe code: a VFS is a table of C functions that SQLite calls with raw pointers, so every
//! function here is `unsafe extern "C"` and the module allows `unsafe_code` as a whole (the
//! binary's lint is `deny`, see Cargo.toml). What each relies on: SQLite calls a file's methods
//! only between a successful `xOpen` and `xClose`, from one thread at a time per connection,
//! with buffers of the length it passes; the file object is the memory SQLite allocated with
//! this VFS's `szOsFile`, which [`x_open`] fills.
#![allow(unsafe_code)]

use rusqlite::ffi;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

const NAME_C: &CStr = c"rampart-walbuf";
/// Gathered bytes beyond which they are written at once (a group commit is well under this).
const LIMIT: usize = 4 << 20;
/// SQLite's WAL frame header size.
const FRAME_HEADER: c_int = 24;
/// The most the default VFS writes in one call: its unix write takes the size modulo 128 KiB
/// (it never receives more from SQLite itself), so a larger piece would be cut short.
const CHUNK: usize = 128 * 1024 - 4096;

/// Registers the VFS (once per process). Returns false when SQLite has no default VFS to wrap
/// or refused the registration; the caller then opens with the default VFS.
pub(crate) fn register() -> bool {
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find(NULL) returns the default VFS, which lives as long as the
        // process (SQLite never frees a registered VFS). The VFS built here is leaked, so it
        // too lives as long as the process, as sqlite3_vfs_register requires.
        unsafe {
            let base = ffi::sqlite3_vfs_find(std::ptr::null());
            if base.is_null() {
                return false;
            }
            let vfs = Box::new(ffi::sqlite3_vfs {
                iVersion: 2,
                szOsFile: (OFFSET + (*base).szOsFile as usize) as c_int,
                mxPathname: (*base).mxPathname,
                pNext: std::ptr::null_mut(),
                zName: NAME_C.as_ptr(),
                pAppData: base.cast(),
                xOpen: Some(x_open),
                xDelete: Some(x_delete),
                xAccess: Some(x_access),
                xFullPathname: Some(x_full_pathname),
                xDlOpen: Some(x_dl_open),
                xDlError: Some(x_dl_error),
                xDlSym: Some(x_dl_sym),
                xDlClose: Some(x_dl_close),
                xRandomness: Some(x_randomness),
                xSleep: Some(x_sleep),
                xCurrentTime: Some(x_current_time),
                xGetLastError: Some(x_get_last_error),
                xCurrentTimeInt64: Some(x_current_time_int64),
                xSetSystemCall: None,
                xGetSystemCall: None,
                xNextSystemCall: None,
            });
            ffi::sqlite3_vfs_register(Box::into_raw(vfs), 0) == ffi::SQLITE_OK
        }
    })
}

/// An open WAL file of this VFS: SQLite's file object, then the default VFS's own at
/// [`OFFSET`] within the same allocation.
#[repr(C)]
struct WalFile {
    file: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// Bytes gathered for offset `start` onwards.
    buf: Vec<u8>,
    start: i64,
    /// The last write was the header of a frame that commits a transaction.
    commit_header: bool,
}

/// Where the default VFS's file object starts, aligned for it.
const OFFSET: usize = std::mem::size_of::<WalFile>().next_multiple_of(16);

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(w_close),
    xRead: Some(w_read),
    xWrite: Some(w_write),
    xTruncate: Some(w_truncate),
    xSync: Some(w_sync),
    xFileSize: Some(w_file_size),
    xLock: Some(w_lock),
    xUnlock: Some(w_unlock),
    xCheckReservedLock: Some(w_check_reserved_lock),
    xFileControl: Some(w_file_control),
    xSectorSize: Some(w_sector_size),
    xDeviceCharacteristics: Some(w_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe fn base(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    (*vfs).pAppData.cast()
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = base(vfs);
    let open = (*base).xOpen.expect("a VFS has xOpen");
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Every other file is the default VFS's own, in the space SQLite allocated (at least
        // as large as the default VFS asks for).
        return open(base, name, file, flags, out_flags);
    }
    let real = file.cast::<u8>().add(OFFSET).cast::<ffi::sqlite3_file>();
    let rc = open(base, name, real, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        // SQLite calls xClose only on a file whose pMethods is set.
        (*file).pMethods = std::ptr::null();
        return rc;
    }
    file.cast::<WalFile>().write(WalFile {
        file: ffi::sqlite3_file {
            pMethods: &WAL_METHODS,
        },
        real,
        buf: Vec::new(),
        start: 0,
        commit_header: false,
    });
    ffi::SQLITE_OK
}

unsafe fn wal<'a>(file: *mut ffi::sqlite3_file) -> &'a mut WalFile {
    &mut *file.cast::<WalFile>()
}

unsafe fn real_methods(w: &WalFile) -> &ffi::sqlite3_io_methods {
    &*(*w.real).pMethods
}

/// The default VFS's write of `bytes` at `offset`.
unsafe fn real_write(w: &WalFile, bytes: &[u8], offset: i64) -> c_int {
    let write = real_methods(w).xWrite.expect("a file has xWrite");
    write(w.real, bytes.as_ptr().cast(), bytes.len() as c_int, offset)
}

/// Writes the gathered bytes, in calls of at most [`CHUNK`] bytes. On failure they are dropped
/// and the error is returned.
unsafe fn flush(w: &mut WalFile) -> c_int {
    let mut rc = ffi::SQLITE_OK;
    let mut offset = w.start;
    for piece in w.buf.chunks(CHUNK) {
        rc = real_write(w, piece, offset);
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += piece.len() as i64;
    }
    w.buf.clear();
    rc
}

unsafe extern "C" fn w_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let w = wal(file);
    let bytes = std::slice::from_raw_parts(data.cast::<u8>(), amount.max(0) as usize);
    // A frame header's second field is the database size after a commit, zero otherwise.
    let header_commits = amount == FRAME_HEADER && bytes[4..8] != [0, 0, 0, 0];
    let after_commit_header = std::mem::replace(&mut w.commit_header, header_commits);
    let continues = !w.buf.is_empty() && offset == w.start + w.buf.len() as i64;
    let step = plan(w.buf.len(), continues, bytes.len(), after_commit_header);
    if step.flush_first {
        let rc = flush(w);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    if step.direct {
        return real_write(w, bytes, offset);
    }
    if w.buf.is_empty() {
        w.start = offset;
    }
    w.buf.extend_from_slice(bytes);
    if step.flush_after {
        // The page of a committing frame: all of the transaction goes to the file now,
        // before SQLite publishes its frames in the WAL index.
        return flush(w);
    }
    ffi::SQLITE_OK
}

/// What one write does, given `gathered` bytes in memory (see [`plan`]).
#[derive(Debug, PartialEq)]
struct Step {
    /// Write the gathered bytes before this write.
    flush_first: bool,
    /// Write this one straight to the file instead of gathering it.
    direct: bool,
    /// Write everything gathered, this one included, before returning.
    flush_after: bool,
}

/// The gathering rules, apart from the file so that they can be tested: a write that does not
/// continue the gathered bytes, or would take them past [`LIMIT`], writes them first; a write
/// larger than the limit goes straight to the file; the write after a committing frame's header
/// (its page) leaves nothing gathered.
fn plan(gathered: usize, continues: bool, amount: usize, after_commit_header: bool) -> Step {
    let flush_first = gathered > 0 && (!continues || gathered + amount > LIMIT);
    let direct = amount > LIMIT;
    Step {
        flush_first,
        direct,
        flush_after: after_commit_header && !direct,
    }
}

/// Hands a call to the default VFS's file; with `flush`, after writing the gathered bytes.
macro_rules! forward {
    (flush $file:ident, $method:ident ( $($arg:expr),* )) => {{
        let rc = flush(wal($file));
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        forward!($file, $method($($arg),*))
    }};
    ($file:ident, $method:ident ( $($arg:expr),* )) => {{
        let w = wal($file);
        let m = real_methods(w).$method.expect("a file has this method");
        m(w.real $(, $arg)*)
    }};
}

unsafe extern "C" fn w_read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    forward!(flush file, xRead(data, amount, offset))
}

unsafe extern "C" fn w_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    forward!(flush file, xTruncate(size))
}

unsafe extern "C" fn w_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    forward!(flush file, xSync(flags))
}

unsafe extern "C" fn w_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    forward!(flush file, xFileSize(size))
}

unsafe extern "C" fn w_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    forward!(flush file, xFileControl(op, arg))
}

unsafe extern "C" fn w_close(file: *mut ffi::sqlite3_file) -> c_int {
    let w = wal(file);
    let flushed = flush(w);
    let close = real_methods(w).xClose.expect("a file has xClose");
    let closed = close(w.real);
    std::ptr::drop_in_place(file.cast::<WalFile>());
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn w_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward!(file, xLock(level))
}

unsafe extern "C" fn w_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward!(file, xUnlock(level))
}

unsafe extern "C" fn w_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    forward!(file, xCheckReservedLock(out))
}

unsafe extern "C" fn w_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    forward!(file, xSectorSize())
}

unsafe extern "C" fn w_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    forward!(file, xDeviceCharacteristics())
}

// The rest of the VFS is the default one's, called with its own handle.

unsafe extern "C" fn x_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync: c_int,
) -> c_int {
    let b = base(vfs);
    (*b).xDelete.expect("a VFS has xDelete")(b, name, sync)
}

unsafe extern "C" fn x_access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let b = base(vfs);
    (*b).xAccess.expect("a VFS has xAccess")(b, name, flags, out)
}

unsafe extern "C" fn x_full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let b = base(vfs);
    (*b).xFullPathname.expect("a VFS has xFullPathname")(b, name, n, out)
}

unsafe extern "C" fn x_dl_open(vfs: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    let b = base(vfs);
    match (*b).xDlOpen {
        Some(f) => f(b, name),
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn x_dl_error(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) {
    let b = base(vfs);
    if let Some(f) = (*b).xDlError {
        f(b, n, out)
    }
}

type DlSym = Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)>;

unsafe extern "C" fn x_dl_sym(
    vfs: *mut ffi::sqlite3_vfs,
    handle: *mut c_void,
    symbol: *const c_char,
) -> DlSym {
    let b = base(vfs);
    match (*b).xDlSym {
        Some(f) => f(b, handle, symbol),
        None => None,
    }
}

unsafe extern "C" fn x_dl_close(vfs: *mut ffi::sqlite3_vfs, handle: *mut c_void) {
    let b = base(vfs);
    if let Some(f) = (*b).xDlClose {
        f(b, handle)
    }
}

unsafe extern "C" fn x_randomness(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let b = base(vfs);
    (*b).xRandomness.expect("a VFS has xRandomness")(b, n, out)
}

unsafe extern "C" fn x_sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    let b = base(vfs);
    (*b).xSleep.expect("a VFS has xSleep")(b, micros)
}

unsafe extern "C" fn x_current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    let b = base(vfs);
    (*b).xCurrentTime.expect("a VFS has xCurrentTime")(b, out)
}

unsafe extern "C" fn x_get_last_error(
    vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let b = base(vfs);
    match (*b).xGetLastError {
        Some(f) => f(b, n, out),
        None => 0,
    }
}

unsafe extern "C" fn x_current_time_int64(vfs: *mut ffi::sqlite3_vfs, out: *mut i64) -> c_int {
    let b = base(vfs);
    match (*b).xCurrentTimeInt64 {
        Some(f) if (*b).iVersion >= 2 => f(b, out),
        _ => {
            let mut days = 0.0;
            let rc = x_current_time(vfs, &mut days);
            *out = (days * 86_400_000.0) as i64;
            rc
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{params, Connection, OpenFlags};

    use super::{plan, Step, LIMIT};

    #[test]
    fn a_committing_frame_leaves_nothing_gathered_whatever_the_limit() {
        // Its page continues what is gathered: gathered with it, then all written.
        assert_eq!(
            plan(1000, true, 4096, true),
            Step {
                flush_first: false,
                direct: false,
                flush_after: true
            }
        );
        // The header itself reached the limit and was written first: its page still ends
        // with everything written (before 6 December it stayed in memory until the sync).
        assert_eq!(
            plan(0, false, 4096, true),
            Step {
                flush_first: false,
                direct: false,
                flush_after: true
            }
        );
        // The page would pass the limit: what is gathered goes first, then the page.
        assert_eq!(
            plan(LIMIT - 10, true, 4096, true),
            Step {
                flush_first: true,
                direct: false,
                flush_after: true
            }
        );
    }

    #[test]
    fn writes_are_gathered_only_while_they_continue_each_other() {
        assert_eq!(
            plan(4120, true, 24, false),
            Step {
                flush_first: false,
                direct: false,
                flush_after: false
            }
        );
        // Elsewhere in the file (a rewritten header, the WAL header after a restart).
        assert_eq!(
            plan(4120, false, 24, false),
            Step {
                flush_first: true,
                direct: false,
                flush_after: false
            }
        );
        // Larger than the limit (SQLite never writes that much at once to a WAL).
        assert_eq!(
            plan(4120, true, LIMIT + 1, true),
            Step {
                flush_first: true,
                direct: true,
                flush_after: false
            }
        );
    }

    #[test]
    fn the_name_is_the_one_the_store_asks_for() {
        assert_eq!(super::NAME_C.to_str().unwrap(), rampart_store::WRITER_VFS);
    }

    fn open(path: &std::path::Path, vfs: bool, synchronous: &str) -> Connection {
        let c = if vfs {
            Connection::open_with_flags_and_vfs(
                path,
                OpenFlags::default(),
                rampart_store::WRITER_VFS,
            )
            .unwrap()
        } else {
            Connection::open(path).unwrap()
        };
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "synchronous", synchronous).unwrap();
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        c
    }

    /// Transactions of every size through the VFS: one row, a few hundred KiB (more than the
    /// default VFS takes in one write), more than the gathering limit. After each commit a
    /// second connection on the default VFS, as the store's readers are, sees all of it at
    /// once; a checkpoint, a restart of the WAL and a reopening keep it. With `synchronous =
    /// NORMAL` SQLite does not sync at a commit, so what makes the frames visible is the write
    /// that follows the committing frame's page.
    #[test]
    fn commits_through_the_vfs_are_whole_for_other_connections() {
        for synchronous in ["FULL", "NORMAL"] {
            commits_are_whole(synchronous);
        }
    }

    fn commits_are_whole(synchronous: &str) {
        assert!(super::register());
        let dir = std::env::temp_dir().join(format!(
            "rampart-walbuf-{}-{synchronous}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let reader = {
            let w = open(&path, false, synchronous);
            w.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, batch INTEGER, data BLOB)")
                .unwrap();
            w
        };
        let mut writer = open(&path, true, synchronous);
        let mut expected = 0i64;
        // Rows of 10 KiB per transaction: 1 (one frame run), 40 (about 400 KiB), 600 (about
        // 6 MiB, past the 4 MiB limit, so written partly in full-size pieces).
        for (batch, rows) in [1i64, 40, 3, 600, 1, 40].into_iter().enumerate() {
            let tx = writer.transaction().unwrap();
            for i in 0..rows {
                let blob = vec![(batch as u8) ^ (i as u8); 10 * 1024];
                tx.execute(
                    "INSERT INTO t(batch, data) VALUES (?1, ?2)",
                    params![batch as i64, blob],
                )
                .unwrap();
            }
            tx.commit().unwrap();
            expected += rows;
            let (n, sum): (i64, i64) = reader
                .query_row("SELECT count(*), sum(length(data)) FROM t", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            assert_eq!(
                (n, sum),
                (expected, expected * 10 * 1024),
                "after batch {batch}"
            );
            if batch == 2 {
                // A rolled-back transaction leaves nothing behind for the next one.
                let tx = writer.transaction().unwrap();
                tx.execute(
                    "INSERT INTO t(batch, data) VALUES (-1, zeroblob(300000))",
                    [],
                )
                .unwrap();
                tx.rollback().unwrap();
            }
        }
        let bad: i64 = reader
            .query_row(
                "SELECT count(*) FROM t WHERE batch < 0 OR length(data) != 10240",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(bad, 0);
        // The writer copies the WAL back and starts it over, cut back to 64 KiB (a truncation
        // through the VFS), then writes on; then it empties the WAL file and writes again.
        writer
            .pragma_update(None, "journal_size_limit", 64 * 1024)
            .unwrap();
        let wal = dir.join("t.db-wal");
        let before = std::fs::metadata(&wal).unwrap().len();
        assert!(before > 64 * 1024, "WAL of {before} bytes");
        writer
            .query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
            .unwrap();
        for (mode, size) in [("RESTART", 64 * 1024), ("TRUNCATE", 0)] {
            if mode == "TRUNCATE" {
                writer
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    .unwrap();
                assert_eq!(std::fs::metadata(&wal).unwrap().len(), size, "{mode}");
            }
            writer
                .execute(
                    "INSERT INTO t(batch, data) VALUES (99, zeroblob(10240))",
                    [],
                )
                .unwrap();
            expected += 1;
            if mode == "RESTART" {
                // The commit after the restart cut the file back, then appended to it.
                let after = std::fs::metadata(&wal).unwrap().len();
                assert!(after <= size + 4 * 4096, "{mode}: WAL of {after} bytes");
            }
            let n: i64 = reader
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, expected, "{synchronous}: after {mode}");
        }
        drop(writer);
        drop(reader);
        let again = open(&path, false, synchronous);
        let ok: String = again
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let n: i64 = again
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, expected);
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
