//! The process's memory allocators (NC-2.1.8, issue 23): mimalloc for Rust's blocks, the
//! largest mapped on their own, and glibc's malloc, tuned, for SQLite and the other C code.
//! Memory a burst takes goes back to the system when the burst is over.

/// NC-2.1.8: blocks of at least this size get their own mapping from glibc's malloc, returned to
/// the system when freed. Setting it fixes the threshold: glibc would otherwise raise it to the
/// size of the largest block freed (up to 32 MiB), so that every 19 MiB Argon2id block after
/// the first came from an arena and stayed there, 2 GB after two bursts of password guessing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// NC-2.1.8: glibc malloc arenas, at most (its default is 8 per core). Each arena keeps what its
/// threads freed; the blocking pool may run hundreds of threads, each reaching for its own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENA_MAX: libc::c_int = 4;

/// Issue 23: Rust's allocations go to mimalloc, which cost about a tenth less CPU per message
/// than glibc's malloc on the SMTP hot path (docs/PERFORMANCE.md, tenth round), except the
/// largest blocks ([`Allocator`]). SQLite and the other C code keep glibc's malloc, tuned below.
#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: Allocator = Allocator;

#[cfg(not(target_os = "linux"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// NC-2.1.8: a block of at least this size (and aligned to no more than a page) is a mapping of
/// its own, unmapped the moment it is freed. The 19 MiB of each Argon2id hash is such a block.
#[cfg(target_os = "linux")]
const OWN_MAPPING: usize = 4 << 20;

/// The page size every Linux port has at least; a mapping starts on a page.
#[cfg(target_os = "linux")]
const PAGE: usize = 4096;

/// NC-2.1.8: mimalloc for every block but the largest, which are mapped and unmapped directly.
/// mimalloc returns a freed large block's pages to the system only when a later allocation or
/// collection gets round to purging them: after a burst of password guesses the hashes' memory
/// (two 19 MiB blocks) usually went back within a quarter of a second, but once stayed for ten
/// (`bench/abuse.py`, 7 December 2026). Mapped directly, it is gone when the hash ends.
#[cfg(target_os = "linux")]
pub struct Allocator;

#[cfg(target_os = "linux")]
fn own_mapping(layout: std::alloc::Layout) -> bool {
    layout.size() >= OWN_MAPPING && layout.align() <= PAGE
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn map(size: usize) -> *mut u8 {
    // SAFETY: a new private anonymous mapping, at an address the kernel chooses: it touches no
    // memory that exists. Its pages read as zeros.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
// SAFETY: every block is either mimalloc's or a mapping of its own, chosen by
// `own_mapping` of its layout, which is the same at allocation and at freeing (GlobalAlloc's
// callers pass the layout the block was allocated with), and `realloc` moves a block across
// the line by allocating anew. A mapping starts on a page, so meets any alignment `own_mapping`
// accepts, and holds `size` bytes.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if own_mapping(layout) {
            map(layout.size())
        } else {
            // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if own_mapping(layout) {
            map(layout.size())
        } else {
            // SAFETY: as for alloc.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        if own_mapping(layout) {
            // SAFETY: `ptr` is the start of a mapping of `layout.size()` bytes made by `map`,
            // and the caller no longer uses it. munmap fails only for an invalid range.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: a block mimalloc gave for this layout.
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc::realloc requires that `new_size`, rounded up to the alignment,
        // does not overflow isize, which is what a Layout needs.
        let new_layout =
            unsafe { std::alloc::Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (own_mapping(layout), own_mapping(new_layout)) {
            // SAFETY: mimalloc's block, and its layout, as the caller gave them.
            (false, false) => unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) },
            (true, true) => {
                // SAFETY: `ptr` starts a mapping of `layout.size()` bytes; the kernel moves or
                // grows it whole, keeping its contents, and a failure leaves it as it was.
                let p = unsafe {
                    libc::mremap(ptr.cast(), layout.size(), new_size, libc::MREMAP_MAYMOVE)
                };
                if p == libc::MAP_FAILED {
                    std::ptr::null_mut()
                } else {
                    p.cast()
                }
            }
            _ => {
                // SAFETY: the new block is allocated for its own layout; both blocks hold at
                // least the bytes copied, and are distinct. The old block is freed with the
                // layout it was allocated with, only once the copy succeeded.
                unsafe {
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    new
                }
            }
        }
    }
}

