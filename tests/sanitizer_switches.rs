//! Every kind of coroutine switch, each in a child process whose stderr must stay free of
//! AddressSanitizer's words. Run under ASan (`scripts/asan`), this is the check that the
//! runtime announces every switch (`runtime/src/coro/sanitizer.rs`): a switch ASan was not
//! told about shows up as `WARNING: ASan is ignoring requested __asan_handle_no_return`
//! when a panic next unwinds on a goroutine stack, as a `stack-use-after-return` or
//! `stack-buffer-overflow` report on a stack whose frames ASan took for another's, or as a
//! SEGV inside ASan. Without the sanitizer the same scenarios run as ordinary tests of these
//! paths, and the stderr check holds trivially.
//!
//! Every scenario unwinds at least once on the stack it switched to, because that is where
//! an unannounced switch is visible even when nothing crashes: ASan's `__asan_handle_no_return`
//! unpoisons from the stack pointer to the top of the stack it believes is running.
//!
//! Under ASan (`cfg(gort_asan)`) two more children check that ASan still catches real bugs
//! on goroutine stacks: a use of a returned frame (each goroutine keeps its own fake stack
//! across switches) and a heap use after free, each reported with ASan's own words.

mod runtime_support;

use gort::iter::{pull, Pull};
use runtime_support::{rt, timed, DropCount};
use std::collections::HashSet;
use std::process::{Command, Output};
use std::time::Duration;

/// The environment variable that tells a re-executed test binary which scenario to play.
const CHILD_ENV: &str = "GORT_SANITIZER_CHILD";

/// Re-executes this test binary to run only the test `name`, as a child playing `name`.
fn run_child(name: &str) -> Output {
    let exe = std::env::current_exe().expect("the test binary's path");
    Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .output()
        .expect("re-executing the test binary")
}

/// Whether this process is the child started to play `name`.
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// Runs `scenario` in a child process; the child must succeed with no sanitizer output.
fn clean_child(name: &str, scenario: impl FnOnce()) {
    if is_child(name) {
        scenario();
        return;
    }
    let out = run_child(name);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {name} failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    // The child's test harness reports the one test it ran: the scenario did run.
    assert!(
        stdout.contains("1 passed"),
        "child {name} did not run its scenario:\n{stdout}"
    );
    for word in ["AddressSanitizer", "ASan", "LeakSanitizer"] {
        assert!(
            !stderr.contains(word),
            "child {name}: the sanitizer spoke ({word}):\n{stderr}"
        );
    }
}

/// A panic payload the scenarios raise and catch on purpose.
struct Planned(u32);

/// Installs (once per process) a panic hook that stays quiet about [`Planned`] panics.
fn quiet_planned_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Planned>() {
                prev(info);
            }
        }));
    });
}

/// Writes into `frame` out of line, so that the frame it lives in must be addressable.
///
/// (Not `std::hint::black_box`: it is an inline `asm!`, and ASan gives no fake-stack frame
/// to a function with inline assembly.)
#[inline(never)]
fn fill(frame: &mut [u32; 16], v: u32) {
    for (i, x) in frame.iter_mut().enumerate() {
        *x = v.wrapping_add(i as u32);
    }
}

/// Panics with [`Planned`]`(tag)` from `depth` frames down, each with an addressable local
/// (on the fake stack, with `detect_stack_use_after_return=1`), so the unwinding crosses
/// frames that ASan allocated for the running goroutine.
#[inline(never)]
fn panic_deep(depth: u32, tag: u32) -> u32 {
    let mut frame = [0u32; 16];
    fill(&mut frame, depth);
    if depth == 0 {
        std::panic::panic_any(Planned(tag));
    }
    panic_deep(depth - 1, tag).wrapping_add(frame[(depth % 16) as usize])
}

/// Catches a planned panic of `f` and returns its tag.
fn catch_planned(f: impl FnOnce() -> u32) -> u32 {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => panic!("expected a planned panic, got {v}"),
        Err(p) => match p.downcast::<Planned>() {
            Ok(p) => p.0,
            Err(_) => panic!("an unplanned panic"),
        },
    }
}

/// A chain of `depth` nested pulls: level 0 yields `0..n` and blocks on a channel before
/// each value (so each switch to it is first a direct one, then forwarded to the scheduler);
/// level `k` pulls from level `k - 1` and yields its values plus one. Every level catches a
/// planned panic on its own stack before each value.
fn nested_chain(depth: u32, n: u64) -> Pull<u64> {
    pull(move |y: &mut dyn FnMut(u64) -> bool| {
        if depth == 0 {
            for i in 0..n {
                assert_eq!(catch_planned(|| panic_deep(3, 100)), 100);
                let (tx, rx) = gort::chan::<u64>(0);
                let h = gort::go(move || tx.send(i).unwrap());
                let v = rx.recv().unwrap();
                h.join().unwrap();
                if !y(v) {
                    return;
                }
            }
        } else {
            let inner = nested_chain(depth - 1, n);
            while let Some(v) = inner.next() {
                assert_eq!(catch_planned(|| panic_deep(2, depth)), depth);
                if !y(v + 1) {
                    return;
                }
            }
        }
    })
}

