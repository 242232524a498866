//! Memory for what a blocked operation shares with its peers: a channel
//! operation's waiter slot, a select's token and case slots.
//!
//! Peers write into those records while their owner is parked (a sender
//! hands its value into a blocked receiver's slot, a select's winner marks
//! its token). Kept on the heap rather than on the owner's stack, they leave
//! nothing outside a parked goroutine pointing into its stack, so the stack
//! of a goroutine that sleeps for long can be released and restored.
//!
//! Two places, both in or from the goroutine's task:
//! - [`WaitArea`]: a few words inside the task, for the one record of a
//!   plain channel operation on a small `T` (a goroutine is in at most one
//!   such operation at a time): no bookkeeping at all;
//! - [`Lease`]: a block for anything larger (a select's token and slots, a
//!   slot for a large `T`). A goroutine keeps one spare block in its task
//!   between operations, so its blocking paths allocate nothing after the
//!   first. A plain thread gets a block of its own each time.

use super::{OwnCell, Task};
use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// The alignment of every block (a request above it gets its exact layout).
const ALIGN: usize = 16;

/// The smallest block: requests are rounded up to a power of two from here,
/// so that one spare serves a goroutine's differently sized operations.
const MIN_BLOCK: usize = 64;

/// An owned block of memory for a blocked operation's shared records. It
/// holds raw memory: the user places values in it and drops them before the
/// block goes.
pub(crate) struct WaitMem {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a block is plain memory owned by one `WaitMem`; which thread frees
// it does not matter to the allocator, and the values placed in it are the
// user's to make `Send` (the channel's slots hold `T: Send`).
unsafe impl Send for WaitMem {}

impl WaitMem {
    /// A new block of at least `layout`'s size and alignment.
    #[cold]
    fn alloc(layout: Layout) -> WaitMem {
        let size = layout.size().max(MIN_BLOCK).next_power_of_two();
        let layout = Layout::from_size_align(size, layout.align().max(ALIGN))
            .expect("a blocked operation's records fit in memory");
        // SAFETY: the layout's size is at least `MIN_BLOCK`, not zero.
        let ptr = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            alloc::handle_alloc_error(layout)
        };
        WaitMem { ptr, layout }
    }

    /// Whether the block can hold `layout`.
    #[inline]
    fn fits(&self, layout: Layout) -> bool {
        layout.size() <= self.layout.size() && layout.align() <= self.layout.align()
    }

    /// The block's first byte, aligned as asked.
    #[inline]
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }
}

impl Drop for WaitMem {
    fn drop(&mut self) {
        // SAFETY: the block came from `alloc` with this layout and this
        // `WaitMem` is its only owner.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// A block lent to one blocking operation; given back to its goroutine's
/// task (as the spare) when dropped, or freed if a thread borrowed it.
pub(crate) struct Lease {
    mem: Option<WaitMem>,
    /// The running goroutine that took the block: it drops the lease before
    /// it returns from the operation, so the task is alive.
    owner: Option<NonNull<Task>>,
}

impl Lease {
    /// A block of at least `layout` for an operation of the running
    /// goroutine `task`, or of a plain thread (`None`).
    #[inline]
    pub(crate) fn new(task: Option<&Task>, layout: Layout) -> Lease {
        let mem = match task {
            Some(t) => t.wait_mem(layout),
            None => WaitMem::alloc(layout),
        };
        Lease {
            mem: Some(mem),
            owner: task.map(NonNull::from),
        }
    }

    /// The block's first byte.
    #[inline]
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        match &self.mem {
            Some(m) => m.ptr(),
            None => unreachable!("a lease holds its block until dropped"),
        }
    }
}

impl Drop for Lease {
    #[inline]
    fn drop(&mut self) {
        let (Some(mem), Some(owner)) = (self.mem.take(), self.owner) else {
            return;
        };
        // SAFETY: the owner is the goroutine running this drop (a lease
        // never leaves the operation that took it), so its task is alive and
        // this thread owns its `OwnCell`s now.
        unsafe { owner.as_ref().keep_wait_mem(mem) };
    }
}

/// Bytes of a task's [`WaitArea`].
pub(crate) const WAIT_AREA: usize = 64;

/// Room inside a task for one record of the goroutine's current plain
/// blocking operation (see the module doc).
#[repr(C, align(16))]
pub(crate) struct WaitArea(std::cell::UnsafeCell<std::mem::MaybeUninit<[u8; WAIT_AREA]>>);

impl WaitArea {
    pub(crate) const fn new() -> WaitArea {
        WaitArea(std::cell::UnsafeCell::new(std::mem::MaybeUninit::uninit()))
    }

