//! `Runtime`: starting, running a main goroutine, and shutting down.

use crate::join::JoinSlot;
use crate::loom::sync::atomic::Ordering::*;
use crate::loom::sync::Arc;
use crate::sched::{sysmon, Shared};
use crate::task::TaskRef;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;

/// How a runtime's goroutine stacks stand, from [`Runtime::stack_memory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackMemory {
    /// Stacks held by goroutines now.
    pub live: usize,
    /// Stacks carved in total (each keeps its address space for the
    /// runtime's life).
    pub allocated: usize,
    /// Free stacks beyond the pool's retention whose memory is still
    /// committed, waiting to be released.
    pub pending_release: usize,
    /// Stack memory releases (`MADV_DONTNEED`) so far.
    pub released: usize,
    /// Stacks whose memory an M with nothing to run committed ahead, during
    /// a burst of new goroutines, so that the goroutines' creator found them
    /// ready instead of taking a page fault for each.
    pub prewarmed: usize,
    /// Stacks of long-parked goroutines released now: their live top copied
    /// to the heap, their pages given back (see
    /// [`Builder::release_parked_stacks`](crate::Builder::release_parked_stacks)).
    pub parked_released: usize,
    /// Heap bytes holding those live tops.
    pub parked_saved_bytes: usize,
}

/// A gort runtime: Ps, the Ms (threads) that run goroutines on them, and the
/// goroutine stacks.
///
/// Threads start on demand and park when idle. Dropping the runtime stops
/// every M, unwinds any goroutine still blocked and frees every stack; a
/// goroutine that is running when the runtime is dropped is waited for.
#[derive(Debug)]
pub struct Runtime {
    shared: Arc<Shared>,
    sysmon: Option<std::thread::JoinHandle<()>>,
}

impl Runtime {
    pub(crate) fn start(
        procs: usize,
        stack_size: usize,
        release_after: Option<std::time::Duration>,
    ) -> io::Result<Runtime> {
        crate::coro::overflow::install();
        let shared = Arc::new(Shared::new(procs, stack_size, release_after)?);
        crate::sched::RUNTIMES
            .lock()
            .push(std::sync::Arc::downgrade(&shared));
        let s2 = shared.clone();
        let sysmon = std::thread::Builder::new()
            .name("gort-sysmon".into())
            .spawn(move || sysmon::run(s2))?;
        Ok(Runtime {
            shared,
            sysmon: Some(sysmon),
        })
    }

    /// The number of Ps.
    pub fn procs(&self) -> usize {
        self.shared.procs.len()
    }