/// mimalloc's `mi_option_arena_eager_commit` (the fifth of `mi_option_e` in its `mimalloc.h`).
#[cfg(target_os = "linux")]
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// NC-2.1.8: memory freed after a burst goes back to the system: mimalloc commits its arenas as
/// they are used rather than whole. Else (measured with `bench/abuse.py --auth-only`) the Argon2
/// memory of a burst of password guesses stayed in the process: +45 MB three seconds after,
/// against +4 MB so. The option must be set before the first allocation reserves the first
/// arena, and the Rust runtime allocates before `main`: so this runs as a constructor of the
/// process (`.init_array`), as the `MIMALLOC_ARENA_EAGER_COMMIT` variable would be read.
// SAFETY (link_section): `.init_array` holds pointers to functions taking and returning nothing,
// which the C runtime calls before main; this is one such pointer, to a function that only sets
// an option.
#[cfg(target_os = "linux")]
#[used]
#[allow(unsafe_code)]
#[link_section = ".init_array"]
static MIMALLOC_OPTIONS: extern "C" fn() = mimalloc_options;

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
extern "C" fn mimalloc_options() {
    // SAFETY: mi_option_set only sets one of mimalloc's options, a valid one to a valid value;
    // constructors run before any thread but the first exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
}

/// NC-2.1.8: glibc's malloc, which SQLite and the other C code use: see [`MMAP_THRESHOLD`].
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn tune_allocator() {
    // SAFETY: mallopt only sets parameters of glibc's malloc, with valid values; it runs first
    // in main, before any other thread exists, so nothing allocates while they change.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_allocator() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// NC-2.1.8: the constructor ran before the first allocation and mimalloc took the option
    /// (this test binary has the same constructor and allocator as the server).
    #[cfg(target_os = "linux")]
    #[test]
    #[allow(unsafe_code)]
    fn nc_2_1_8_mimalloc_commits_its_arenas_as_used() {
        let _warm = vec![0u8; 1 << 20];
        // SAFETY: mi_option_get reads one of mimalloc's options, a valid one.
        let eager = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_ARENA_EAGER_COMMIT) };
        assert_eq!(eager, 0);
    }

    /// Whether the page at `addr` is mapped in this process (mincore fails with ENOMEM if not).
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn mapped(addr: usize) -> bool {
        let mut resident = [0u8; 1];
        // SAFETY: mincore only reports on the range, writing one byte per page into `resident`,
        // which has room for the one page asked about.
        unsafe {
            libc::mincore(
                (addr & !(PAGE - 1)) as *mut libc::c_void,
                PAGE,
                resident.as_mut_ptr(),
            ) == 0
        }
    }

    /// NC-2.1.8: an Argon2id-sized block leaves the process when it is freed, not when mimalloc
    /// next purges: the page it used is no longer mapped at all.
    #[cfg(target_os = "linux")]
    #[test]
    fn nc_2_1_8_a_hash_sized_block_is_unmapped_when_freed() {
        let mut block = vec![0u8; 19 << 20];
        block.iter_mut().step_by(PAGE).for_each(|b| *b = 1);
        let addr = block.as_ptr() as usize + (8 << 20);
        assert!(mapped(addr));
        drop(block);
        assert!(!mapped(addr), "a freed 19 MiB block is still mapped");

        // Below the line, mimalloc keeps the block's address space for its next blocks.
        let small = vec![1u8; 1 << 20];
        let addr = small.as_ptr() as usize;
        drop(small);
        assert!(mapped(addr));
    }

    /// A block grown or shrunk across the line keeps its contents, whichever allocator it
    /// moves between, and a mapping grows in place or moves whole.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_block_keeps_its_bytes_across_the_line() {
        let mut v: Vec<u8> = Vec::with_capacity(1 << 20);
        for i in 0..(10usize << 20) {
            v.push((i % 251) as u8);
        }
        assert!(v.capacity() >= OWN_MAPPING);
        v.truncate(3 << 20);
        v.shrink_to_fit();
        assert!(v.capacity() < OWN_MAPPING);
        assert!(v.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        v.extend(std::iter::repeat_n(7u8, 6 << 20));
        assert_eq!(v.len(), 9 << 20);
        assert!(v[..3 << 20]
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 251) as u8));
        assert!(v[3 << 20..].iter().all(|b| *b == 7));
    }
}
