//! Timers cost no CPU while nothing is due: an idle runtime whose only
//! pending timer is 10 minutes away, and one with 100,000 goroutines asleep,
//! each use (almost) no processor time over a one-second window. A runtime
//! that polled its timers would burn a core here; the bound is a tenth of
//! one. The timers are far enough away that none fires during the test, even
//! where starting 100,000 goroutines takes many seconds (under a sanitizer,
//! on a loaded machine).

mod runtime_support;

use gort::{chan, go, select};
use runtime_support::{rt, within};
use std::sync::Arc;
use std::time::Duration;

/// The process's user plus system CPU time, from `/proc/self/stat` (in
/// clock ticks of 10 ms).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after the parenthesised command name: state is the 3rd field
    // overall; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

/// CPU ticks used by the whole process over `window` of wall time.
fn cpu_over(window: Duration) -> u64 {
    let before = cpu_ticks();
    std::thread::sleep(window);
    cpu_ticks() - before
}

#[test]
fn an_idle_runtime_with_far_timers_uses_no_cpu() {
    for sleepers in [1usize, 100_000] {
        within(Duration::from_secs(120), move || {
            let rt = rt(2);
            let (quit_tx, quit_rx) = chan::<()>(0);
            let (ready_tx, ready_rx) = chan::<()>(0);
            let main = std::thread::spawn(move || {
                rt.block_on(move || {
                    let entered = Arc::new(gort::sync::WaitGroup::new());
                    entered.add(sleepers as i64);
                    let hs: Vec<_> = (0..sleepers)
                        .map(|_| {
                            let quit = quit_rx.clone();
                            let entered = entered.clone();
                            go(move || {
                                let timer = gort::time::after(Duration::from_secs(600));
                                entered.done();
                                select! {
                                    recv(timer) -> _ => {}
                                    recv(quit) -> _ => {}
                                }
                            })
                        })
                        .collect();
                    // Every goroutine has reached its select.
                    entered.wait();
                    ready_tx.send(()).unwrap();
                    for h in hs {
                        h.join().unwrap();
                    }
                })
            });
            ready_rx.recv().unwrap();
            // The last goroutines are still on their way into their selects
            // (slowly under a sanitizer): wait for a quiet 200 ms, for up to
            // 20 s (60 s under AddressSanitizer, where 100,000 goroutines
            // each make a fake stack on their way in). A runtime that polled
            // would never be quiet.
            let looks = if cfg!(gort_asan) { 300 } else { 100 };
            for _ in 0..looks {
                if cpu_over(Duration::from_millis(200)) <= 2 {
                    break;
                }
            }
            let ticks = cpu_over(Duration::from_secs(1));
            drop(quit_tx);
            main.join().unwrap();
            assert!(
                ticks <= 10,
                "{sleepers} sleeper(s): {ticks} ticks (10 ms each) of CPU in 1 s of idling"
            );
        });
    }
}
