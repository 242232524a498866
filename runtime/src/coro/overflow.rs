//! Goroutine stack overflow reports: a fault handler that knows the pools' guard pages.
//!
//! A coroutine that overflows its stack touches the guard page below it and gets `SIGSEGV`.
//! Rust std's handler only knows thread stacks, so without this module the process dies
//! silently with status 139. [`install`] puts a `SIGSEGV`/`SIGBUS` handler in front of the
//! previous one:
//!
//! 1. it reads the fault address from `siginfo_t`;
//! 2. it looks the address up in the guard registry, a static table of every chunk that a
//!    `StackPool` has carved (start, end, stride, guard bytes, stack limit);
//! 3. on a hit it reads the owning goroutine's id from the slot header and writes, with raw
//!    `write(2)` calls on fd 2, a report in Go's words:
//!
//!    ```text
//!    runtime: goroutine stack exceeds 262144-byte limit
//!    runtime: addr=0x7f3a1c000ff8 stack=[0x7f3a1c001000, 0x7f3a1c040fc0]
//!    fatal error: stack overflow
//!
//!    goroutine 17 [running]:
//!    ```
//!
//!    then exits with status 2 through `_exit`, as Go does;
//! 4. any other fault goes to the handler that was installed before ([`install`] records
//!    it): std's, which reports thread-stack overflows, or else the default action.
//!
//! Everything the handler does is async-signal-safe: atomic loads, reads of the faulting
//! chunk's header, a stack buffer, `write`, `_exit`, `sigaction`. No allocation, no lock.
//!
//! The kernel needs a stack to deliver the signal on, and the faulting one is exhausted, so
//! the handler runs on the thread's alternate signal stack (`SA_ONSTACK`). Rust std sets one
//! up for the main thread and the threads it spawns; [`ensure_altstack`] covers any other
//! thread a worker may run on.
//!
//! Registry protocol: writers (carving and dropping chunks) serialise on a mutex. A writer
//! fills an entry's geometry, then publishes its `start` with `Release`; it retracts an entry
//! by storing `start = 0` before the chunk is unmapped. The handler reads `start` with
//! `Acquire`, then the geometry, then `start` again, and trusts the entry only if both reads
//! agree.

// N.B. the registry and the saved handlers are plain std atomics in statics, not the loom
// shim: a signal handler reads them, and nothing here is modelled under loom.
#![allow(clippy::disallowed_types)]

use std::cell::Cell;
use std::io;
use std::mem;
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::stack::{page_size, HEADER_BYTES};

/// Most chunks registered at once (4M stacks at 256 per chunk).
const MAX_CHUNKS: usize = 16 * 1024;
/// Exit status of a goroutine stack overflow, as in Go.
const OVERFLOW_EXIT_STATUS: libc::c_int = 2;
/// Smallest alternate signal stack [`ensure_altstack`] sets up, in bytes.
const MIN_ALTSTACK_BYTES: usize = 32 * 1024;

/// One registered chunk; `start == 0` marks a free entry.
struct Entry {
    start: AtomicUsize,
    end: AtomicUsize,
    stride: AtomicUsize,
    guard: AtomicUsize,
    size: AtomicUsize,
}

impl Entry {
    const fn empty() -> Entry {
        Entry {
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            stride: AtomicUsize::new(0),
            guard: AtomicUsize::new(0),
            size: AtomicUsize::new(0),
        }
    }
}

static CHUNKS: [Entry; MAX_CHUNKS] = [const { Entry::empty() }; MAX_CHUNKS];
/// Entries at or past this index have never been used.
static CHUNKS_USED: AtomicUsize = AtomicUsize::new(0);
/// Serialises registry writers; the handler never takes it.
static REGISTRY_LOCK: Mutex<()> = Mutex::new(());

/// A chunk's place in the guard registry; dropping it retracts the entry.
#[derive(Debug)]
pub(crate) struct Registration {
    index: usize,
}

