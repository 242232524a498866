//! A million goroutines: parked on one channel, woken by closing it and
//! joined, under procs 1 and 2, with nothing left behind; and running out of
//! address space for stacks is a panic that names the cause, not a crash.

mod runtime_support;

use runtime_support::eventually;
#[cfg(not(gort_asan))]
use std::process::Command;
use std::sync::Arc;

/// Goroutines parked at once: a million, or 20,000 under AddressSanitizer
/// (`cfg(gort_asan)`, `scripts/asan`), where each parked goroutine also holds
/// a fake stack and its stack's shadow, about 64 KiB resident instead of
/// about 4 KiB (see `tests/runtime_sched.rs`).
const N: usize = if cfg!(gort_asan) { 20_000 } else { 1_000_000 };

/// Parks `N` goroutines on one receive, checks that each is alive and holds
/// a stack, closes the channel, joins them all and checks that the runtime
/// is back to no goroutine and no stack in use.
fn park_and_wake(procs: usize) {
    let rt = Arc::new(
        gort::Builder::new()
            .procs(procs)
            .build()
            .expect("a runtime"),
    );
    let rt2 = Arc::clone(&rt);
    rt.block_on(move || {
        let (tx, rx) = gort::chan::<u64>(0);
        let parked = gort::sync::WaitGroup::new();
        parked.add(N as i64);
        let handles: Vec<_> = (0..N as u64)
            .map(|i| {
                let rx = rx.clone();
                let parked = parked.clone();
                gort::go(move || {
                    parked.done();
                    (i, rx.recv())
                })
            })
            .collect();
        parked.wait();
        // The main goroutine and the N others, each on its own stack.
        assert_eq!(
            rt2.live_goroutines(),
            N + 1,
            "procs={procs}: live goroutines while parked"
        );
        assert_eq!(
            rt2.stack_stats().0,
            N + 1,
            "procs={procs}: stacks in use while parked"
        );
        tx.close();
        for (i, h) in handles.into_iter().enumerate() {
            match h.join() {
                Ok(got) => assert_eq!(got, (i as u64, None), "procs={procs}: goroutine {i}"),
                Err(_) => panic!("procs={procs}: goroutine {i} panicked"),
            }
        }
    });
    // A joined goroutine is retired by its M just after its joiner is woken:
    // the last ones may still be on their way out when `block_on` returns.
    eventually(
        &format!("procs={procs}: no live goroutine after the joins"),
        || rt.live_goroutines() == 0,
    );
    eventually(
        &format!("procs={procs}: no stack in use after the joins"),
        || rt.stack_stats().0 == 0,
    );
}

#[test]
fn a_million_goroutines_park_wake_and_leave_nothing_behind() {
    if cfg!(gort_asan) {
        eprintln!("under AddressSanitizer: {N} goroutines parked at once (see N)");
    }
    // One after the other: the two runs each hold about 4 GiB at their peak.
    for procs in [1, 2] {
        park_and_wake(procs);
    }
}

/// The child's side of `address_space_exhaustion_is_a_clear_panic`.
#[cfg(not(gort_asan))]
const CHILD_ENV: &str = "GORT_SCALE_TEST_CHILD";

#[cfg(not(gort_asan))]
/// Address space (bytes) the child may map beyond what it has at start:
/// room for a few stack chunks, far from a million stacks.
const CHILD_HEADROOM: u64 = 1 << 30;

#[cfg(not(gort_asan))]
/// In the child: caps the address space, spawns parked goroutines until `go`
/// fails, and prints the panic message.
fn child() {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let vm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    let cap = vm_kb * 1024 + CHILD_HEADROOM;
    let limit = libc::rlimit {
        rlim_cur: cap,
        rlim_max: cap,
    };
    // SAFETY: setrlimit only reads the struct passed.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
    let rt = gort::Builder::new().procs(2).build().expect("a runtime");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(|| {
            let (_tx, rx) = gort::chan::<()>(0);
            for _ in 0..N {
                let rx = rx.clone();
                drop(gort::go(move || rx.recv()));
            }
        })
    }));
    let msg = match r {
        Ok(()) => "no failure".to_string(),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".to_string()),
    };
    // The parked goroutines are unwound and their stacks freed here.
    drop(rt);
    println!("child-result: {msg}");
}

// Not under AddressSanitizer: its shadow memory and allocator live in the
// same capped address space, and fail (aborting the child) before gort's
// stack mapping can.
#[cfg(not(gort_asan))]
#[test]
fn address_space_exhaustion_is_a_clear_panic() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([
            "--exact",
            "address_space_exhaustion_is_a_clear_panic",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("running the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child did not exit cleanly ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("child-result: ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no result from the child:\n{stdout}\n{stderr}"));
    assert!(
        line.starts_with("gort::go: cannot allocate a goroutine stack: mmap of a ")
            && line.contains("goroutine stack chunk failed")
            && line.contains("os error 12"),
        "the panic does not name the failed stack mapping: {line}"
    );
}
