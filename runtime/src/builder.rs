//! `Builder`: configures and starts a [`Runtime`].
#![deny(unsafe_code)]

use crate::runtime::Runtime;
use std::io;
use std::time::Duration;

/// The smallest goroutine stack reserve accepted, in bytes.
pub const MIN_STACK_SIZE: usize = 64 << 10;
/// The default goroutine stack reserve, in bytes: address space, not memory
/// (stacks are committed lazily); large enough for a panic with the default
/// hook.
pub const DEFAULT_STACK_SIZE: usize = 256 << 10;

/// Configures a [`Runtime`].
///
/// ```
/// let rt = gort_runtime::Runtime::builder().procs(2).stack_size(128 << 10).build().unwrap();
/// assert_eq!(rt.block_on(|| 6 * 7), 42);
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    procs: Option<usize>,
    stack_size: usize,
    dump_on_sigquit: bool,
    release_parked_stacks: Option<Duration>,
}

/// How long a goroutine stays parked, by default, before its stack's memory
/// is released: see [`Builder::release_parked_stacks`].
pub const DEFAULT_RELEASE_PARKED_STACKS: Duration = Duration::from_secs(2);

impl Default for Builder {
    fn default() -> Self {
        Builder {
            procs: None,
            stack_size: DEFAULT_STACK_SIZE,
            dump_on_sigquit: false,
            release_parked_stacks: Some(DEFAULT_RELEASE_PARKED_STACKS),
        }
    }
}

impl Builder {
    /// A builder with the defaults: one P per available core, 256 KiB stacks.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The number of Ps (Go's GOMAXPROCS): how many goroutines run at once.
    pub fn procs(mut self, n: usize) -> Builder {
        self.procs = Some(n);
        self
    }

    /// The stack reserve of each goroutine, in bytes (rounded up to pages).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = bytes;
        self
    }

    /// On `SIGQUIT`, print every goroutine of every runtime to standard
    /// error ([`goroutine_dump`](crate::goroutine_dump)'s text after Go's
    /// `SIGQUIT: quit` line) and exit with status 2, as a Go program does.
    /// Off by default: a library must not take a signal unasked. The handler
    /// is process-wide, stays installed once a runtime asked for it, and
    /// replaces whatever handled `SIGQUIT` before.
    pub fn dump_on_sigquit(mut self, on: bool) -> Builder {
        self.dump_on_sigquit = on;
        self
    }

    /// Releases the stack memory of goroutines parked for at least `after`
    /// (in whole seconds, at least one; `None`: never). A goroutine that
    /// sleeps long holds its stack's top page, 4 KiB, for a few hundred
    /// bytes of live frames: the runtime's monitor copies those to the heap
    /// and gives the page back to the kernel, and the goroutine's next run
    /// copies them back first (a page fault and a copy, a few microseconds,
    /// once per long sleep). Nothing the runtime keeps points into a parked
    /// goroutine's stack, and safe code cannot lend stack memory to another
    /// goroutine or thread (both take `'static` data); `unsafe` code that
    /// does so while the lender blocks must turn this off. Off in
    /// AddressSanitizer builds. Default
    /// [`DEFAULT_RELEASE_PARKED_STACKS`]; [`Runtime::stack_memory`] reports
    /// what is released.
    pub fn release_parked_stacks(mut self, after: Option<Duration>) -> Builder {
        self.release_parked_stacks = after;
        self
    }

    /// Starts the runtime.
    ///
    /// # Errors
    /// `InvalidInput` for `procs(0)` or a stack size below
    /// [`MIN_STACK_SIZE`]; the OS error if stack memory cannot be reserved.
    pub fn build(self) -> io::Result<Runtime> {
        let procs = match self.procs {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "gort: procs must be at least 1 (got 0)",
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if procs > crate::sched::MAX_PROCS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "gort: procs must be at most {} (got {procs})",
                    crate::sched::MAX_PROCS
                ),
            ));
        }
        if self.stack_size < MIN_STACK_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "gort: stack_size must be at least {MIN_STACK_SIZE} bytes (got {})",
                    self.stack_size
                ),
            ));
        }
        // Registers the process for `membarrier` (the heavy half of the
        // asymmetric fences of `Pull`'s guard and of the tracer) before this
        // runtime starts its threads: the kernel's registration waits for a
        // grace period once other threads exist (milliseconds), and would
        // otherwise fall on the first `pull()` or the first trace start.
        let _ = gort_tracer::fence::asymmetric_available();
        if self.dump_on_sigquit {
            crate::sigquit::install()?;
        }
        Runtime::start(procs, self.stack_size, self.release_parked_stacks)
    }
}

impl Runtime {
    /// A [`Builder`] with default settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A runtime with default settings.
    ///
    /// # Errors
    /// As [`Builder::build`].
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }
}
