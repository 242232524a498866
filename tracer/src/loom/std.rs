//! The shim's normal side: std atomics and threads, parking_lot locks.

#![allow(unused_imports)]
#![allow(clippy::disallowed_types)]

pub(crate) mod sync {
    pub(crate) use std::sync::Arc;

    /// A mutex without poisoning (parking_lot's).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    /// The guard of a [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) const fn new(v: T) -> Self {
            Mutex(parking_lot::const_mutex(v))
        }

        #[inline]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    /// A condition variable whose waits take and return the guard.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) const fn new() -> Self {
            Condvar(parking_lot::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, mut g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(&mut g);
            g
        }

        /// Waits at most `d`; the flag says whether the time ran out.
        pub(crate) fn wait_timeout<'a, T>(
            &self,
            mut g: MutexGuard<'a, T>,
            d: std::time::Duration,
        ) -> (MutexGuard<'a, T>, bool) {
            let r = self.0.wait_for(&mut g, d);
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
        pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
    }
}

pub(crate) mod cell {
    /// `std::cell::UnsafeCell` with loom's closure-based accessors.
    #[derive(Debug, Default)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(v: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(v))
        }

        /// Runs `f` with a shared raw pointer to the value.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with a unique raw pointer to the value.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }

        /// A unique pointer to the value, as loom's guard (for hot paths
        /// that must not go through a closure).
        #[inline(always)]
        pub(crate) fn get_mut(&self) -> MutPtr<T> {
            MutPtr(self.0.get())
        }
    }

    /// loom's `MutPtr`: a raw pointer whose dereference the caller vouches for.
    #[derive(Debug)]
    pub(crate) struct MutPtr<T>(*mut T);

    impl<T> MutPtr<T> {
        /// The value behind the pointer.
        ///
        /// # Safety
        ///
        /// No other reference to the value exists while the result lives.
        #[inline(always)]
        #[allow(clippy::mut_from_ref)]
        pub(crate) unsafe fn deref(&self) -> &mut T {
            // SAFETY: the pointer comes from a live `UnsafeCell`, and the
            // caller guarantees exclusive access.
            unsafe { &mut *self.0 }
        }
    }
}

pub(crate) mod thread {
    pub(crate) use std::thread::{spawn, yield_now, Builder, JoinHandle};

    /// Waits between polls of a condition another thread will make true
    /// soon: yields for the first passes, then sleeps 50 µs per pass (a
    /// thread descheduled while holding what we wait for needs the CPU).
    pub(crate) fn backoff(pass: u32) {
        if pass < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }
}

pub(crate) mod hint {
    pub(crate) use std::hint::spin_loop;
}
