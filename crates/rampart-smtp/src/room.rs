//! Room on disk for new mail (`limits.min_free_space`): MAIL is refused with `452 4.3.1` while
//! the data directory's filesystem has less free than the configured reserve (plus the SIZE the
//! client declares), so a client keeps its message and tries later instead of sending it to
//! have it refused after the data, and the store keeps room for the writes of mail it already
//! holds (queue state, delivery, the trace). Inodes count too: MAIL is refused the same way
//! while fewer than [`Limits::MIN_FREE_INODES`] are free, since a filesystem out of
//! inodes refuses new files (a large message's, a spool file) however many bytes it has.
//!
//! The free space is read with `statvfs` at most every [`REFRESH`], not for every MAIL: a burst
//! can fill the disk between two readings, and the write that finds it full is answered
//! `452 4.3.1` all the same.

use rampart_config::Limits;
use rampart_store::FreeRoom;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Longest a reading of the free space is used for.
pub const REFRESH: Duration = Duration::from_millis(250);

pub struct Room {
    dir: PathBuf,
    reserve: u64,
    last: std::sync::Mutex<Option<(Instant, FreeRoom)>>,
}

impl Room {
    /// `reserve` bytes kept free on the filesystem holding `dir`; 0: no check.
    pub fn new(dir: PathBuf, reserve: u64) -> Room {
        Room {
            dir,
            reserve,
            last: std::sync::Mutex::new(None),
        }
    }

    /// The free room, from a reading at most [`REFRESH`] old, and whether it was read just now;
    /// `None` when the filesystem cannot be read (the store's own writes then say what is
    /// wrong).
    fn free(&self) -> Option<(FreeRoom, bool)> {
        let mut last = rampart_sync::lock(&self.last);
        if let Some((at, free)) = *last {
            if at.elapsed() < REFRESH {
                return Some((free, false));
            }
        }
        match rampart_store::free_room(&self.dir) {
            Ok(free) => {
                *last = Some((Instant::now(), free));
                Some((free, true))
            }
            Err(e) => {
                tracing::debug!(dir = %self.dir.display(), error = %e, "free space not read");
                None
            }
        }
    }

    /// Whether a message of `declared` bytes (0: not declared) may be sent now. `Err` carries
    /// the free bytes and the bytes it needed (the same two when inodes are what is short). A
    /// refusal is logged once per reading (at most four lines a second however many clients
    /// are refused).
    pub fn admit(&self, declared: u64) -> Result<(), (u64, u64)> {
        if self.reserve == 0 {
            return Ok(());
        }
        let needed = self.reserve.saturating_add(declared);
        match self.free() {
            Some((free, fresh)) if free.bytes < needed => {
                if fresh {
                    tracing::warn!(
                        dir = %self.dir.display(),
                        free = free.bytes,
                        needed,
                        "MAIL refused with 452 4.3.1: the data directory's filesystem is short \
                         of free space (limits.min_free_space)"
                    );
                }
                Err((free.bytes, needed))
            }
            Some((free, fresh)) if free.inodes.is_some_and(|n| n < Limits::MIN_FREE_INODES) => {
                if fresh {
                    tracing::warn!(
                        dir = %self.dir.display(),
                        inodes = free.inodes,
                        needed = Limits::MIN_FREE_INODES,
                        "MAIL refused with 452 4.3.1: the data directory's filesystem is short \
                         of free inodes"
                    );
                }
                Err((free.bytes, needed))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_and_the_declared_size_are_both_needed() {
        let dir = std::env::temp_dir();
        let free = rampart_store::free_space(&dir).unwrap();
        assert!(free > 1024, "{free}");
        // Off, nothing is refused, not even a message larger than the disk.
        assert_eq!(Room::new(dir.clone(), 0).admit(u64::MAX), Ok(()));
        // A reserve under what is free admits a message that still fits beside it ...
        let room = Room::new(dir.clone(), free / 4);
        assert_eq!(room.admit(0), Ok(()));
        assert_eq!(room.admit(free / 8), Ok(()));
        // ... and refuses one that would eat into it, naming what it needed.
        let (seen, needed) = room.admit(free).unwrap_err();
        assert!(
            seen <= free + free / 8 && seen >= free - free / 8,
            "{seen} {free}"
        );
        assert_eq!(needed, free / 4 + free);
        // A reserve larger than the filesystem refuses every MAIL.
        assert!(Room::new(dir.clone(), u64::MAX).admit(0).is_err());
        // A directory that does not exist cannot be read: the store's writes will answer.
        assert_eq!(
            Room::new(dir.join("no-such-dir-for-room"), u64::MAX).admit(0),
            Ok(())
        );
    }
}
