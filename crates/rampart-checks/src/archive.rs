//! Bounded reading of zip archives (plain zip, and the OOXML/ODF containers that are zip files),
//! shared by the attachment check (AL-1.4) and DLP (AL-1.5).
//!
//! Zip bombs are stopped twice: the uncompressed sizes the archive *declares* are added up and
//! checked against the budget before anything is decompressed, and every entry is then read
//! through a bounded reader that stops one byte past what the entry declared or what is left of
//! the budget, whichever is smaller. An entry that turns out longer than it declared is reported
//! (a lying header) and not read further. The budget is shared by nested archives.
//!
//! Memory is bounded a second time across messages: every inflated entry is held against one
//! process-wide pool ([`ARCHIVE_MEMORY`], [`PROCESS_ARCHIVE_MEMORY`] bytes) for as long as the
//! entry lives. When the pool is spent, the entry is not inflated and the archive is reported
//! as [`ZipProblem::MemoryBusy`], which the checks treat as uninspectable: under a flood of
//! archives messages are held, never passed, and memory does not grow with the number of
//! messages in flight.

use std::io::{Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use zip::ZipArchive;

/// Bytes that all archive inspections in flight may hold at once, process-wide (item 8 of
/// issue #10: one memory budget for every message being checked).
pub const PROCESS_ARCHIVE_MEMORY: u64 = 1 << 30;

/// The process-wide pool inflated archive entries are held against.
pub static ARCHIVE_MEMORY: MemoryPool = MemoryPool::new(PROCESS_ARCHIVE_MEMORY);

/// A byte budget shared by concurrent users: reservations are taken without waiting and given
/// back when dropped.
#[derive(Debug)]
pub struct MemoryPool {
    limit: u64,
    used: AtomicU64,
}

impl MemoryPool {
    pub const fn new(limit: u64) -> MemoryPool {
        MemoryPool {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Takes `bytes` from the pool, or `None` when that would go past its limit.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation<'_>> {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let next = cur.checked_add(bytes).filter(|n| *n <= self.limit)?;
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(Reservation { pool: self, bytes }),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Bytes currently reserved.
    pub fn in_use(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// Bytes held from a [`MemoryPool`] until dropped.
#[derive(Debug)]
pub struct Reservation<'p> {
    pool: &'p MemoryPool,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.pool.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// What is left to spend while unpacking one attachment, nested archives included.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Entries that may still be opened.
    pub entries: usize,
    /// Uncompressed bytes that may still be read.
    pub bytes: u64,
}

/// Why (part of) an archive could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipProblem {
    /// Not a readable zip (truncated, corrupt, unknown compression method).
    Unreadable(String),
    /// An entry is encrypted: its content cannot be inspected.
    Encrypted(String),
    /// More entries than the budget allows.
    TooManyEntries(usize),
    /// The declared uncompressed size is larger than the budget (a likely zip bomb).
    TooLarge(u64),
    /// An entry inflated past the size it declared.
    SizeMismatch(String),
    /// The process-wide memory for archive inspection is spent by messages in flight.
    MemoryBusy,
}

impl std::fmt::Display for ZipProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZipProblem::Unreadable(e) => write!(f, "unreadable archive ({e})"),
            ZipProblem::Encrypted(n) => write!(f, "encrypted entry {n:?}"),
            ZipProblem::TooManyEntries(n) => write!(f, "too many entries ({n})"),
            ZipProblem::TooLarge(n) => write!(f, "declares {n} bytes uncompressed, over the limit"),
            ZipProblem::SizeMismatch(n) => {
                write!(f, "entry {n:?} inflates past its declared size")
            }
            ZipProblem::MemoryBusy => {
                f.write_str("not opened: memory for archive inspection is in use by other messages")
            }
        }
    }
}

/// True when `data` starts like a zip file (local header, or the end record of an empty zip).
pub fn is_zip(data: &[u8]) -> bool {
    data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06")
}