    /// Runs `f` as a main goroutine and returns its result. The first call
    /// on a runtime runs goroutine 1.
    ///
    /// With `GORT_TRACE=FILE` in the environment, the whole call is traced
    /// into `FILE`.
    ///
    /// # Panics
    /// Re-raises a panic of `f`. Panics with Go's message
    /// `all goroutines are asleep - deadlock!` when every goroutine is
    /// blocked and nothing (timer, syscall) can wake one.
    #[track_caller]
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = std::panic::Location::caller();
        let slot = JoinSlot::<T>::new();
        let slot2 = slot.clone();
        let env_trace = env_wanted();
        let body = move |_first| {
            let guard = if env_trace { env_guard() } else { None };
            let r = panic::catch_unwind(AssertUnwindSafe(f));
            drop(guard);
            slot2.complete(r);
        };
        let t: TaskRef = match self.shared.new_task(site, std::any::type_name::<F>(), body) {
            Ok(t) => t,
            Err(e) => panic!("gort: cannot allocate the main goroutine's stack: {e}"),
        };
        let main = TaskRef::downgrade(&t);
        let id = t.id;
        self.shared.orphans.lock().push(main);
        let me = std::thread::current();
        {
            // One critical section: an M going idle in between would see a
            // waiting `block_on` with no goroutine anywhere and report a
            // deadlock that is not one.
            let mut s = self.shared.sched.lock();
            s.main_waiting += 1;
            s.main_threads.push(me.clone());
            s.retire_waits.push((id, me.clone(), false));
            self.shared.retire_waiters.fetch_add(1, SeqCst);
            self.shared.push_global_locked(&mut s, std::iter::once(t));
        }
        let deadlock = loop {
            if slot.wake_thread_on_complete() {
                break false;
            }
            {
                let s = self.shared.sched.lock();
                if s.deadlock {
                    break true;
                }
            }
            std::thread::park();
        };
        {
            let mut s = self.shared.sched.lock();
            s.main_waiting -= 1;
            if s.main_waiting == 0 {
                // Goroutines stuck by a reported deadlock stay stuck, but a
                // later block_on starts with a clean verdict.
                s.deadlock = false;
            }
            if let Some(i) = s.main_threads.iter().position(|th| th.id() == me.id()) {
                s.main_threads.swap_remove(i);
            }
        }
        // Unless it is stuck in a deadlock, the body has completed: wait the
        // few instructions until its M has retired the goroutine (signalled
        // by `free_task`), so its stack is back in the pool and
        // `live_goroutines` counts it out when `block_on` returns.
        let stuck = deadlock && !slot.is_done();
        loop {
            let mut s = self.shared.sched.lock();
            let Some(i) = s.retire_waits.iter().position(|e| e.0 == id) else {
                break;
            };
            if s.retire_waits[i].2 || stuck {
                s.retire_waits.swap_remove(i);
                self.shared.retire_waiters.fetch_sub(1, SeqCst);
                break;
            }
            drop(s);
            std::thread::park();
        }
        if stuck {
            let dump = crate::sched::dump::dump(&self.shared, None);
            panic!("all goroutines are asleep - deadlock!\n\n{dump}");
        }
        match slot.wait() {
            Ok(v) => v,
            Err(p) => panic::resume_unwind(p),
        }
    }

    /// A [`KeepAlive`](crate::KeepAlive) for this runtime, for a plain thread
    /// that will wake its goroutines: no deadlock is reported while it lives.
    pub fn keep_alive(&self) -> crate::KeepAlive {
        crate::api::KeepAlive::new(self.shared.clone())
    }

    /// Stack statistics: (stacks handed out now, stacks carved in total).
    pub fn stack_stats(&self) -> (usize, usize) {
        (self.shared.stacks.live(), self.shared.stacks.allocated())
    }

    /// Where this runtime's goroutine stacks stand, memory included: a
    /// finished goroutine's stack stays committed for reuse up to the pool's
    /// retention; beyond it, its memory goes back to the kernel when an M
    /// next has nothing to run (or, in a runtime that never idles, a few
    /// stacks at a time from busy Ms).
    pub fn stack_memory(&self) -> StackMemory {
        let s = &self.shared.stacks;
        StackMemory {
            live: s.live(),
            allocated: s.allocated(),
            pending_release: s.pending(),
            released: s.released(),
            prewarmed: s.prewarmed(),
            parked_released: self.shared.stack_ledger.stacks.load(Relaxed),
            parked_saved_bytes: self.shared.stack_ledger.bytes.load(Relaxed),
        }
    }

    /// Releases now the stacks of goroutines parked for at least
    /// `parked_for` (rounded up to whole seconds; zero: every parked
    /// goroutine), as the runtime's monitor does on its own for those parked
    /// longer than [`Builder::release_parked_stacks`](crate::Builder::release_parked_stacks)
    /// says: after a burst of work leaves many goroutines waiting, say.
    /// Returns how many stacks it released. Does nothing in
    /// AddressSanitizer builds, or before any goroutine of the process has
    /// parked once (the first park measures what a release must keep).
    pub fn release_parked_stacks(&self, parked_for: std::time::Duration) -> usize {
        let now = crate::sched::coarse::advance();
        let secs = parked_for.as_secs() as usize + usize::from(parked_for.subsec_nanos() > 0);
        match now.checked_sub(secs) {
            Some(cutoff) if cutoff > 0 => self.shared.release_parked(cutoff, false),
            _ => 0,
        }
    }

    /// The goroutines of this runtime, as [`goroutine_dump`](crate::goroutine_dump)
    /// prints them (the calling goroutine first when it belongs here).
    #[track_caller]
    pub fn goroutine_dump(&self) -> String {
        let site = std::panic::Location::caller();
        let caller = crate::sched::context::Running::get()
            .filter(|r| std::sync::Arc::ptr_eq(&r.m().shared, &self.shared))
            .map(|r| (r.g().id, site));
        crate::sched::dump::dump(&self.shared, caller)
    }

    /// Live goroutines (created and not yet finished).
    pub fn live_goroutines(&self) -> usize {
        self.shared.live.load(Relaxed)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let shared = &self.shared;
        crate::sched::RUNTIMES
            .lock()
            .retain(|w| !std::ptr::eq(w.as_ptr(), Arc::as_ptr(shared)));
        shared.shutting_down.store(true, Release);
        let threads = {
            let mut s = shared.sched.lock();
            s.shutdown = true;
            for h in s.handles.values() {
                h.unparker.unpark();
            }
            if let Some(n) = shared.timers.netpoll() {
                n.wake();
            }
            std::mem::take(&mut s.threads)
        };
        shared.sysmon.shutdown();
        for t in threads {
            let _ = t.join();
        }
        // No M runs timers any more: drop the entries (sleeping goroutines
        // hold the runtime).
        shared.timers.shutdown();
        if let Some(j) = self.sysmon.take() {
            let _ = j.join();
        }
        // Every M is gone: unwind what is left, queued or blocked.
        let mut tasks: Vec<TaskRef> = Vec::new();
        {
            let mut s = shared.sched.lock();
            tasks.extend(s.global.drain(..));
        }
        for p in shared.procs.iter() {
            // SAFETY: every M has exited, so no thread holds this P.
            let l = unsafe { p.local() };
            tasks.extend(p.runnext.take());
            while let Some(t) = l.queue.pop() {
                tasks.push(t);
            }
            tasks.extend(p.registry.lock().drain_live());
        }
        tasks.extend(shared.orphans.lock().drain(..).filter_map(|w| w.upgrade()));
        // Unwinding one goroutine can wake another (a dropped Sender closes
        // its channel), which queues it again: repeat until nothing is left.
        loop {
            for t in &tasks {
                // SAFETY: no M runs any goroutine any more.
                unsafe { t.cancel() };
            }
            tasks.clear();
            tasks.extend(shared.sched.lock().global.drain(..));
            if tasks.is_empty() {
                break;
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Finished goroutines leave the per-P registry about as fast as new
    /// ones arrive: after many short-lived goroutines, the registry holds
    /// about the live ones, not a backlog of finished ones (each entry
    /// keeps its goroutine's allocation until it is dropped).
    #[test]
    fn registry_drops_finished_goroutines_as_new_ones_register() {
        for procs in [1, 2] {
            let rt = Runtime::builder().procs(procs).build().expect("runtime");
            rt.block_on(|| {
                for i in 0..10_000u64 {
                    assert_eq!(crate::go(move || i).join().ok(), Some(i));
                }
            });
            let held = registry_entries(&rt);
            assert!(
                held <= 8,
                "procs={procs}: {held} registry entries after 10,000 joined goroutines"
            );
        }
    }

    /// Entries held by `rt`'s per-P registries, finished goroutines' included.
    fn registry_entries(rt: &Runtime) -> usize {
        rt.shared
            .procs
            .iter()
            .map(|p| p.registry.lock().len())
            .sum()
    }

    /// After a burst of goroutines that all parked, then all finished with no
    /// new goroutine after them, the registries hold no backlog either: the
    /// entries go when the live count falls, not only as new ones register.
    #[test]
    fn registry_drops_a_finished_burst_without_new_goroutines() {
        const N: u64 = 20_000;
        for procs in [1, 2] {
            let rt = Runtime::builder().procs(procs).build().expect("runtime");
            rt.block_on(|| {
                let (tx, rx) = crate::chan::<()>(0);
                let handles: Vec<_> = (0..N)
                    .map(|i| {
                        let rx = rx.clone();
                        crate::go(move || {
                            rx.recv();
                            i
                        })
                    })
                    .collect();
                tx.close();
                for (i, h) in handles.into_iter().enumerate() {
                    assert_eq!(h.join().ok(), Some(i as u64));
                }
            });
            let held = registry_entries(&rt);
            assert!(
                held <= 8,
                "procs={procs}: {held} registry entries after {N} goroutines finished"
            );
        }
    }
}

/// Runs `f` as the main goroutine of a new default runtime (one P per core)
/// and returns its result; the runtime is dropped afterwards.
///
/// # Panics
/// As [`Runtime::block_on`], and if the runtime cannot start.
#[track_caller]
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Runtime::new() {
        Ok(rt) => rt.block_on(f),
        Err(e) => panic!("gort::run: cannot start the runtime: {e}"),
    }
}

/// Whether `GORT_TRACE` asks for tracing every `block_on`.
pub(crate) fn env_wanted() -> bool {
    cfg!(feature = "trace") && std::env::var_os("GORT_TRACE").is_some_and(|s| !s.is_empty())
}

/// Starts tracing into `GORT_TRACE`; stops when the guard drops.
#[cfg(feature = "trace")]
pub(crate) fn env_guard() -> Option<crate::trace_api::EnvTrace> {
    crate::trace_api::env_trace_path().map(crate::trace_api::EnvTrace::start)
}

/// Tracing is compiled out: nothing to start.
#[cfg(not(feature = "trace"))]
pub(crate) fn env_guard() -> Option<NoTrace> {
    None
}

/// The guard `env_guard` never returns when tracing is compiled out.
#[cfg(not(feature = "trace"))]
pub(crate) struct NoTrace;

#[cfg(not(feature = "trace"))]
impl Drop for NoTrace {
    fn drop(&mut self) {}
}
