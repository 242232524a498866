//! Goroutine dumps: a few goroutines blocked in different ways, and what
//! `gort::goroutine_dump()` says about them (Go's `runtime.Stack(buf, true)`
//! shape). Run with `GORT_DEBUG=schedtrace=100` to see the scheduler's
//! periodic `SCHED` lines too, or send the process `SIGQUIT` while it
//! sleeps (it asks for `dump_on_sigquit`) to get the dump Go prints then.

use std::sync::Arc;
use std::time::Duration;

fn main() {
    let rt = gort::Runtime::builder()
        .procs(2)
        .dump_on_sigquit(true)
        .build()
        .expect("runtime");
    rt.block_on(|| {
        let (tx, rx) = gort::chan::<u32>(0);
        let counter = Arc::new(gort::sync::Mutex::new(0));
        let held = counter.lock();
        let c2 = counter.clone();
        let locker = gort::go(move || *c2.lock() += 1);
        let receiver = gort::go(move || rx.recv());
        let sleeper = gort::go(|| gort::sleep(Duration::from_millis(300)));
        // Let them block, then look.
        gort::sleep(Duration::from_millis(50));
        print!("{}", gort::goroutine_dump());
        drop(held);
        tx.send(7).unwrap();
        locker.join().unwrap();
        assert_eq!(receiver.join().unwrap(), Some(7));
        sleeper.join().unwrap();
    });
}