/// One file of an archive, read within the budget.
#[derive(Debug)]
pub struct Entry {
    /// The name as stored (a path inside the archive).
    pub name: String,
    pub data: Vec<u8>,
    /// The entry's bytes, held against the process-wide pool while the entry lives.
    _held: Reservation<'static>,
}

/// Reads every file entry of the zip in `data` within `budget`, calling `visit` for each.
///
/// Problems do not stop the walk where the rest can still be read safely (an encrypted entry
/// is reported and skipped); they stop it where reading on would be unsafe (declared size or
/// entry count over the budget, an entry inflating past its declared size).
pub fn read_zip(data: &[u8], budget: &mut Budget, visit: impl FnMut(Entry)) -> Vec<ZipProblem> {
    read_zip_in(&ARCHIVE_MEMORY, data, budget, visit)
}

/// [`read_zip`] holding entries against `pool` instead of the process-wide one.
pub fn read_zip_in(
    pool: &'static MemoryPool,
    data: &[u8],
    budget: &mut Budget,
    mut visit: impl FnMut(Entry),
) -> Vec<ZipProblem> {
    let mut problems = Vec::new();
    let mut archive = match ZipArchive::new(Cursor::new(data)) {
        Ok(a) => a,
        Err(e) => return vec![ZipProblem::Unreadable(e.to_string())],
    };
    let count = archive.len();
    if count > budget.entries {
        return vec![ZipProblem::TooManyEntries(count)];
    }
    // Sizes as declared, added up before anything is decompressed.
    let mut declared_total: u64 = 0;
    for i in 0..count {
        match archive.by_index_data(i) {
            Ok(e) => declared_total = declared_total.saturating_add(e.size()),
            Err(e) => return vec![ZipProblem::Unreadable(e.to_string())],
        }
    }
    if declared_total > budget.bytes {
        return vec![ZipProblem::TooLarge(declared_total)];
    }
    for i in 0..count {
        budget.entries -= 1;
        let (name, declared, encrypted, is_dir) = match archive.by_index_data(i) {
            Ok(e) => (
                String::from_utf8_lossy(e.name_raw()).into_owned(),
                e.size(),
                e.encrypted(),
                e.is_dir(),
            ),
            Err(e) => {
                problems.push(ZipProblem::Unreadable(e.to_string()));
                break;
            }
        };
        if encrypted {
            problems.push(ZipProblem::Encrypted(name));
            continue;
        }
        if is_dir {
            continue;
        }
        let file = match archive.by_index(i) {
            Ok(f) => f,
            Err(e) => {
                problems.push(ZipProblem::Unreadable(format!("{name}: {e}")));
                continue;
            }
        };
        let cap = declared.min(budget.bytes);
        // One memory budget for all messages in flight: no room, no inflating.
        let Some(held) = pool.try_reserve(cap + 1) else {
            problems.push(ZipProblem::MemoryBusy);
            break;
        };
        let mut out = Vec::with_capacity(cap.min(1 << 20) as usize);
        // One byte past the cap tells a lying header (or an exhausted budget) from a fit.
        if let Err(e) = file.take(cap + 1).read_to_end(&mut out) {
            problems.push(ZipProblem::Unreadable(format!("{name}: {e}")));
            continue;
        }
        if out.len() as u64 > cap {
            problems.push(ZipProblem::SizeMismatch(name));
            break;
        }
        budget.bytes -= out.len() as u64;
        visit(Entry {
            name,
            data: out,
            _held: held,
        });
    }
    problems
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Zip fixtures built in memory.
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    /// A zip of `(name, data)` entries, deflated.
    pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// The same zip with the "encrypted" flag (general purpose bit 0) set on every entry, in the
    /// local headers and the central directory, as a ZipCrypto archive has it.
    pub fn mark_encrypted(mut zip: Vec<u8>) -> Vec<u8> {
        let mut i = 0;
        while i + 10 <= zip.len() {
            if zip[i..].starts_with(b"PK\x03\x04") {
                zip[i + 6] |= 1;
            } else if zip[i..].starts_with(b"PK\x01\x02") {
                zip[i + 8] |= 1;
            }
            i += 1;
        }
        zip
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    fn budget() -> Budget {
        Budget {
            entries: 100,
            bytes: 1 << 20,
        }
    }

    #[test]
    fn reads_entries_within_budget() {
        let z = zip_of(&[("a.txt", b"hello"), ("b/c.txt", b"world")]);
        assert!(is_zip(&z));
        let mut b = budget();
        let mut seen = Vec::new();
        let problems = read_zip(&z, &mut b, |e| seen.push((e.name, e.data)));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(seen.len(), 2);
        assert_eq!(b.bytes, (1 << 20) - 10);
        assert_eq!(b.entries, 98);
    }

    #[test]
    fn bomb_is_refused_by_declared_size_before_inflating() {
        // 8 MiB of zeros deflates to a few KiB; the budget is 1 MiB.
        let zeros = vec![0u8; 8 << 20];
        let z = zip_of(&[("zeros.bin", &zeros)]);
        assert!(z.len() < 64 * 1024);
        let mut b = budget();
        let mut visited = 0;
        let problems = read_zip(&z, &mut b, |_| visited += 1);
        assert_eq!(problems, vec![ZipProblem::TooLarge(8 << 20)]);
        assert_eq!(visited, 0);
    }

    #[test]
    fn lying_header_is_cut_at_the_declared_size() {
        let zeros = vec![0u8; 4096];
        let mut z = zip_of(&[("zeros.bin", &zeros)]);
        // Rewrite the declared uncompressed size (local header offset 22, central offset 24)
        // to 100 bytes.
        let mut i = 0;
        while i + 30 <= z.len() {
            if z[i..].starts_with(b"PK\x03\x04") {
                z[i + 22..i + 26].copy_from_slice(&100u32.to_le_bytes());
            } else if z[i..].starts_with(b"PK\x01\x02") {
                z[i + 24..i + 28].copy_from_slice(&100u32.to_le_bytes());
            }
            i += 1;
        }
        let mut b = budget();
        let problems = read_zip(&z, &mut b, |_| {});
        assert!(
            matches!(
                problems.as_slice(),
                [ZipProblem::SizeMismatch(_)] | [ZipProblem::Unreadable(_)]
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn encrypted_entries_are_reported() {
        let z = mark_encrypted(zip_of(&[("secret.txt", b"data")]));
        let problems = read_zip(&z, &mut budget(), |_| panic!("must not read"));
        assert_eq!(problems, vec![ZipProblem::Encrypted("secret.txt".into())]);
    }

    #[test]
    fn one_memory_pool_for_all_messages_in_flight() {
        static POOL: MemoryPool = MemoryPool::new(64 * 1024);
        let z = zip_of(&[("a.bin", &[7u8; 40 * 1024])]);
        // Another message holds most of the pool: this archive is not inflated.
        let other = POOL.try_reserve(60 * 1024).unwrap();
        let problems = read_zip_in(&POOL, &z, &mut budget(), |_| panic!("must not inflate"));
        assert_eq!(problems, vec![ZipProblem::MemoryBusy]);
        drop(other);
        // Room again: read, and held while the entry lives.
        let mut kept = Vec::new();
        assert!(read_zip_in(&POOL, &z, &mut budget(), |e| kept.push(e)).is_empty());
        assert!(POOL.in_use() > 40 * 1024);
        drop(kept);
        assert_eq!(POOL.in_use(), 0);
    }

    #[test]
    fn entry_count_limit() {
        let entries: Vec<(String, Vec<u8>)> =
            (0..20).map(|i| (format!("f{i}"), vec![b'x'])).collect();
        let refs: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let z = zip_of(&refs);
        let mut b = Budget {
            entries: 10,
            bytes: 1 << 20,
        };
        assert_eq!(
            read_zip(&z, &mut b, |_| {}),
            vec![ZipProblem::TooManyEntries(20)]
        );
    }
}