/// The scheduler's resume and suspend: goroutines that park, yield and sleep, moving
/// between Ms, and unwind a caught panic on their stacks after each switch; one panics out
/// of its body (the panic is delivered to `join`).
#[test]
fn scheduler_resume_and_suspend() {
    clean_child("scheduler_resume_and_suspend", || {
        quiet_planned_panics();
        timed(|| {
            rt(2).block_on(|| {
                let (tx, rx) = gort::chan::<u32>(0);
                let workers: Vec<_> = (0..8u32)
                    .map(|g| {
                        let tx = tx.clone();
                        gort::go(move || {
                            for round in 0..20u32 {
                                assert_eq!(catch_planned(|| panic_deep(4, g)), g);
                                match round % 3 {
                                    0 => gort::yield_now(),
                                    1 => gort::sleep(Duration::from_micros(50)),
                                    _ => tx.send(g).unwrap(),
                                }
                            }
                        })
                    })
                    .collect();
                drop(tx);
                let got = rx.iter().count();
                assert_eq!(got, 8 * 6, "sends made by the workers");
                for w in workers {
                    w.join().unwrap();
                }
                let failing = gort::go(|| panic_deep(5, 9));
                let p = failing.join().expect_err("the goroutine panicked");
                assert_eq!(p.downcast::<Planned>().map(|p| p.0).ok(), Some(9));
            });
        });
    });
}

/// The direct `pull()` switch, nested three deep, with forwarding: the innermost sequence
/// blocks on a channel, so each of its switches starts directly and is forwarded to the
/// scheduler; every level unwinds a caught panic on its own stack between values. Then a
/// sequence that panics out of `next` (unwinding its stack, delivered on the caller's),
/// and a chain stopped half way.
#[test]
fn nested_pulls_forwarding_and_panics() {
    clean_child("nested_pulls_forwarding_and_panics", || {
        quiet_planned_panics();
        timed(|| {
            rt(2).block_on(|| {
                let got: Vec<u64> = nested_chain(3, 5).collect();
                assert_eq!(got, vec![3, 4, 5, 6, 7]);

                let p = pull(|y: &mut dyn FnMut(u32) -> bool| {
                    if y(1) {
                        panic_deep(3, 42);
                    }
                });
                assert_eq!(p.next(), Some(1));
                assert_eq!(catch_planned(|| p.next().unwrap_or(0)), 42);

                let half = nested_chain(3, 100);
                assert_eq!(half.next(), Some(3));
                assert_eq!(half.next(), Some(4));
                half.stop();
                assert_eq!(half.next(), None);
            });
        });
    });
}

/// Unwinding at cancellation: a runtime dropped while its goroutines are parked forever,
/// one below a caught panic's frames, one inside a pull's `next` whose sequence is blocked,
/// one holding a suspended pull, one never started; the drop resumes each with a
/// cancellation that unwinds its stack (and the sequences' stacks), running destructors.
#[test]
fn cancellation_unwinds_at_drop() {
    clean_child("cancellation_unwinds_at_drop", || {
        quiet_planned_panics();
        let drops = DropCount::default();
        let d = drops.clone();
        timed(move || {
            let rt = rt(2);
            rt.block_on(move || {
                let (started_tx, started_rx) = gort::chan::<()>(3);
                // Parked forever in a channel receive, after a caught panic.
                let (g, s) = (d.guard(), started_tx.clone());
                gort::go(move || {
                    let _g = g;
                    let (_keep, never) = gort::chan::<()>(0);
                    assert_eq!(catch_planned(|| panic_deep(3, 1)), 1);
                    s.send(()).unwrap();
                    let _ = never.recv();
                });
                // Parked inside `next`: the sequence blocks forever on its second value.
                let (g, gs, s) = (d.guard(), d.guard(), started_tx.clone());
                gort::go(move || {
                    let _g = g;
                    let (_keep, never) = gort::chan::<u64>(0);
                    let p = pull(move |y: &mut dyn FnMut(u64) -> bool| {
                        let _gs = gs;
                        if y(0) {
                            let _ = y(never.recv().unwrap_or(0));
                        }
                    });
                    assert_eq!(p.next(), Some(0));
                    s.send(()).unwrap();
                    let _ = p.next();
                });
                // Parked while holding a suspended pull.
                let (g, gs, s) = (d.guard(), d.guard(), started_tx);
                gort::go(move || {
                    let _g = g;
                    let (_keep, never) = gort::chan::<()>(0);
                    let p = pull(move |y: &mut dyn FnMut(u64) -> bool| {
                        let _gs = gs;
                        let mut i = 0;
                        while y(i) {
                            i += 1;
                        }
                    });
                    assert_eq!(p.next(), Some(0));
                    s.send(()).unwrap();
                    let _ = never.recv();
                    drop(p);
                });
                for _ in 0..3 {
                    started_rx.recv().unwrap();
                }
                // Started or not when the runtime goes, its captured guard is dropped.
                let g = d.guard();
                gort::go(move || drop(g));
            });
            drop(rt);
        });
        // Three goroutines' and two sequences' guards, and the last goroutine's.
        assert_eq!(drops.get(), 6, "destructors run by cancellation");
    });
}

