//! The shim's loom side: the same API over loom's model-checked types.

#![allow(unused_imports)]

pub(crate) mod sync {
    pub(crate) use loom::sync::Arc;

    /// A mutex without poisoning (loom's, with poisoning ignored).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard of a [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(v: T) -> Self {
            Mutex(loom::sync::Mutex::new(v))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }

    /// A condition variable whose waits take and return the guard.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(g).unwrap_or_else(|e| e.into_inner())
        }

        /// Waits at most `d`; the flag says whether the time ran out.
        pub(crate) fn wait_timeout<'a, T>(
            &self,
            g: MutexGuard<'a, T>,
            d: std::time::Duration,
        ) -> (MutexGuard<'a, T>, bool) {
            let (g, r) = self.0.wait_timeout(g, d).unwrap_or_else(|e| e.into_inner());
            (g, r.timed_out())
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
    }

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
    }
}

pub(crate) mod cell {
    pub(crate) use loom::cell::{MutPtr, UnsafeCell};
}

pub(crate) mod thread {
    pub(crate) use loom::thread::{spawn, yield_now, Builder, JoinHandle};

    /// Waits between polls: a loom yield (loom has no sleeping).
    pub(crate) fn backoff(_pass: u32) {
        loom::thread::yield_now();
    }
}

pub(crate) mod hint {
    pub(crate) use loom::hint::spin_loop;
}
