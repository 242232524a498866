//! What one fresh page costs: the floor under a goroutine that needs a page
//! of stack memory of its own.
//!
//! `cargo bench --bench page_cost -- [PAGES [METHOD]]` (default 100,000 pages, every
//! method; name one to time it alone in a fresh process) maps one
//! `MAP_NORESERVE` region with one page per goroutine-stack stride (260 KiB,
//! the runtime's default stack plus its guard and header), as a stack chunk
//! is laid out, and times per page:
//! - `touch`: the first write to a page (a page fault; how a goroutine's stack
//!   page is committed),
//! - `populate`: one `madvise(MADV_POPULATE_WRITE)` per page,
//! - `populate_batched`: `process_madvise(MADV_POPULATE_WRITE)` on 256 pages
//!   per call (Linux 6.13+ accepts any advice for the calling process; the
//!   line says `unsupported` otherwise),
//! - `dontneed_refault`: `madvise(MADV_DONTNEED)` then a first write again
//!   (releasing a parked goroutine's page and faulting it back on its wake),
//! - `guard`: `madvise(MADV_GUARD_INSTALL)` on one page per stride (how a stack
//!   chunk guards each slot), and `guard_batched`: the same through
//!   `process_madvise`, 256 pages per call,
//! - `retouch`: a write to a page already committed,
//! - `copy_1k`: copying 1 KiB between committed pages (a parked goroutine's
//!   live stack top).
//!
//! It prints one line, `page_cost: pages=N touch_ns=... populate_ns=...`.
//! A fresh page is what a goroutine that parks costs at least, on top of its
//! task; Go carves two 2 KiB stacks from one page.

use std::time::Instant;

const STRIDE: usize = 260 * 1024;
const PAGE: usize = 4096;
const MADV_POPULATE_WRITE: libc::c_int = 23;
const BATCH: usize = 256;
/// What `METHOD` may name; without one, each runs in turn in this process
/// (the first then also pays for pages the machine had never handed out).
const METHODS: [&str; 6] = [
    "touch",
    "populate",
    "populate_batched",
    "dontneed_refault",
    "guard",
    "guard_batched",
];
/// `MADV_GUARD_INSTALL` (Linux 6.13+): how a stack chunk guards each slot.
const MADV_GUARD_INSTALL: libc::c_int = 102;

struct Region {
    start: *mut u8,
    len: usize,
}

impl Region {
    fn new(pages: usize) -> Region {
        let len = pages * STRIDE;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: a fresh anonymous mapping at an address of the kernel's
        // choosing; it aliases nothing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "page_cost: mmap failed");
        Region {
            start: p.cast(),
            len,
        }
    }

    /// The top page of stride `i` (where a stack's first frames go).
    fn page(&self, i: usize) -> *mut u8 {
        assert!((i + 1) * STRIDE <= self.len);
        self.start.wrapping_add((i + 1) * STRIDE - PAGE)
    }

    /// The bottom page of stride `i` (where a stack's guard goes).
    fn guard(&self, i: usize) -> *mut u8 {
        assert!((i + 1) * STRIDE <= self.len);
        self.start.wrapping_add(i * STRIDE)
    }

    fn touch(&self, i: usize) {
        // SAFETY: inside the mapping (checked by `page`), read/write.
        unsafe { self.page(i).add(PAGE - 64).write_volatile(1) };
    }

    fn madvise(&self, i: usize, advice: libc::c_int) -> bool {
        // SAFETY: a page-aligned page of this mapping, which nothing else uses.
        unsafe { libc::madvise(self.page(i).cast(), PAGE, advice) == 0 }
    }

    fn madvise_guard(&self, i: usize) -> bool {
        // SAFETY: as above; a guard only makes the page fault.
        unsafe { libc::madvise(self.guard(i).cast(), PAGE, MADV_GUARD_INSTALL) == 0 }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping this value made; nothing points into it any more.
        unsafe { libc::munmap(self.start.cast(), self.len) };
    }
}

/// Nanoseconds per page of `f` over `pages` pages.
fn per_page(pages: usize, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_nanos() as f64 / pages as f64
}