/// Thread exit of wired goroutines: goroutines that lock their thread and exit wired take
/// the thread with them (as in Go), after switches in and out of a nested pull and a
/// caught panic on their stacks; the runtime goes on with new threads.
#[test]
fn wired_goroutines_exit_with_their_threads() {
    clean_child("wired_goroutines_exit_with_their_threads", || {
        quiet_planned_panics();
        timed(|| {
            rt(2).block_on(|| {
                let mut wired = Vec::new();
                for round in 0..6u32 {
                    let h = gort::go(move || {
                        gort::lock_os_thread();
                        let t = std::thread::current().id();
                        let got: Vec<u64> = nested_chain(2, 3).collect();
                        assert_eq!(got, vec![2, 3, 4]);
                        assert_eq!(catch_planned(|| panic_deep(3, round)), round);
                        gort::yield_now();
                        assert_eq!(std::thread::current().id(), t, "wired goroutine moved");
                        t
                    });
                    wired.push(h.join().unwrap());
                }
                let distinct: HashSet<_> = wired.iter().copied().collect();
                assert_eq!(
                    distinct.len(),
                    wired.len(),
                    "a wired goroutine's thread outlived it"
                );
                // The runtime goes on, never on a thread that left with its goroutine.
                let hs: Vec<_> = (0..16u64)
                    .map(|i| gort::go(move || (i * 2, std::thread::current().id())))
                    .collect();
                let mut sum = 0;
                for h in hs {
                    let (v, t) = h.join().unwrap();
                    assert!(
                        !distinct.contains(&t),
                        "a goroutine ran on an exited thread"
                    );
                    sum += v;
                }
                assert_eq!(sum, 240);
            });
        });
    });
}

/// Under ASan: a read through a pointer into a goroutine frame that has returned, made
/// after the goroutine was switched out and back in. ASan must name it a
/// stack-use-after-return: the goroutine's fake stack survived the switches.
#[cfg(gort_asan)]
#[test]
fn asan_reports_a_use_of_a_returned_goroutine_frame() {
    const NAME: &str = "asan_reports_a_use_of_a_returned_goroutine_frame";
    if is_child(NAME) {
        /// The address of a local of a frame that has returned.
        #[inline(never)]
        fn leak_local() -> usize {
            let mut local = [0u32; 16];
            fill(&mut local, 7);
            local.as_ptr() as usize
        }
        rt(1).block_on(|| {
            gort::go(|| {
                let p = leak_local();
                gort::yield_now();
                gort::sleep(Duration::from_millis(1));
                // SAFETY: none: this is the bug ASan must report (the child dies here).
                let v = unsafe { std::ptr::read_volatile(p as *const u32) };
                println!("read {v} from a returned frame");
            })
            .join()
            .unwrap();
        });
        return;
    }
    let out = run_child(NAME);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child survived:\n{stderr}");
    assert!(
        stderr.contains("ERROR: AddressSanitizer: stack-use-after-return"),
        "stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("ASan is ignoring"),
        "an unannounced switch:\n{stderr}"
    );
}

/// Under ASan: a heap use after free inside a goroutine that has migrated between Ms is
/// reported as such, with no earlier report.
#[cfg(gort_asan)]
#[test]
fn asan_reports_a_heap_use_after_free_in_a_goroutine() {
    const NAME: &str = "asan_reports_a_heap_use_after_free_in_a_goroutine";
    if is_child(NAME) {
        rt(2).block_on(|| {
            gort::go(|| {
                let b = Box::new([3u64; 4]);
                let p: *const u64 = b.as_ptr();
                for _ in 0..10 {
                    gort::yield_now();
                }
                drop(b);
                // SAFETY: none: this is the bug ASan must report (the child dies here).
                let v = unsafe { std::ptr::read_volatile(p) };
                println!("read {v} from freed memory");
            })
            .join()
            .unwrap();
        });
        return;
    }
    let out = run_child(NAME);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child survived:\n{stderr}");
    let first = stderr
        .find("ERROR: AddressSanitizer")
        .expect("an ASan report");
    assert!(
        stderr[first..].starts_with("ERROR: AddressSanitizer: heap-use-after-free"),
        "stderr:\n{stderr}"
    );
}
