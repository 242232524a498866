//! `Builder::dump_on_sigquit`: on `SIGQUIT` the process prints every
//! goroutine to standard error and exits with status 2, as a Go program
//! does (Go's `SIGQUIT: quit` followed by its goroutine dump).
//!
//! A signal handler may not allocate or take locks, and a dump does both.
//! So the handler only writes one byte into a pipe (`write` is
//! async-signal-safe); a thread of its own (`gort-sigquit`) blocks reading
//! the pipe and takes the dump when the byte arrives. The handler is
//! process-wide and installed once, by the first runtime that asks: it then
//! dumps every runtime alive at the time of the signal. It replaces any
//! `SIGQUIT` disposition in place before, which is why it is opt-in.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::sync::OnceLock;

/// The pipe's write end, for the handler (-1 until installed).
static PIPE_W: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigquit(_sig: libc::c_int) {
    let fd = PIPE_W.load(Relaxed);
    if fd >= 0 {
        let byte = 1u8;
        // A failed write (pipe full: a dump is under way anyway) changes
        // nothing; errno is saved and restored for the interrupted code.
        // SAFETY: `write` is async-signal-safe and reads one valid byte on
        // this frame; `__errno_location` is this thread's errno slot.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, (&byte as *const u8).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// Installs the handler and starts the dumping thread, once per process.
pub(crate) fn install() -> io::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| setup().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| io::Error::other(format!("gort: dump_on_sigquit: {e}")))
}

fn setup() -> io::Result<()> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [r, w] = fds;
    PIPE_W.store(w, Relaxed);
    std::thread::Builder::new()
        .name("gort-sigquit".into())
        .spawn(move || wait_and_dump(r))?;
    // SAFETY: an all-zero sigaction is valid (no flags, empty mask).
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = on_sigquit as extern "C" fn(libc::c_int) as libc::sighandler_t;
    act.sa_flags = libc::SA_RESTART;
    // SAFETY: `act` is a valid action whose handler is async-signal-safe
    // (see `on_sigquit`); the old action is not asked for.
    if unsafe { libc::sigaction(libc::SIGQUIT, &act, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn wait_and_dump(fd: libc::c_int) {
    loop {
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into `byte`, which is valid.
        let n = unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
        if n == 1 {
            break;
        }
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return;
    }
    let dump = crate::sched::dump::dump_all(None);
    use std::io::Write as _;
    let mut err = io::stderr().lock();
    let _ = write!(err, "SIGQUIT: quit\n\n{dump}");
    let _ = err.flush();
    std::process::exit(2);
}
