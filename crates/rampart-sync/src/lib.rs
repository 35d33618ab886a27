//! The workspace's one policy for poisoned locks, so every `std::sync` lock is taken the same way.
//!
//! A `Mutex` or `RwLock` is poisoned when a thread panics while holding it. Rampart takes the guard
//! back and goes on ([`PoisonError::into_inner`]). That is sound because every critical section in
//! the workspace is one small update of a counter, map, set or pool (increment, insert, remove,
//! swap in a value built outside the lock) that leaves the data valid after each step, so a panic
//! in the holder cannot leave it half-changed. The alternative, panicking on a poisoned lock, turns
//! one bug in one session into a refusal of every later session that touches the same lock.
//!
//! Code that needs a critical section with a multi-step invariant must not hold a std lock across
//! it with these helpers; it should restore or re-check the invariant itself.
//!
//! What lives here: only these helpers. Nothing else belongs in this crate.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`, recovering the guard if a holder panicked (see the crate documentation).
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes `l` for reading, recovering the guard if a writer panicked.
pub fn read<T: ?Sized>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Takes `l` for writing, recovering the guard if a holder panicked.
pub fn write<T: ?Sized>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Runs `f` on another thread, where it panics while holding a guard of `lock`; the guard is
    /// dropped during the unwinding, which poisons the lock.
    fn poison<L: Send + Sync + 'static>(lock: &Arc<L>, f: fn(&L)) {
        let lock = lock.clone();
        assert!(std::thread::spawn(move || f(&lock)).join().is_err());
    }

    #[test]
    fn poisoned_mutex_is_recovered_with_its_data() {
        let m = Arc::new(Mutex::new(41));
        poison(&m, |m| {
            let mut g = m.lock().unwrap();
            *g += 1;
            panic!("poisoning on purpose");
        });
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 43);
    }

    #[test]
    fn poisoned_rwlock_is_recovered_for_read_and_write() {
        let l = Arc::new(RwLock::new(vec![1]));
        poison(&l, |l| {
            let _g = l.write().unwrap();
            panic!("poisoning on purpose");
        });
        assert!(l.is_poisoned());
        write(&l).push(2);
        assert_eq!(*read(&l), vec![1, 2]);
    }
}
