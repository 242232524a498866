//! After a burst of goroutines ends, the memory of their stacks goes back to
//! the kernel once the runtime has nothing to run: a finished goroutine's
//! exit leaves the release to the Ms, which do it before they sleep (and,
//! in a runtime that never idles, a few stacks at a time).
//!
//! One test in its own binary, so no other test's allocations move the
//! resident size it watches.

mod runtime_support;

use runtime_support::{eventually, proc_status, rt, timed};

/// Goroutines in the burst; each touches [`TOUCH`] bytes of its stack.
const BURST: usize = 20_000;
const TOUCH: usize = 16 << 10;

fn burst(rt: &gort::Runtime) {
    rt.block_on(|| {
        let (tx, rx) = gort::chan::<()>(0);
        let wg = gort::sync::WaitGroup::new();
        let hs: Vec<_> = (0..BURST)
            .map(|_| {
                let rx = rx.clone();
                wg.add(1);
                let wg = wg.clone();
                gort::go(move || {
                    let buf = std::hint::black_box([7u8; TOUCH]);
                    wg.done();
                    rx.recv();
                    buf[TOUCH - 1]
                })
            })
            .collect();
        // Every goroutine is alive at once, each with its stack committed.
        wg.wait();
        drop(tx);
        for h in hs {
            assert_eq!(h.join().unwrap(), 7);
        }
    });
}

#[test]
fn an_idle_runtime_gives_a_finished_bursts_stack_memory_back() {
    timed(|| {
        let rt = rt(2);
        let settle = |rt: &gort::Runtime| {
            eventually("the idle Ms release the burst's stacks", || {
                rt.stack_memory().pending_release == 0
            })
        };
        // A first burst carves the stacks; once settled, the baseline.
        burst(&rt);
        settle(&rt);
        let rss0 = proc_status("VmRSS");
        burst(&rt);
        let after = rt.stack_memory();
        assert!(after.live <= 1, "every goroutine finished: {after:?}");
        assert!(after.allocated >= BURST, "{after:?}");
        // The main goroutine has returned and the Ms have nothing to run:
        // before they sleep, they release what exceeds the pool's retention.
        settle(&rt);
        let settled = rt.stack_memory();
        // Of the burst's stacks, at most the retention (1,024) plus the Ms'
        // caches stay committed; each release of the first burst was reused
        // by the second, which had to release its own again.
        assert!(
            settled.released >= BURST - 2048,
            "released {} of {BURST} stacks: {settled:?}",
            settled.released
        );
        let rss1 = proc_status("VmRSS");
        eprintln!("VmRSS after a settled burst: {rss0} kB -> {rss1} kB; {settled:?}");
        if cfg!(gort_asan) {
            // AddressSanitizer keeps frames with arrays like `buf` on its own
            // fake stacks, so the goroutine stacks hold little of the burst.
            eprintln!("resident size not compared under AddressSanitizer");
        } else {
            // The burst commits ~20,000 x 20 KiB = ~400 MiB while it lives.
            assert!(
                rss1 <= rss0 + 64 * 1024,
                "resident size after the burst settled: {rss0} kB -> {rss1} kB"
            );
        }
    });
}
