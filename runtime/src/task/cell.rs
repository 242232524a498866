//! Where a task lives: a reference-counted cell ([`TaskRef`], [`TaskWeak`])
//! in memory the runtime carves in large blocks.
//!
//! Why not `Arc<Task>` on the heap: goroutines are spawned on Ms, and the C
//! allocator grows the heap of a thread other than the main one a page at a
//! time (glibc makes one `mprotect` call per page, each taking the
//! process's memory-map lock for writing). Spawning in a burst then takes
//! that lock every few goroutines, against the page faults of the stacks
//! being committed on the other Ms; at a hundred thousand goroutines that
//! was half of the spawn time. So cells come from chunks of [`CHUNK`] bytes,
//! each one request to the global allocator (glibc maps a request that
//! large directly), and a freed cell is kept on a free list for the next
//! spawn: a thread keeps a few ([`LOCAL_MAX`]) for itself and trades them
//! with a shared list a batch at a time.
//!
//! Chunks are kept for the life of the process, so this memory follows the
//! peak number of goroutines alive at once (Go keeps its dead goroutine
//! records the same way), about 420 bytes each.
//!
//! Counting is `Arc`'s: strong references keep the task, weak ones the cell,
//! and the strong references together hold one weak reference. Under
//! AddressSanitizer (`cfg(gort_asan)`) and loom every cell is its own
//! allocation, so that a use after free is still caught.

use super::Task;
use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering::*};
use std::alloc::Layout;
use std::ops::Deref;
use std::ptr::NonNull;

/// The cell: the task first, so that a pointer to the task is a pointer to
/// its cell.
#[repr(C)]
struct Cell {
    task: Task,
    strong: AtomicUsize,
    weak: AtomicUsize,
}

/// A counted reference that keeps a task alive (the `Arc` of a task).
pub(crate) struct TaskRef(NonNull<Cell>);

/// A reference that keeps a task's cell, not the task (the `Weak` of a task).
pub(crate) struct TaskWeak(NonNull<Cell>);

// SAFETY: a `TaskRef` hands out `&Task` to any thread and may drop the task
// on any thread, which `Task: Send + Sync` allows, as for `Arc<Task>`.
unsafe impl Send for TaskRef {}
// SAFETY: as above.
unsafe impl Sync for TaskRef {}
// SAFETY: a `TaskWeak` only reaches the counts (atomics) and upgrades to a
// `TaskRef`, which is `Send + Sync`.
unsafe impl Send for TaskWeak {}
// SAFETY: as above.
unsafe impl Sync for TaskWeak {}

/// More than this many references is a leak of references (a count about to
/// overflow): the process aborts, as `Arc` does.
const MAX_REFS: usize = isize::MAX as usize;

impl TaskRef {
    /// A new task in a fresh cell.
    pub(crate) fn new(task: Task) -> TaskRef {
        let cell = slab::alloc();
        // SAFETY: `alloc` returns memory laid out for a `Cell`, unused.
        unsafe {
            cell.as_ptr().write(Cell {
                task,
                strong: AtomicUsize::new(1),
                weak: AtomicUsize::new(1),
            })
        };
        TaskRef(cell)
    }

    #[inline(always)]
    fn cell(&self) -> &Cell {
        // SAFETY: this strong reference keeps the cell (and the task) alive.
        unsafe { self.0.as_ref() }
    }

    /// The task's address (also what [`into_raw`](TaskRef::into_raw) gives).
    #[inline(always)]
    pub(crate) fn as_ptr(this: &TaskRef) -> *const Task {
        this.0.as_ptr().cast_const().cast()
    }

    /// Gives up this reference as a raw pointer, for [`from_raw`](TaskRef::from_raw).
    #[inline(always)]
    pub(crate) fn into_raw(this: TaskRef) -> *const Task {
        let p = TaskRef::as_ptr(&this);
        std::mem::forget(this);
        p
    }

