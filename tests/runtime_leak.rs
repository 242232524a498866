//! Building and dropping runtimes with goroutines still parked leaks
//! nothing: no threads, no mappings, no address space, no memory.
//!
//! One test in its own binary, so no other test's allocations move the
//! process-wide numbers it watches.

mod runtime_support;

use runtime_support::{map_count, proc_status, rt, settle_allocator, timed};

/// One runtime's life: 200 goroutines parked for ever (plus a goroutine
/// holding a started `pull`), then the runtime is dropped.
fn one_runtime() {
    let rt = rt(2);
    rt.block_on(|| {
        let (tx, rx) = gort::chan::<u32>(0);
        let wg = gort::sync::WaitGroup::new();
        for _ in 0..200 {
            let rx = rx.clone();
            wg.add(1);
            let wg = wg.clone();
            gort::go(move || {
                // Touch some stack so the pages are really committed.
                let buf = std::hint::black_box([7u8; 8 << 10]);
                wg.done();
                rx.recv();
                buf[1]
            });
        }
        let p = gort::iter::pull(|y: &mut dyn FnMut(u64) -> bool| {
            for i in 0.. {
                if !y(i) {
                    return;
                }
            }
        });
        assert_eq!(p.next(), Some(0));
        gort::go(move || {
            let _tx = tx;
            let _p = p;
            let (_t, never) = gort::chan::<()>(0);
            never.recv();
        });
        wg.wait();
    });
    assert!(
        rt.stack_stats().0 >= 202,
        "stacks live: {:?}",
        rt.stack_stats()
    );
    drop(rt);
}

#[test]
fn fifty_runtimes_with_parked_goroutines_leak_nothing() {
    timed(|| {
        // Warm up: the first runtimes install handlers, caches and arenas.
        for _ in 0..5 {
            one_runtime();
        }
        settle_allocator();
        let threads0 = proc_status("Threads");
        let maps0 = map_count();
        let vm0 = proc_status("VmSize");
        let rss0 = proc_status("VmRSS");
        for _ in 0..50 {
            one_runtime();
        }
        settle_allocator();
        let threads1 = proc_status("Threads");
        let maps1 = map_count();
        let vm1 = proc_status("VmSize");
        let rss1 = proc_status("VmRSS");
        let report = format!(
            "threads {threads0} -> {threads1}, maps {maps0} -> {maps1}, \
             VmSize {vm0} -> {vm1} kB, VmRSS {rss0} -> {rss1} kB"
        );
        eprintln!("{report}");
        assert!(threads1 <= threads0, "threads leaked: {report}");
        assert!(maps1 <= maps0 + 8, "mappings leaked: {report}");
        // One runtime's stacks reserve 256 chunks x 256 KiB = 64 MiB of
        // address space; a leak of that per runtime would be unmissable.
        assert!(vm1 <= vm0 + 32 * 1024, "address space leaked: {report}");
        // 200 goroutines x (8 KiB touched + a page) per runtime: a leak of
        // the stacks' memory would add ~90 MiB over 50 runtimes.
        assert!(rss1 <= rss0 + 16 * 1024, "memory leaked: {report}");
    });
}
