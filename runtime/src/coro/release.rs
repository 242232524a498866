//! Releasing the stack of a coroutine that sleeps for long, and restoring it.
//!
//! A parked goroutine holds at least the top page of its stack, where its
//! live frames are: often well under a kilobyte of a 4 KiB page. While it
//! sleeps, [`Coro::release_top`] copies the live part (from a point at or
//! below the coroutine's stack pointer up to the stack's base, and the
//! slot header's owner word) to the heap and gives the pages under it back to
//! the kernel with `MADV_DONTNEED`; the next [`Coro::resume`] copies it back
//! first (the pages fault in again as the copy writes them). The addresses
//! do not change, so every pointer into the stack stays valid, as long as
//! nothing dereferences one while the stack is away: the runtime keeps what
//! peers write into while a goroutine is parked off its stack (see
//! `task::waitmem`), and the goroutine itself is not running.
//!
//! Where the live part begins: the coroutine's exact stack pointer is
//! corosensei's (it keeps it private), so the parking goroutine records its
//! own stack pointer ([`stack_pointer`]) just before it suspends, and the
//! frames below that record (the suspension's own, a fixed code path) are
//! measured once per process by [`Canary`]: a goroutine fills the memory
//! under its frame with a pattern, parks through the same path, and the
//! lowest word the suspension overwrote gives the depth.
//!
//! Not compiled in under AddressSanitizer (its shadow memory and fake
//! stacks would need the same treatment): there [`Coro::release_top`]
//! declines.

use super::stack::{page_size, HEADER_BYTES};
use super::Coro;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// What the released stacks of one pool hold on the heap now.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Stacks released and not yet restored.
    pub(crate) stacks: AtomicUsize,
    /// Bytes their live parts take on the heap.
    pub(crate) bytes: AtomicUsize,
}

/// The live top of a released stack, kept on the heap until the coroutine
/// runs again.
pub(crate) struct SavedTop {
    /// The lowest address copied; the copy runs up to the stack's base.
    from: usize,
    bytes: Box<[u8]>,
    /// The slot header's owner word (the rest of the header is unused).
    owner: u64,
    ledger: Arc<Ledger>,
    /// The flag that says the stack is released, cleared on restore.
    flag: *const AtomicBool,
}

// SAFETY: `flag` points into the task that owns the coroutine holding this
// record, so it outlives the record; it is only used for atomic stores.
unsafe impl Send for SavedTop {}

impl std::fmt::Debug for SavedTop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedTop")
            .field("from", &format_args!("{:#x}", self.from))
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The stack pointer of the caller (on x86-64 and AArch64; elsewhere the
/// address of a local of this function, a conservative stand-in since the
/// caller's frame lies above it).
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: reads a register into a register; no memory, no flags.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(target_arch = "aarch64")]
    {
        let sp: usize;
        // SAFETY: as above.
        unsafe {
            std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let here = 0u8;
        std::hint::black_box(&here) as *const u8 as usize
    }
}

impl<R> Coro<R> {
    /// Releases the stack of this suspended coroutine from `from` up (see
    /// the module doc): returns the bytes now kept on the heap, or `None`
    /// if nothing was done (already released, `from` outside the usable
    /// stack, or a sanitized build).
    ///
    /// On success `flag` is set, and cleared when the stack is restored.
    ///
    /// # Safety
    /// The coroutine is suspended, the caller owns it (no other thread
    /// touches it or its stack until the caller gives it up), and no live
    /// data of the coroutine lies below `from` in its stack; `flag`
    /// outlives the coroutine (it is a field of the task that owns it).
    pub(crate) unsafe fn release_top(
        &mut self,
        from: usize,
        ledger: &Arc<Ledger>,
        flag: &AtomicBool,
    ) -> Option<usize> {
        if cfg!(gort_asan) || self.saved.is_some() || !self.inner.started() || self.inner.done() {
            return None;
        }
        let (low, end) = (self.slot.0 + page_size(), self.slot.1);
        let base = end - HEADER_BYTES;
        let from = from & !15;
        if from < low || from >= base {
            return None;
        }
        let len = base - from;
        let mut bytes = vec![0u8; len].into_boxed_slice();
        // The slot is mapped read/write while its stack is handed out, as it
        // is: this coroutine runs on it.
        // SAFETY: `from..end` lies in that slot, nothing writes it now (the
        // coroutine is suspended and owned by the caller); `bytes` is fresh, `len` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                std::ptr::with_exposed_provenance::<u8>(from),
                bytes.as_mut_ptr(),
                len,
            )
        };
        // SAFETY: the owner word at `base` is the slot header's, written
        // only atomically (see `PooledStack::owner_word`) and by no one now.
        let owner = unsafe {
            std::sync::atomic::AtomicU64::from_ptr(std::ptr::with_exposed_provenance_mut(base))
        }
        .load(Relaxed);
        let page = page_size();
        let first = from & !(page - 1);
        // Anonymous private pages read back as zeros after this and fault in
        // fresh when written.
        // SAFETY: `first..end` is whole pages of the same slot; what they hold
        // below `from` is dead (the caller's guarantee) and the rest is in `bytes`.
        let rc = unsafe {
            libc::madvise(
                std::ptr::with_exposed_provenance_mut::<libc::c_void>(first),
                end - first,
                libc::MADV_DONTNEED,
            )
        };
        if rc != 0 {
            // The pages stay as they are; nothing to restore.
            return None;
        }
        ledger.stacks.fetch_add(1, Relaxed);
        ledger.bytes.fetch_add(len, Relaxed);
        flag.store(true, Relaxed);
        self.saved = Some(SavedTop {
            from,
            bytes,
            owner,
            ledger: ledger.clone(),
            flag,
        });
        Some(len)
    }

    /// Copies a released stack back (before the coroutine runs again).
    #[cold]
    #[inline(never)]
    pub(super) fn restore(&mut self) {
        let Some(saved) = self.saved.take() else {
            return;
        };
        // The slot is still mapped: the stack is still this coroutine's.
        // SAFETY: `from..from + len` is the part of this coroutine's slot that
        // `release_top` copied out; nothing else writes it while the caller,
        // about to resume the coroutine, owns it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                saved.bytes.as_ptr(),
                std::ptr::with_exposed_provenance_mut::<u8>(saved.from),
                saved.bytes.len(),
            )
        };
        let base = saved.from + saved.bytes.len();
        // SAFETY: as above; the owner word sits at the stack's base.
        unsafe {
            std::sync::atomic::AtomicU64::from_ptr(std::ptr::with_exposed_provenance_mut(base))
        }
        .store(saved.owner, Relaxed);
        // SAFETY: the flag outlives the coroutine (`release_top`'s contract).
        unsafe { (*saved.flag).store(false, Relaxed) };
        saved.ledger.stacks.fetch_sub(1, Relaxed);
        saved.ledger.bytes.fetch_sub(saved.bytes.len(), Relaxed);
    }
}