/// Registers a chunk of goroutine stacks: `len` bytes from `start`, slots `stride` bytes
/// apart, each starting with `guard` guard bytes, each a `size`-byte stack.
///
/// # Errors
///
/// `OutOfMemory` when [`MAX_CHUNKS`] chunks are registered already.
pub(crate) fn register(
    start: usize,
    len: usize,
    stride: usize,
    guard: usize,
    size: usize,
) -> io::Result<Registration> {
    let _writer = REGISTRY_LOCK.lock();
    let used = CHUNKS_USED.load(Ordering::Relaxed);
    let index = CHUNKS[..used]
        .iter()
        .position(|e| e.start.load(Ordering::Relaxed) == 0)
        .or((used < MAX_CHUNKS).then_some(used))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("goroutine stack registry is full ({MAX_CHUNKS} chunks)"),
            )
        })?;
    let entry = &CHUNKS[index];
    entry.end.store(start + len, Ordering::Relaxed);
    entry.stride.store(stride, Ordering::Relaxed);
    entry.guard.store(guard, Ordering::Relaxed);
    entry.size.store(size, Ordering::Relaxed);
    // Release: pairs with the handler's Acquire load of `start`, so a handler that sees this
    // start also sees the geometry above.
    entry.start.store(start, Ordering::Release);
    if index == used {
        // Release: pairs with the handler's Acquire load of CHUNKS_USED.
        CHUNKS_USED.store(used + 1, Ordering::Release);
    }
    Ok(Registration { index })
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _writer = REGISTRY_LOCK.lock();
        // Release: the handler's second Acquire load of `start` then sees 0 or the value it
        // saw first, never a mix with a later registration's geometry unnoticed.
        CHUNKS[self.index].start.store(0, Ordering::Release);
    }
}

/// What the handler knows about a fault inside a guard page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct GuardHit {
    /// Lowest address of the slot (its guard page).
    slot: usize,
    /// The slot's header: top of the usable stack.
    base: usize,
    /// The stack limit in bytes.
    size: usize,
    /// Low end of the usable stack.
    low: usize,
}

/// Finds the guard page holding `addr`, if any registered chunk has one there.
fn find_guard(addr: usize) -> Option<GuardHit> {
    // Acquire: pairs with the Release store in `register`.
    let used = CHUNKS_USED.load(Ordering::Acquire).min(MAX_CHUNKS);
    for entry in &CHUNKS[..used] {
        // Acquire: pairs with the Release store of `start` in `register`.
        let start = entry.start.load(Ordering::Acquire);
        if start == 0 || addr < start {
            continue;
        }
        let end = entry.end.load(Ordering::Relaxed);
        let stride = entry.stride.load(Ordering::Relaxed);
        let guard = entry.guard.load(Ordering::Relaxed);
        let size = entry.size.load(Ordering::Relaxed);
        // Acquire: orders the geometry loads above before this re-check.
        if entry.start.load(Ordering::Acquire) != start || addr >= end || stride == 0 {
            continue;
        }
        let offset = addr - start;
        if offset % stride < guard {
            let slot = start + offset / stride * stride;
            let base = slot + stride - HEADER_BYTES;
            return Some(GuardHit {
                slot,
                base,
                size,
                low: slot + guard,
            });
        }
    }
    None
}

/// The slot whose guard page holds `addr`, if any (for the pool's tests).
#[cfg(test)]
pub(super) fn find_guard_for_test(addr: usize) -> Option<usize> {
    find_guard(addr).map(|hit| hit.slot)
}

/// A fixed buffer for the report: no allocation, no `core::fmt`.
struct Report {
    buf: [u8; 512],
    len: usize,
}

impl Report {
    fn new() -> Report {
        Report {
            buf: [0; 512],
            len: 0,
        }
    }

