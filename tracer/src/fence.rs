//! An asymmetric fence for Dekker-style handshakes between a frequent side
//! and a rare side.
//!
//! In such a handshake each side stores its own word and then loads the
//! other's, and each needs its store ordered before its load (StoreLoad),
//! which on x86-64 costs a locked instruction or an `mfence` on *both* sides.
//! Two users:
//!
//! - the tracer's seqlock (`locker.rs`): every M, on every event, stores
//!   its seqlock odd and then loads the generation; the advancer, once per
//!   generation, stores the new generation and then loads each seqlock;
//! - the runtime's `Pull` guard: the goroutine the `Pull` is biased to stores
//!   its "inside" flag and then loads the bias, on every `next`; a goroutine
//!   taking the `Pull` over, once, stores the revocation and then loads the
//!   flag.
//!
//! The cost is moved entirely to the rare side with Linux's `membarrier(2)`
//! (`MEMBARRIER_CMD_PRIVATE_EXPEDITED`): the rare side's call makes every
//! running thread of the process execute a full memory barrier, at some point
//! after the call starts and before it returns, and a thread that is not
//! running gets one from the context switch. For a frequent-side thread whose
//! barrier falls
//!
//! - before its store: the barrier comes after the rare side's store, so the
//!   frequent side's load sees it;
//! - after its load: its store is visible to the rare side's load, which
//!   follows the call's return;
//! - between the two: both of the above.
//!
//! So the frequent side needs only to keep the compiler from reordering its
//! store and load ([`light`]), and the rare side pays one system call
//! ([`heavy`]). Where `membarrier` is missing (another OS, an old kernel, a
//! seccomp filter), both sides use a `SeqCst` fence instead: still no locked
//! read-modify-write on the frequent side, one `mfence`. Both sides of one
//! handshake must pass the same `asymmetric` choice.
//!
//! Under loom, [`light`] is a `SeqCst` fence: loom cannot make one thread run
//! a fence in another, and the fence at the frequent side's worst position
//! (between its store and load) is the case the argument above reduces to.

use std::sync::atomic::{compiler_fence, Ordering::SeqCst};

/// Whether the frequent side may use the compiler-only fence: `membarrier`
/// is registered for this process (registered on the first call). The tracer
/// decides once per session (`crate::locker::Flags`), a `Pull` once at its
/// creation.
pub fn asymmetric_available() -> bool {
    #[cfg(all(target_os = "linux", not(loom)))]
    {
        static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *REGISTERED.get_or_init(membarrier::register)
    }
    #[cfg(not(all(target_os = "linux", not(loom))))]
    {
        false
    }
}

/// Frequent side: orders its store before its load. `asymmetric`: the
/// handshake's choice ([`asymmetric_available`], decided once).
#[inline(always)]
pub fn light(asymmetric: bool) {
    #[cfg(loom)]
    {
        let _ = asymmetric;
        loom::sync::atomic::fence(SeqCst);
    }
    #[cfg(not(loom))]
    if asymmetric {
        compiler_fence(SeqCst);
    } else {
        full_fence();
    }
}

/// The fallback's `mfence`, out of line: callers' hot paths then hold no
/// fence instruction at all.
#[cold]
#[inline(never)]
#[cfg(not(loom))]
fn full_fence() {
    std::sync::atomic::fence(SeqCst);
}

/// Rare side: orders its store before its load and (when `asymmetric`) makes
/// every frequent-side thread's pending store visible to that load.
pub fn heavy(asymmetric: bool) {
    #[cfg(loom)]
    {
        let _ = asymmetric;
        loom::sync::atomic::fence(SeqCst);
    }
    #[cfg(not(loom))]
    {
        std::sync::atomic::fence(SeqCst);
        #[cfg(target_os = "linux")]
        if asymmetric && !membarrier::private_expedited() {
            // Registration succeeded, so the command cannot fail short of a
            // kernel bug; going on could take a buffer a writer is still
            // filling, which is worse than stopping.
            eprintln!(
                "gort-tracer: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration: {}",
                std::io::Error::last_os_error()
            );
            std::process::abort();
        }
        #[cfg(not(target_os = "linux"))]
        let _ = asymmetric;
    }
    compiler_fence(SeqCst);
}

#[cfg(all(target_os = "linux", not(loom)))]
mod membarrier {
    const QUERY: libc::c_int = 0;
    const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    fn call(cmd: libc::c_int) -> libc::c_long {
        // SAFETY: `membarrier(cmd, flags = 0, cpu_id = 0)` takes no pointers
        // and has no effect on this process's memory beyond the barriers it
        // issues; an unsupported command returns -1 (EINVAL or ENOSYS).
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_uint,
                0 as libc::c_int,
            )
        }
    }

    /// Registers the process for expedited private barriers, if the kernel
    /// supports them.
    pub(super) fn register() -> bool {
        let cmds = call(QUERY);
        let need = libc::c_long::from(PRIVATE_EXPEDITED | REGISTER_PRIVATE_EXPEDITED);
        if cmds < 0 || cmds & need != need {
            return false;
        }
        call(REGISTER_PRIVATE_EXPEDITED) == 0
    }

    /// A full barrier on every running thread of this process.
    pub(super) fn private_expedited() -> bool {
        call(PRIVATE_EXPEDITED) == 0
    }
}