    /// Takes back a reference given up by [`into_raw`](TaskRef::into_raw).
    ///
    /// # Safety
    /// `p` came from `into_raw`, and that reference is taken back once.
    #[inline(always)]
    pub(crate) unsafe fn from_raw(p: *const Task) -> TaskRef {
        // SAFETY: `into_raw` gave a non-null pointer to a cell's first field,
        // which is the cell's address (`repr(C)`).
        TaskRef(unsafe { NonNull::new_unchecked(p.cast_mut().cast()) })
    }

    /// Adds a strong reference to the task at `p`, to be taken back with
    /// [`from_raw`](TaskRef::from_raw).
    ///
    /// # Safety
    /// `p` points to a task that a strong reference keeps alive for the
    /// length of this call.
    #[inline(always)]
    pub(crate) unsafe fn increment_strong_count(p: *const Task) {
        // SAFETY: the caller's guarantee; the cell starts at the task.
        let cell = unsafe { &*p.cast::<Cell>() };
        if cell.strong.fetch_add(1, Relaxed) > MAX_REFS {
            std::process::abort();
        }
    }

    /// A weak reference to the same task.
    pub(crate) fn downgrade(this: &TaskRef) -> TaskWeak {
        if this.cell().weak.fetch_add(1, Relaxed) > MAX_REFS {
            std::process::abort();
        }
        TaskWeak(this.0)
    }

    /// Whether both are the same task.
    #[inline(always)]
    pub(crate) fn ptr_eq(a: &TaskRef, b: &TaskRef) -> bool {
        a.0 == b.0
    }

    /// The strong references to this task now.
    #[cfg(test)]
    pub(crate) fn strong_count(this: &TaskRef) -> usize {
        this.cell().strong.load(Acquire)
    }
}

impl Clone for TaskRef {
    #[inline(always)]
    fn clone(&self) -> TaskRef {
        // `Relaxed`: a new reference is made from an existing one, which
        // already orders everything this thread needs.
        if self.cell().strong.fetch_add(1, Relaxed) > MAX_REFS {
            std::process::abort();
        }
        TaskRef(self.0)
    }
}

impl std::fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl Deref for TaskRef {
    type Target = Task;
    #[inline(always)]
    fn deref(&self) -> &Task {
        &self.cell().task
    }
}

impl Drop for TaskRef {
    #[inline]
    fn drop(&mut self) {
        // `Release` on every decrement and `Acquire` before the drop: every
        // use of the task through another reference happens before it goes.
        if self.cell().strong.fetch_sub(1, Release) != 1 {
            return;
        }
        fence(Acquire);
        // SAFETY: that was the last strong reference: nobody reaches the
        // task any more (a weak reference upgrades only while the count is
        // above zero), and it is dropped once.
        unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*self.0.as_ptr()).task)) };
        // The weak reference the strong ones held together.
        drop(TaskWeak(self.0));
    }
}

impl std::fmt::Debug for TaskWeak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskWeak")
            .field("strong", &self.strong_count())
            .finish_non_exhaustive()
    }
}

impl TaskWeak {
    /// A strong reference, if the task is still alive.
    pub(crate) fn upgrade(&self) -> Option<TaskRef> {
        // SAFETY: this weak reference keeps the cell alive.
        let cell = unsafe { self.0.as_ref() };
        let mut n = cell.strong.load(Relaxed);
        loop {
            if n == 0 {
                return None;
            }
            if n > MAX_REFS {
                std::process::abort();
            }
            // `Acquire` on success: pairs with the `Release` of the drops, as
            // a clone's source would have.
            match cell
                .strong
                .compare_exchange_weak(n, n + 1, Acquire, Relaxed)
            {
                Ok(_) => return Some(TaskRef(self.0)),
                Err(m) => n = m,
            }
        }
    }

    /// The strong references to the task now (0 once it is gone).
    pub(crate) fn strong_count(&self) -> usize {
        // SAFETY: this weak reference keeps the cell alive.
        unsafe { self.0.as_ref() }.strong.load(Acquire)
    }
}

impl Drop for TaskWeak {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: this weak reference keeps the cell alive until the count
        // says it was the last.
        let cell = unsafe { self.0.as_ref() };
        if cell.weak.fetch_sub(1, Release) != 1 {
            return;
        }
        fence(Acquire);
        // SAFETY: the last reference of either kind: the task was dropped
        // (with the last strong one) and no one reaches the cell; its counts
        // need no drop beyond their memory.
        unsafe { slab::free(self.0) };
    }
}