    fn text(&mut self, s: &str) -> &mut Report {
        for &b in s.as_bytes() {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        self
    }

    fn decimal(&mut self, mut v: u64) -> &mut Report {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.bytes(&digits[i..])
    }

    fn hex(&mut self, v: usize) -> &mut Report {
        let mut digits = [0u8; 16];
        let mut i = digits.len();
        let mut v = v as u64;
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(v & 0xf) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.text("0x").bytes(&digits[i..])
    }

    fn bytes(&mut self, bytes: &[u8]) -> &mut Report {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        self
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The report for a fault at `addr` in `hit`'s guard page, on goroutine `goroutine`.
    fn overflow(addr: usize, hit: GuardHit, goroutine: u64) -> Report {
        let mut r = Report::new();
        r.text("runtime: goroutine stack exceeds ")
            .decimal(hit.size as u64)
            .text("-byte limit\nruntime: addr=")
            .hex(addr)
            .text(" stack=[")
            .hex(hit.low)
            .text(", ")
            .hex(hit.base)
            .text("]\nfatal error: stack overflow\n\ngoroutine ")
            .decimal(goroutine)
            .text(" [running]:\n");
        r
    }
}

/// Writes all of `bytes` to fd 2 with raw `write(2)`, retrying on `EINTR`.
fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live, initialised buffer of `bytes.len()` bytes; write(2) only
        // reads it and is async-signal-safe.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        match usize::try_from(n) {
            Ok(0) => return,
            Ok(n) => bytes = bytes.get(n..).unwrap_or(&[]),
            Err(_) if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// The handler that was installed before ours, per signal: `(sa_sigaction, sa_flags)`.
/// Written once by `install` before our handler can run.
static PREVIOUS_SEGV: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
static PREVIOUS_BUS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

fn previous(sig: libc::c_int) -> &'static [AtomicUsize; 2] {
    if sig == libc::SIGBUS {
        &PREVIOUS_BUS
    } else {
        &PREVIOUS_SEGV
    }
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to an SA_SIGINFO handler.
    let info_ref = unsafe { &*info };
    // SAFETY: for SIGSEGV and SIGBUS the union holds the fault address.
    let addr = unsafe { info_ref.si_addr() } as usize;
    if let Some(hit) = find_guard(addr) {
        let owner = hit.base as *mut u64;
        // SAFETY: the entry was registered when read, so its chunk is mapped, and `base` is
        // the 64-byte aligned header word that `PooledStack` only accesses atomically.
        let goroutine = unsafe { AtomicU64::from_ptr(owner) }.load(Ordering::Relaxed);
        write_stderr(Report::overflow(addr, hit, goroutine).as_bytes());
        // SAFETY: _exit is async-signal-safe and ends the process without running any
        // user-space code that the fault may have left inconsistent.
        unsafe { libc::_exit(OVERFLOW_EXIT_STATUS) };
    }
    chain(sig, info, context);
}

/// Hands a fault that is not ours to the handler installed before ours.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let [handler, flags] = previous(sig);
    // Acquire: pairs with the Release store in `install_one`.
    let handler = handler.load(Ordering::Acquire);
    let flags = flags.load(Ordering::Relaxed) as libc::c_int;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again and
        // the kernel ends the process with the signal, as if we had never been installed.
        // SAFETY: an all-zero sigaction is valid (SIG_DFL handler, empty mask, no flags).
        let mut default: libc::sigaction = unsafe { mem::zeroed() };
        default.sa_sigaction = libc::SIG_DFL;
        // SAFETY: `default` is a valid action; sigaction is async-signal-safe.
        unsafe { libc::sigaction(sig, &default, ptr::null_mut()) };
    } else if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO the saved address was installed as a three-argument
        // handler, and it is called with the arguments the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { mem::transmute(handler) };
        f(sig, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the saved address was installed as a one-argument
        // handler.
        let f: extern "C" fn(libc::c_int) = unsafe { mem::transmute(handler) };
        f(sig);
    }
}

static INSTALLED: std::sync::Once = std::sync::Once::new();

/// Installs the goroutine overflow handler for `SIGSEGV` and `SIGBUS`, once per process;
/// later calls do nothing.
///
/// It cannot fail: `sigaction` only rejects invalid signals and pointers, and these are
/// valid. (Debug builds assert it.)
///
/// N.B. a handler installed by someone else between our reading the old one and installing
/// ours would be lost; call this before other threads install fault handlers.
pub(crate) fn install() {
    INSTALLED.call_once(|| {
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            let installed = install_one(sig);
            debug_assert!(installed.is_ok(), "sigaction({sig}): {installed:?}");
        }
    });
}

