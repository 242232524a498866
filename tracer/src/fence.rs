//! The asymmetric fence of the seqlock/generation handshake.
//!
//! Writers (every M, on every event) and the advancer (once per generation)
//! meet in a Dekker-style handshake (see [`crate::locker`]): the writer stores
//! its seqlock odd and then loads the generation; the advancer stores the new
//! generation and then loads each seqlock. Each side needs its store ordered
//! before its load (StoreLoad), which on x86-64 costs a locked instruction or
//! an `mfence` on *both* sides.
//!
//! The cost is moved entirely to the rare side with Linux's `membarrier(2)`
//! (`MEMBARRIER_CMD_PRIVATE_EXPEDITED`): the advancer's call makes every
//! running thread of the process execute a full memory barrier, at some point
//! after the call starts and before it returns, and a thread that is not
//! running gets one from the context switch. For a writer whose barrier falls
//!
//! - before its seqlock store: the barrier comes after the advancer's
//!   generation store, so the writer's generation load sees the new value;
//! - after its generation load: its seqlock store is visible to the
//!   advancer's seqlock load, which follows the call's return;
//! - between the two: both of the above.
//!
//! So the writer needs only to keep the compiler from reordering its store and
//! load ([`light`]), and the advancer pays one system call per generation
//! ([`heavy`]). Where `membarrier` is missing (another OS, an old kernel, a
//! seccomp filter), both sides use a `SeqCst` fence instead: still no locked
//! read-modify-write on the writer's side, one `mfence`.
//!
//! Under loom, [`light`] is a `SeqCst` fence: loom cannot make one thread run
//! a fence in another, and the fence at the writer's worst position (between
//! its store and load) is the case the argument above reduces to.

use std::sync::atomic::{compiler_fence, Ordering::SeqCst};

/// Whether writers may use the compiler-only fence: `membarrier` is
/// registered for this process. Decided once per session (see
/// [`crate::locker::Flags`]).
pub(crate) fn asymmetric_available() -> bool {
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

/// Writer side: orders the seqlock store before the generation load.
/// `asymmetric`: the session's choice ([`asymmetric_available`] at start).
#[inline(always)]
pub(crate) fn light(asymmetric: bool) {
    #[cfg(loom)]
    {
        let _ = asymmetric;
        loom::sync::atomic::fence(SeqCst);
    }
    #[cfg(not(loom))]
    if asymmetric {
        compiler_fence(SeqCst);
    } else {
        std::sync::atomic::fence(SeqCst);
    }
}

/// Advancer side: orders the generation store before the seqlock loads, and
/// (when `asymmetric`) makes every writer's pending seqlock store visible.
pub(crate) fn heavy(asymmetric: bool) {
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