/// Bytes of one chunk of cells.
const CHUNK: usize = 1 << 20;
/// Free cells a thread keeps before it passes a batch to the shared list.
const LOCAL_MAX: usize = 128;
/// Cells moved between a thread and the shared list at once.
const BATCH: usize = 64;

#[cfg(not(any(loom, gort_asan)))]
mod slab {
    use super::{Cell, Layout, NonNull, BATCH, CHUNK, LOCAL_MAX};
    use std::cell::RefCell;

    /// A free cell's address.
    struct Free(NonNull<Cell>);

    // SAFETY: a free cell is plain memory owned by the list entry that
    // holds it (no cell is in two entries, and none is in use).
    unsafe impl Send for Free {}

    /// Free cells, from every thread. Locked a batch at a time, so a thread
    /// spawning or ending goroutines takes it once per `BATCH` of them.
    // The pool is outside the loom models (it is not compiled under loom).
    static SHARED: parking_lot::Mutex<Vec<Free>> = parking_lot::Mutex::new(Vec::new());

    /// A thread's own free cells, handed to the shared list when the thread
    /// exits.
    struct Local(Vec<Free>);

    impl Drop for Local {
        fn drop(&mut self) {
            SHARED.lock().append(&mut self.0);
        }
    }

    thread_local! {
        static LOCAL: RefCell<Local> = const { RefCell::new(Local(Vec::new())) };
    }

    /// Memory for one cell.
    pub(super) fn alloc() -> NonNull<Cell> {
        let got = LOCAL.try_with(|l| {
            let mut l = l.borrow_mut();
            if l.0.is_empty() {
                refill(&mut l.0);
            }
            l.0.pop()
        });
        if let Ok(Some(c)) = got {
            return c.0;
        }
        // The thread is exiting (its list is gone): through the shared list.
        let mut v = Vec::new();
        refill(&mut v);
        let c = v.pop();
        SHARED.lock().append(&mut v);
        match c {
            Some(c) => c.0,
            None => std::alloc::handle_alloc_error(Layout::new::<Cell>()),
        }
    }

    /// Gives a cell's memory back (its contents are gone).
    ///
    /// # Safety
    /// `c` came from [`alloc`] and no one reaches it any more.
    pub(super) unsafe fn free(c: NonNull<Cell>) {
        let kept = LOCAL.try_with(|l| {
            let mut l = l.borrow_mut();
            l.0.push(Free(c));
            if l.0.len() > LOCAL_MAX {
                let at = l.0.len() - BATCH;
                let mut s = SHARED.lock();
                s.extend(l.0.drain(at..));
            }
        });
        if kept.is_err() {
            SHARED.lock().push(Free(c));
        }
    }

    /// Puts up to `BATCH` free cells into `v`, carving a new chunk when the
    /// shared list is empty.
    fn refill(v: &mut Vec<Free>) {
        {
            let mut s = SHARED.lock();
            let at = s.len().saturating_sub(BATCH);
            v.extend(s.drain(at..));
        }
        if !v.is_empty() {
            return;
        }
        let size = Layout::new::<Cell>().pad_to_align().size();
        let layout = Layout::from_size_align(CHUNK, std::mem::align_of::<Cell>())
            .expect("a chunk of task cells has a valid layout");
        // SAFETY: the layout's size is not zero.
        let base = unsafe { std::alloc::alloc(layout) };
        if base.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let n = CHUNK / size;
        let mut cells: Vec<Free> = (0..n)
            .map(|i| {
                // SAFETY: `(i + 1) * size <= CHUNK`: inside the chunk, and
                // aligned for a cell (the chunk is, and `size` is a multiple
                // of the alignment). The chunk is never freed.
                Free(unsafe { NonNull::new_unchecked(base.add(i * size).cast::<Cell>()) })
            })
            .collect();
        v.extend(cells.drain(n.saturating_sub(BATCH)..));
        SHARED.lock().append(&mut cells);
    }
}