    /// Whether a `T` fits in the area.
    pub(crate) const fn fits<T>() -> bool {
        std::mem::size_of::<T>() <= WAIT_AREA && std::mem::align_of::<T>() <= 16
    }

    /// The area's first byte: the caller, the task's running goroutine,
    /// places one record there for the length of one blocking operation,
    /// and moves it out before it starts another.
    #[inline]
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        NonNull::from(&self.0).cast()
    }
}

/// A task's spare block (see the module doc).
pub(crate) type Spare = OwnCell<Option<WaitMem>>;

impl Task {
    /// The spare block if it fits `layout`, else a new one (the spare, too
    /// small, is freed). Called by the running goroutine itself.
    #[inline]
    fn wait_mem(&self, layout: Layout) -> WaitMem {
        // SAFETY: the caller is this task's goroutine, running: the owner of
        // its `OwnCell`s (see `OwnCell`).
        let spare = unsafe { self.spare_wait_mem.with_mut(Option::take) };
        match spare {
            Some(m) if m.fits(layout) => m,
            _ => WaitMem::alloc(layout),
        }
    }

    /// Keeps `mem` as the spare (the larger of it and the current one).
    ///
    /// # Safety
    /// The caller is this task's goroutine, running.
    #[inline]
    unsafe fn keep_wait_mem(&self, mem: WaitMem) {
        // SAFETY: the caller's guarantee.
        unsafe {
            self.spare_wait_mem.with_mut(|spare| match spare {
                Some(s) if s.layout.size() >= mem.layout.size() => {}
                _ => *spare = Some(mem),
            })
        }
    }

    /// Bytes of the spare block, for tests.
    #[cfg(all(test, not(loom)))]
    fn spare_bytes(&self) -> usize {
        // SAFETY: tests call it on a task no goroutine runs.
        unsafe {
            self.spare_wait_mem
                .with_mut(|s| s.as_ref().map_or(0, |m| m.layout.size()))
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_task_reuses_its_spare_and_keeps_the_larger() {
        let task = Task::for_test();
        let small = Lease::new(Some(&task), Layout::new::<[u64; 3]>());
        let at = small.ptr();
        assert_eq!(at.as_ptr() as usize % ALIGN, 0);
        drop(small);
        assert_eq!(task.spare_bytes(), MIN_BLOCK);
        let again = Lease::new(Some(&task), Layout::new::<[u64; 5]>());
        assert_eq!(again.ptr(), at, "the spare serves the next operation");
        drop(again);
        let big = Lease::new(
            Some(&task),
            Layout::from_size_align(300, 64).expect("layout"),
        );
        assert_eq!(big.ptr().as_ptr() as usize % 64, 0);
        // SAFETY: the block holds at least 300 bytes and nothing else uses it.
        unsafe { big.ptr().as_ptr().write_bytes(0xa5, 300) };
        drop(big);
        assert_eq!(task.spare_bytes(), 512, "the larger block stays");
        let small = Lease::new(Some(&task), Layout::new::<u64>());
        drop(small);
        assert_eq!(task.spare_bytes(), 512);
        // A thread's block is its own.
        let lone = Lease::new(None, Layout::new::<[u8; 100]>());
        drop(lone);
    }
}
