//! Concurrency shim: std (and parking_lot) types normally, loom's under `cfg(loom)`.
//!
//! Everything in the tracer that stores shared state (atomics, locks, cells,
//! threads, globals) comes from here, so a loom model of the enable flag and of
//! the seqlock/generation protocol sees every access. Both sides export the
//! same API: a poison-free `Mutex`, a `Condvar` that takes and returns guards,
//! an `UnsafeCell` with loom's closure-based `with`/`with_mut`, `thread`, and
//! two macros for items whose constness differs (loom constructors are not
//! `const`).

#![allow(unreachable_pub, dead_code)]

#[cfg(not(loom))]
mod std;
#[cfg(not(loom))]
pub(crate) use self::std::*;

#[cfg(loom)]
mod mocked;
#[cfg(loom)]
pub(crate) use self::mocked::*;

/// Declares a global: a plain `static` normally (its initialiser must then be
/// a constant), a lazily built per-execution one under loom. Use it through
/// method calls and field accesses (auto-deref) so both forms work.
macro_rules! global {
    ($(#[$m:meta])* static $name:ident: $t:ty = $e:expr;) => {
        #[cfg(not(loom))]
        $(#[$m])*
        static $name: $t = $e;
        #[cfg(loom)]
        loom::lazy_static! {
            $(#[$m])*
            static ref $name: $t = $e;
        }
    };
}

/// Declares a function that is `const` normally and plain under loom, for
/// constructors used in [`global!`] initialisers.
macro_rules! const_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($args:tt)*) -> $ret:ty $body:block) => {
        #[cfg(not(loom))]
        $(#[$m])*
        $vis const fn $name($($args)*) -> $ret $body
        #[cfg(loom)]
        $(#[$m])*
        $vis fn $name($($args)*) -> $ret $body
    };
}

pub(crate) use {const_fn, global};