/// The calibration of the suspension's depth below the recorded stack
/// pointer (see the module doc): process-wide, measured on the first park
/// with room for it.
pub(crate) struct Canary;

/// The suspension's depth below the recorded stack pointer, plus a margin:
/// 0 while unmeasured, [`Canary::OFF`] where it cannot be (release is then
/// off).
static PARK_DEPTH: AtomicUsize = AtomicUsize::new(0);

impl Canary {
    /// The pattern written under the parking goroutine's frame.
    const WORD: u64 = 0x6a09_e667_f3bc_c908;
    /// Bytes of it.
    pub(crate) const SPAN: usize = 16 * 1024;
    /// Added to the measured depth (which is exact for the build: no live
    /// word lies below the lowest one the suspension wrote).
    const MARGIN: usize = 16;
    /// [`PARK_DEPTH`] where no measurement is possible.
    const OFF: usize = usize::MAX;

    /// The measured depth to add below a recorded stack pointer, if any.
    #[inline]
    pub(crate) fn depth() -> Option<usize> {
        match PARK_DEPTH.load(Relaxed) {
            0 | Self::OFF => None,
            d => Some(d),
        }
    }

    /// Whether a park should measure (nothing measured yet).
    #[inline(always)]
    pub(crate) fn wanted() -> bool {
        PARK_DEPTH.load(Relaxed) == 0
    }

    /// Fills the `SPAN` bytes under the caller's stack pointer with the
    /// pattern (the topmost word excepted) and returns that stack pointer
    /// and the lowest address filled; `None` on targets where it is not
    /// implemented (which turns release off for the process). Inlined, so
    /// that "the caller's stack pointer" is that of the parking function.
    ///
    /// # Safety
    /// At least `SPAN` bytes of the caller's stack are free below its stack
    /// pointer, above its guard page.
    #[inline(always)]
    pub(crate) unsafe fn fill() -> Option<(usize, usize)> {
        #[cfg(all(target_arch = "x86_64", not(gort_asan)))]
        {
            let (sp, low): (usize, usize);
            // A non-leaf function keeps nothing below its stack pointer between
            // calls, and this block declares no `nostack`, so the compiler keeps
            // nothing there across it either. `rep stosq` counts up since the
            // direction flag is clear on entry to an asm block.
            // SAFETY: writes `SPAN / 8 - 1` words from `rsp - SPAN` up, below
            // the stack pointer, in memory the caller's guarantee makes free.
            unsafe {
                std::arch::asm!(
                    "mov {sp}, rsp",
                    "mov {low}, rsp",
                    "sub {low}, {span}",
                    "mov rdi, {low}",
                    "rep stosq",
                    sp = out(reg) sp,
                    low = out(reg) low,
                    span = const Self::SPAN,
                    in("rcx") Self::SPAN / 8 - 1,
                    in("rax") Self::WORD,
                    out("rdi") _,
                    lateout("rcx") _,
                )
            };
            Some((sp, low))
        }
        #[cfg(not(all(target_arch = "x86_64", not(gort_asan))))]
        {
            PARK_DEPTH.store(Self::OFF, Relaxed);
            None
        }
    }