fn install_one(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: all-zero is a valid sigaction (SIG_DFL, empty mask, no flags).
    let mut old: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: a null new action only queries; `old` is a valid place to write to.
    if unsafe { libc::sigaction(sig, ptr::null(), &mut old) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [handler, flags] = previous(sig);
    flags.store(old.sa_flags as usize, Ordering::Relaxed);
    // Release: pairs with the Acquire load in `chain`, which then also sees the flags.
    handler.store(old.sa_sigaction, Ordering::Release);

    // SAFETY: all-zero is a valid sigaction; the fields are set below.
    let mut new: libc::sigaction = unsafe { mem::zeroed() };
    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_fault;
    new.sa_sigaction = f as usize;
    new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: `new.sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut new.sa_mask) };
    // SAFETY: `new` is a complete action whose handler is async-signal-safe.
    if unsafe { libc::sigaction(sig, &new, ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An alternate signal stack this module mapped for the current thread.
struct AltStack {
    /// The mapping: a guard page, then the signal stack.
    map: usize,
    len: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let page = page_size();
        // SAFETY: all-zero is a valid stack_t.
        let mut current: libc::stack_t = unsafe { mem::zeroed() };
        // SAFETY: a null new stack only queries into `current`.
        unsafe { libc::sigaltstack(ptr::null(), &mut current) };
        if current.ss_sp as usize == self.map + page {
            let disable = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disabling the alternate stack is always valid outside a handler, and
            // a thread-local destructor does not run inside one.
            unsafe { libc::sigaltstack(&disable, ptr::null_mut()) };
        }
        // SAFETY: the mapping is ours, and it is no longer the thread's signal stack (or
        // another one replaced it), so no handler will run on it.
        unsafe { libc::munmap(self.map as *mut libc::c_void, self.len) };
    }
}

thread_local! {
    static ALTSTACK: Cell<Option<AltStack>> = const { Cell::new(None) };
}

/// Makes sure the calling thread has an alternate signal stack, so the overflow handler can
/// run when the goroutine stack is exhausted; the runtime calls it first thing on every
/// worker thread. Best effort: see [`try_ensure_altstack`] for what can fail. A thread left
/// without one still runs; an overflow on it then ends the process with a plain `SIGSEGV`
/// instead of the report.
pub(crate) fn ensure_altstack() {
    let _best_effort = try_ensure_altstack();
}

/// Like [`ensure_altstack`], reporting failure. Keeps an alternate stack that is already set
/// (Rust std sets one on the threads it spawns); otherwise maps a guarded one, freed at
/// thread exit.
///
/// # Errors
///
/// The OS error of `sigaltstack` or `mmap` (`ENOMEM` when memory or mappings run out).
pub(crate) fn try_ensure_altstack() -> io::Result<()> {
    // SAFETY: all-zero is a valid stack_t.
    let mut current: libc::stack_t = unsafe { mem::zeroed() };
    // SAFETY: a null new stack only queries into `current`.
    if unsafe { libc::sigaltstack(ptr::null(), &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if current.ss_flags & libc::SS_DISABLE == 0 {
        return Ok(());
    }
    let page = page_size();
    // SAFETY: getauxval only reads the auxiliary vector; 0 means "unknown".
    let min = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
    let size = min
        .max(libc::SIGSTKSZ)
        .max(MIN_ALTSTACK_BYTES)
        .next_multiple_of(page);
    let len = size + page;
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing.
    let map = unsafe { libc::mmap(ptr::null_mut(), len, prot, flags, -1, 0) };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let alt = AltStack {
        map: map as usize,
        len,
    };
    // SAFETY: the first page of our own fresh mapping becomes a guard; nothing uses it.
    if unsafe { libc::mprotect(map, page, libc::PROT_NONE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let stack = libc::stack_t {
        ss_sp: (alt.map + page) as *mut libc::c_void,
        ss_flags: 0,
        ss_size: size,
    };
    // SAFETY: `stack` describes `size` writable bytes that stay mapped until the thread-local
    // `AltStack` below is destroyed, which first disables them as the signal stack.
    if unsafe { libc::sigaltstack(&stack, ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    ALTSTACK.set(Some(alt));
    Ok(())
}

#[cfg(test)]
pub(super) mod child;
#[cfg(test)]
mod tests;
