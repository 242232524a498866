//! The overflow handler's tests: the report's text and the guard registry in process, and
//! real overflows and faults in child processes (see [`super::child`]), on stacks of both
//! guard kinds.

use std::os::unix::process::ExitStatusExt;
use std::process::Output;

use corosensei::Coroutine;

use super::child::{child_mode, run_child};
use super::*;
use crate::coro::stack::{GuardKind, StackPool, DEFAULT_STACK_BYTES, MIN_STACK_BYTES};

// N.B. the registry tests name address ranges nobody maps (the top of the lower half): the
// lookup only compares numbers, and nothing touches those addresses.
const FAKE: usize = 0x7fff_0000_0000;

#[test]
fn report_reads_like_go() {
    let hit = GuardHit {
        slot: 0x1000,
        base: 0x41fc0,
        size: 262_144,
        low: 0x2000,
    };
    let r = Report::overflow(0x1ff8, hit, 17);
    assert_eq!(
        std::str::from_utf8(r.as_bytes()).expect("ascii"),
        "runtime: goroutine stack exceeds 262144-byte limit\n\
         runtime: addr=0x1ff8 stack=[0x2000, 0x41fc0]\n\
         fatal error: stack overflow\n\ngoroutine 17 [running]:\n"
    );
    let mut r = Report::new();
    r.decimal(0)
        .text(" ")
        .decimal(u64::MAX)
        .text(" ")
        .hex(0)
        .text(" ")
        .hex(usize::MAX);
    assert_eq!(
        r.as_bytes(),
        b"0 18446744073709551615 0x0 0xffffffffffffffff"
    );
}

#[test]
fn report_truncates_instead_of_overflowing_its_buffer() {
    let mut r = Report::new();
    for _ in 0..100 {
        r.text("0123456789");
    }
    assert_eq!(r.as_bytes().len(), 512);
}

#[test]
fn guard_lookup_finds_only_guard_pages_of_registered_chunks() {
    let (stride, guard, size) = (0x11000, 0x1000, 0x10000);
    let start = FAKE;
    let reg = register(start, 4 * stride, stride, guard, size).expect("register");
    let hit = find_guard(start + 2 * stride + 8).expect("in the third slot's guard");
    assert_eq!(
        hit,
        GuardHit {
            slot: start + 2 * stride,
            base: start + 3 * stride - HEADER_BYTES,
            size,
            low: start + 2 * stride + guard,
        }
    );
    assert_eq!(
        find_guard(start + 2 * stride + guard),
        None,
        "first usable byte"
    );
    assert_eq!(find_guard(start - 1), None, "below the chunk");
    assert_eq!(find_guard(start + 4 * stride), None, "past the chunk");
    drop(reg);
    assert_eq!(
        find_guard(start + 8),
        None,
        "a dropped registration is forgotten"
    );
}

#[test]
fn install_is_idempotent_and_altstack_is_set() {
    install();
    install();
    let ours = on_fault as extern "C" fn(_, _, _) as usize;
    let mut action: libc::sigaction = unsafe_zeroed_sigaction();
    // SAFETY: a null new action only queries into `action`.
    let rc = unsafe { libc::sigaction(libc::SIGSEGV, ptr::null(), &mut action) };
    assert_eq!(rc, 0);
    assert_eq!(action.sa_sigaction, ours);
    assert_ne!(action.sa_flags & libc::SA_ONSTACK, 0);
    let [previous, _] = previous(libc::SIGSEGV);
    assert_ne!(previous.load(Ordering::Acquire), ours, "installed once");
    std::thread::spawn(|| {
        try_ensure_altstack().expect("altstack");
        // SAFETY: all-zero is a valid stack_t.
        let mut current: libc::stack_t = unsafe { mem::zeroed() };
        // SAFETY: a null new stack only queries into `current`.
        assert_eq!(unsafe { libc::sigaltstack(ptr::null(), &mut current) }, 0);
        assert_eq!(current.ss_flags & libc::SS_DISABLE, 0);
        assert!(current.ss_size >= libc::SIGSTKSZ);
    })
    .join()
    .expect("thread");
}

#[test]
fn ensure_altstack_maps_one_where_none_is_set() {
    std::thread::spawn(|| {
        let disable = libc::stack_t {
            ss_sp: ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        // SAFETY: disabling this thread's alternate stack outside a handler is valid; std
        // does not free its own until the thread exits.
        assert_eq!(unsafe { libc::sigaltstack(&disable, ptr::null_mut()) }, 0);
        try_ensure_altstack().expect("altstack");
        // SAFETY: all-zero is a valid stack_t.
        let mut current: libc::stack_t = unsafe { mem::zeroed() };
        // SAFETY: a null new stack only queries into `current`.
        assert_eq!(unsafe { libc::sigaltstack(ptr::null(), &mut current) }, 0);
        assert_eq!(current.ss_flags & libc::SS_DISABLE, 0);
        assert!(current.ss_size >= MIN_ALTSTACK_BYTES);
        let mine = ALTSTACK
            .take()
            .expect("the thread-local records the mapping");
        assert_eq!(current.ss_sp as usize, mine.map + page_size());
        ALTSTACK.set(Some(mine));
    })
    .join()
    .expect("thread");
}

fn unsafe_zeroed_sigaction() -> libc::sigaction {
    // SAFETY: all-zero is a valid sigaction (SIG_DFL, empty mask, no flags).
    unsafe { mem::zeroed() }
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 32]);
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(frame[(depth % 32) as usize])
}