#[cfg(any(loom, gort_asan))]
mod slab {
    use super::{Cell, Layout, NonNull};

    /// Memory for one cell: its own allocation here.
    pub(super) fn alloc() -> NonNull<Cell> {
        let layout = Layout::new::<Cell>();
        // SAFETY: a cell is not zero-sized.
        let p = unsafe { std::alloc::alloc(layout) };
        match NonNull::new(p.cast::<Cell>()) {
            Some(p) => p,
            None => std::alloc::handle_alloc_error(layout),
        }
    }

    /// # Safety
    /// `c` came from [`alloc`] and no one reaches it any more.
    pub(super) unsafe fn free(c: NonNull<Cell>) {
        // SAFETY: allocated by `alloc` with this layout (the caller's
        // guarantee).
        unsafe { std::alloc::dealloc(c.as_ptr().cast(), Layout::new::<Cell>()) };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_follow_clones_drops_and_weak_references() {
        let t = TaskRef::new(Task::for_test());
        assert_eq!(TaskRef::strong_count(&t), 1);
        let t2 = t.clone();
        assert_eq!(TaskRef::strong_count(&t), 2);
        assert!(TaskRef::ptr_eq(&t, &t2));
        let w = TaskRef::downgrade(&t);
        assert_eq!(w.strong_count(), 2);
        drop(t2);
        let up = w.upgrade().expect("a live task upgrades");
        assert_eq!(up.id, t.id);
        drop(up);
        let raw = TaskRef::into_raw(t);
        assert_eq!(w.strong_count(), 1);
        // SAFETY: the reference `into_raw` gave up, taken back once; the
        // added one is taken back by the second `from_raw`.
        let (a, b) = unsafe {
            TaskRef::increment_strong_count(raw);
            (TaskRef::from_raw(raw), TaskRef::from_raw(raw))
        };
        assert_eq!(w.strong_count(), 2);
        drop((a, b));
        assert_eq!(w.strong_count(), 0);
        assert!(w.upgrade().is_none(), "a dropped task does not come back");
    }

    #[test]
    fn the_task_is_dropped_with_its_last_strong_reference() {
        let t = TaskRef::new(Task::for_test());
        // The task's home is dropped with the task: watch it through the
        // runtime handle it holds.
        let home = Arc::downgrade(&t.home);
        let w = TaskRef::downgrade(&t);
        assert!(home.upgrade().is_some());
        drop(t);
        assert!(
            home.upgrade().is_none(),
            "the task (and its home) went with the last strong reference"
        );
        drop(w);
    }

    #[cfg(not(gort_asan))]
    #[test]
    fn a_freed_cell_is_reused_by_the_next_task_of_its_thread() {
        let t = TaskRef::new(Task::for_test());
        let at = TaskRef::as_ptr(&t);
        drop(t);
        let again = TaskRef::new(Task::for_test());
        assert_eq!(
            TaskRef::as_ptr(&again),
            at,
            "the thread's free list gives the cell back"
        );
    }

    #[cfg(not(gort_asan))]
    #[test]
    fn cells_cross_threads_and_come_back() {
        // Made on one thread, freed on others: more than a thread keeps, so
        // batches travel through the shared list; none is handed out twice.
        let tasks: Vec<TaskRef> = (0..1000).map(|_| TaskRef::new(Task::for_test())).collect();
        let mut seen: Vec<usize> = tasks.iter().map(|t| TaskRef::as_ptr(t) as usize).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 1000, "every live task has its own cell");
        let (a, b): (Vec<_>, Vec<_>) = tasks.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
        let ha = std::thread::spawn(move || drop(a));
        let hb = std::thread::spawn(move || drop(b));
        ha.join().expect("a thread freeing cells");
        hb.join().expect("a thread freeing cells");
        let again: Vec<TaskRef> = (0..1000).map(|_| TaskRef::new(Task::for_test())).collect();
        let mut live: Vec<usize> = again.iter().map(|t| TaskRef::as_ptr(t) as usize).collect();
        live.sort_unstable();
        live.dedup();
        assert_eq!(live.len(), 1000, "no cell is handed out twice");
    }
}