/// `process_madvise(advice)` over every stride's page `at` (`Region::page` or
/// `Region::guard`), `BATCH` per call; `None` when the kernel refuses it.
fn batched(
    r: &Region,
    pages: usize,
    advice: libc::c_int,
    at: fn(&Region, usize) -> *mut u8,
) -> Option<f64> {
    // SAFETY: plain syscalls with valid arguments; the pidfd is closed below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if pidfd < 0 {
        return None;
    }
    let mut ok = true;
    let ns = per_page(pages, || {
        let mut iov = Vec::with_capacity(BATCH);
        for first in (0..pages).step_by(BATCH) {
            iov.clear();
            for i in first..(first + BATCH).min(pages) {
                iov.push(libc::iovec {
                    iov_base: at(r, i).cast(),
                    iov_len: PAGE,
                });
            }
            // SAFETY: `iov` holds `iov.len()` page ranges of this mapping.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_process_madvise,
                    pidfd,
                    iov.as_ptr(),
                    iov.len(),
                    advice,
                    0,
                )
            };
            if rc < 0 {
                ok = false;
                return;
            }
        }
    });
    // SAFETY: the descriptor opened above.
    unsafe { libc::close(pidfd as libc::c_int) };
    ok.then_some(ns)
}

/// ` NAME_ns=N` for [`batched`] on a fresh region (`unsupported` when the kernel refuses).
fn batched_field(
    name: &str,
    pages: usize,
    advice: libc::c_int,
    at: fn(&Region, usize) -> *mut u8,
) -> String {
    let r = Region::new(pages);
    let ns =
        batched(&r, pages, advice, at).map_or("unsupported".to_owned(), |ns| format!("{ns:.0}"));
    format!(" {name}_ns={ns}")
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let pages: usize = args.first().map_or(100_000, |s| match s.parse() {
        Ok(n) if n > 0 => n,
        _ => panic!("page_cost: PAGES must be a positive integer, got {s:?}"),
    });
    let only = args.get(1).map(String::as_str);
    let wanted = |m: &str| only.is_none_or(|o| o == m);
    if let Some(o) = only {
        assert!(
            METHODS.contains(&o),
            "page_cost: METHOD must be one of {METHODS:?}, got {o:?}"
        );
    }

    let mut out = format!("page_cost: pages={pages}");
    if wanted("touch") {
        let r = Region::new(pages);
        let touch = per_page(pages, || (0..pages).for_each(|i| r.touch(i)));
        let retouch = per_page(pages, || (0..pages).for_each(|i| r.touch(i)));
        let n = pages.min(10_000);
        let copy = per_page(n, || {
            for i in 0..n {
                let from = r.page(i);
                let to = r.page((i + 1) % pages);
                // SAFETY: two distinct committed pages of this mapping.
                unsafe { std::ptr::copy_nonoverlapping(from, to.add(2048), 1024) };
            }
        });
        out += &format!(" touch_ns={touch:.0} retouch_ns={retouch:.0} copy_1k_ns={copy:.0}");
    }
    if wanted("populate") {
        let r = Region::new(pages);
        let ns = per_page(pages, || {
            for i in 0..pages {
                assert!(
                    r.madvise(i, MADV_POPULATE_WRITE),
                    "MADV_POPULATE_WRITE failed"
                );
            }
        });
        out += &format!(" populate_ns={ns:.0}");
    }
    if wanted("populate_batched") {
        out += &batched_field("populate_batched", pages, MADV_POPULATE_WRITE, Region::page);
    }
    if wanted("dontneed_refault") {
        let r = Region::new(pages);
        (0..pages).for_each(|i| r.touch(i));
        let ns = per_page(pages, || {
            for i in 0..pages {
                assert!(r.madvise(i, libc::MADV_DONTNEED), "MADV_DONTNEED failed");
                r.touch(i);
            }
        });
        out += &format!(" dontneed_refault_ns={ns:.0}");
    }
    if wanted("guard") {
        let r = Region::new(pages);
        let ns = per_page(pages, || {
            for i in 0..pages {
                assert!(r.madvise_guard(i), "MADV_GUARD_INSTALL failed");
            }
        });
        out += &format!(" guard_ns={ns:.0}");
    }
    if wanted("guard_batched") {
        out += &batched_field("guard_batched", pages, MADV_GUARD_INSTALL, Region::guard);
    }
    println!("{out}");
}