/// In a child: a coroutine on a pooled stack of `mode`'s guard kind recurses forever.
fn overflow_child(mode: &str) -> ! {
    let guard = if mode == "mprotect" {
        GuardKind::Mprotect
    } else {
        GuardKind::Madvise
    };
    install();
    try_ensure_altstack().expect("alternate signal stack");
    let pool = StackPool::with_options(DEFAULT_STACK_BYTES, 16, guard).expect("pool");
    let mut stack = pool.get().expect("stack");
    stack.set_owner(17);
    let mut co = Coroutine::<(), (), u64, _>::with_stack(stack, |_, ()| recurse(0));
    let _ = co.resume(());
    eprintln!("the unbounded recursion returned");
    std::process::exit(3)
}

fn assert_go_overflow_report(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "child status {:?}, stderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("runtime: goroutine stack exceeds 262144-byte limit\n"),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("\nfatal error: stack overflow\n\ngoroutine 17 [running]:\n"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn overflow_on_a_madvise_guard_reports_like_go_and_exits_2() {
    if let Some(mode) = child_mode() {
        overflow_child(&mode);
    }
    let out = run_child(
        module_path!(),
        "overflow_on_a_madvise_guard_reports_like_go_and_exits_2",
        "madvise",
        &[],
    );
    assert_go_overflow_report(&out);
}

#[test]
fn overflow_on_an_mprotect_guard_reports_like_go_and_exits_2() {
    if let Some(mode) = child_mode() {
        overflow_child(&mode);
    }
    let out = run_child(
        module_path!(),
        "overflow_on_an_mprotect_guard_reports_like_go_and_exits_2",
        "mprotect",
        &[],
    );
    assert_go_overflow_report(&out);
}

#[test]
fn thread_stack_overflow_still_reaches_std_handler() {
    if child_mode().is_some() {
        install();
        let t = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| recurse(0));
        let _ = t.expect("spawn").join();
        std::process::exit(3);
    }
    let out = run_child(
        module_path!(),
        "thread_stack_overflow_still_reaches_std_handler",
        "thread",
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(PREVIOUS_HANDLER_OVERFLOW_REPORT),
        "the previous handler's report is missing:\n{stderr}"
    );
    assert!(
        !stderr.contains("goroutine"),
        "a thread overflow was reported as a goroutine's:\n{stderr}"
    );
    assert_ne!(out.status.code(), Some(2));
    assert_ne!(out.status.code(), Some(3));
}

/// What the handler installed before ours says about a thread-stack overflow: std's report,
/// or under AddressSanitizer (`cfg(gort_asan)`) ASan's, whose `SIGSEGV` handler is installed
/// at process start, before std's would be, and is the one [`install`] chains to.
const PREVIOUS_HANDLER_OVERFLOW_REPORT: &str = if cfg!(gort_asan) {
    "ERROR: AddressSanitizer: stack-overflow"
} else {
    "has overflowed its stack"
};

#[test]
fn other_faults_keep_their_default_action() {
    if child_mode().is_some() {
        install();
        let pool = StackPool::new(MIN_STACK_BYTES).expect("pool");
        let stack = pool.get().expect("stack");
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing.
        let page =
            unsafe { libc::mmap(ptr::null_mut(), page_size(), libc::PROT_NONE, flags, -1, 0) };
        assert_ne!(
            page,
            libc::MAP_FAILED,
            "mmap: {}",
            io::Error::last_os_error()
        );
        // SAFETY: the address is this child's own page-aligned mapping, so the read can
        // touch no other memory; it is PROT_NONE, so the read faults before producing a
        // value, which is what this child exists to do.
        let v = unsafe { ptr::read_volatile(page as *const u8) };
        eprintln!("read {v} from a PROT_NONE page");
        pool.put(stack);
        std::process::exit(3);
    }
    let out = run_child(
        module_path!(),
        "other_faults_keep_their_default_action",
        "fault",
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    if cfg!(gort_asan) {
        // Under AddressSanitizer the handler before ours is ASan's: it reports the fault
        // and exits with status 1 rather than re-raising the signal.
        assert!(
            stderr.contains("ERROR: AddressSanitizer: SEGV on unknown address"),
            "{:?}:\n{stderr}",
            out.status
        );
        assert_eq!(out.status.code(), Some(1), "{stderr}");
    } else {
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGSEGV),
            "{:?}:\n{stderr}",
            out.status
        );
    }
    assert!(!stderr.contains("goroutine"), "{stderr}");
}