    /// After the measuring goroutine suspended: finds the lowest word of
    /// `low..sp` that the suspension overwrote and records the depth
    /// (`sp - lowest`, plus a margin) for the process.
    ///
    /// # Safety
    /// `(sp, low)` came from [`fill`](Self::fill) in a goroutine that is
    /// suspended now and owned by the caller, on a stack still mapped.
    pub(crate) unsafe fn measure(sp: usize, low: usize) {
        let mut at = low;
        while at < sp - 8 {
            // SAFETY: the caller's guarantee: `low..sp` is the suspended
            // goroutine's stack, which nothing writes now.
            let w = unsafe { std::ptr::with_exposed_provenance::<u64>(at).read_volatile() };
            if w != Self::WORD {
                break;
            }
            at += 8;
        }
        // Nothing overwritten: the suspension wrote only in the top word.
        let depth = (sp - at).max(8) + Self::MARGIN;
        let _ = PARK_DEPTH.compare_exchange(0, depth, Relaxed, Relaxed);
    }
}

#[cfg(all(test, not(loom), not(gort_asan)))]
mod tests {
    use super::super::{suspend, Coro, Resume, StackPool, YielderPtr};
    use super::*;
    use std::sync::atomic::AtomicUsize as Cell;

    /// Pages of `lo..hi` resident now (mincore).
    fn resident(lo: usize, hi: usize) -> usize {
        let page = page_size();
        let (lo, hi) = (lo & !(page - 1), (hi + page - 1) & !(page - 1));
        let mut vec = vec![0u8; (hi - lo) / page];
        // SAFETY: `lo..hi` lies in a live stack mapping; mincore only
        // writes `vec`, one byte per page.
        let rc = unsafe {
            libc::mincore(
                std::ptr::with_exposed_provenance_mut::<libc::c_void>(lo),
                hi - lo,
                vec.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
        vec.iter().filter(|&&b| b & 1 != 0).count()
    }

    #[test]
    fn a_released_stack_gives_its_pages_back_and_resumes_intact() {
        let pool = StackPool::new(super::super::stack::DEFAULT_STACK_BYTES).expect("pool");
        let mut stack = pool.get().expect("stack");
        stack.set_owner(42);
        let end = stack.slot_end();
        let owner = || {
            // SAFETY: the slot header's owner word, in a live mapping; read
            // while the coroutine is suspended.
            unsafe {
                std::sync::atomic::AtomicU64::from_ptr(std::ptr::with_exposed_provenance_mut(
                    end - HEADER_BYTES,
                ))
            }
            .load(Relaxed)
        };
        // The coroutine publishes its yielder and, before it suspends, its
        // stack pointer; 1 KiB below that is far below anything the
        // suspension writes.
        static YIELDER: Cell = Cell::new(0);
        static SP: Cell = Cell::new(0);
        let mut co: Coro<u64> = Coro::new(
            stack,
            |y: YielderPtr<u64>| YIELDER.store(y as usize, Relaxed),
            |_| {
                // Two pages of frames with a pattern the resume checks.
                let mut a = [0u64; 1024];
                for (k, w) in a.iter_mut().enumerate() {
                    *w = k as u64 * 3 + 1;
                }
                std::hint::black_box(&mut a);
                SP.store(stack_pointer(), Relaxed);
                let y = YIELDER.load(Relaxed) as YielderPtr<u64>;
                // SAFETY: `y` is this coroutine's own yielder.
                let how = unsafe { suspend(y, 7) };
                assert_eq!(how, Resume::Run);
                std::hint::black_box(&mut a);
                let ok = a.iter().enumerate().all(|(k, &w)| w == k as u64 * 3 + 1);
                // SAFETY: as above.
                unsafe { suspend(y, u64::from(ok)) };
            },
        );
        assert_eq!(co.resume(Resume::Run), Some(7));
        let from = SP.load(Relaxed) - 1024;
        assert!(resident(from, end) >= 3, "the frames are resident");
        let ledger = Arc::new(Ledger::default());
        let flag = AtomicBool::new(false);
        // SAFETY: suspended, owned here, nothing live below `from`; `flag`
        // outlives `co`.
        let kept = unsafe { co.release_top(from, &ledger, &flag) }.expect("released");
        assert!(flag.load(Relaxed));
        assert_eq!(kept, end - HEADER_BYTES - (from & !15));
        assert_eq!(ledger.stacks.load(Relaxed), 1);
        assert_eq!(ledger.bytes.load(Relaxed), kept);
        assert_eq!(resident(from, end), 0, "the pages went back");
        assert_eq!(owner(), 0, "the header's page went back too");
        // SAFETY: as above.
        assert!(
            // SAFETY: as above.
            unsafe { co.release_top(from, &ledger, &flag) }.is_none(),
            "once"
        );
        assert_eq!(co.resume(Resume::Run), Some(1), "every word came back");
        assert_eq!(owner(), 42, "and the owner word");
        assert!(!flag.load(Relaxed));
        assert_eq!(ledger.stacks.load(Relaxed), 0);
        assert_eq!(ledger.bytes.load(Relaxed), 0);
        assert_eq!(co.resume(Resume::Run), None);
        pool.put(co.into_stack());
    }
}
