//! An idle server uses no CPU: while goroutines wait on sockets and nothing
//! else happens, the runtime's threads (Ms and sysmon) do not wake up. Its
//! own test binary: it counts the context switches of every `gort-` thread
//! of the process.

use gort::net::{TcpListener, TcpStream};
use std::io::Read;
use std::time::Duration;

/// Voluntary context switches of this process's `gort-*` threads.
fn gort_wakeups() -> u64 {
    let mut n = 0;
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("gort-") {
            continue;
        }
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        n += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    n
}

#[test]
fn idle_server_threads_stay_asleep() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    // A plain thread watches: it lets the runtime settle, counts wake-ups
    // over a window in which nothing happens, then connects to end it.
    let watcher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let before = gort_wakeups();
        std::thread::sleep(Duration::from_millis(300));
        let woke = gort_wakeups() - before;
        let c = std::net::TcpStream::connect(addr).unwrap();
        drop(c);
        woke
    });
    rt.block_on(move || {
        // Ten idle connections, each with a goroutine parked in a read, and
        // the main goroutine parked in accept.
        let mut peers = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..10 {
            let c = TcpStream::connect(addr).unwrap();
            let (s, _) = l.accept().unwrap();
            readers.push(gort::go(move || {
                let mut b = [0u8; 1];
                (&s).read(&mut b).map(|n| n == 0)
            }));
            peers.push(c);
        }
        let _ = l.accept().unwrap();
        drop(peers);
        for r in readers {
            assert!(r.join().unwrap().unwrap(), "each reader sees end of file");
        }
    });
    let woke = watcher.join().unwrap();
    // A thread polling on a period (sysmon's 10 ms) would wake about 30
    // times; a few stray wake-ups of the settling are tolerated.
    assert!(
        woke <= 3,
        "the runtime's threads woke {woke} times in 300 ms with every goroutine waiting on the network"
    );
}
