//! Running out of descriptors while accepting: `EMFILE` is an error, not a
//! panic, and `incoming()` backs off and keeps serving once descriptors are
//! free again. Its own test binary: it lowers the process's descriptor limit.

use gort::net::{TcpListener, TcpStream};

fn nofile() -> libc::rlimit {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `r`.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r
}

fn set_nofile(r: &libc::rlimit) {
    // SAFETY: setrlimit reads one rlimit from `r`.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, r) }, 0);
}

/// Fills every free descriptor number below the highest open one with
/// `/dev/null` (the fillers are returned, to keep them open), and returns
/// the lowest free number: every number from there up is free.
fn fill_gaps() -> (Vec<std::fs::File>, u64) {
    use std::os::fd::AsRawFd;
    let top: u64 = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap();
    let mut fillers = Vec::new();
    loop {
        let f = std::fs::File::open("/dev/null").unwrap();
        let fd = f.as_raw_fd() as u64;
        if fd > top {
            return (fillers, fd);
        }
        fillers.push(f);
    }
}

#[test]
fn emfile_on_accept_backs_off_and_keeps_serving() {
    const CLIENTS: usize = 8;
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    rt.block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // Every client connects first (the kernel completes them in the
        // backlog), then the limit leaves room for two accepted ones only.
        let clients: Vec<TcpStream> = (0..CLIENTS)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let saved = nofile();
        // Descriptors are numbered from 0 below the limit: room for two.
        let (fillers, free) = fill_gaps();
        let room = free + 2;
        set_nofile(&libc::rlimit {
            rlim_cur: room,
            rlim_max: saved.rlim_max,
        });
        let (s1, _) = l.accept().unwrap();
        let (s2, _) = l.accept().unwrap();
        let e = l.accept().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
        // `incoming` retries through EMFILE: hand each accepted stream over
        // a channel, where this goroutine drops it, freeing a descriptor.
        let (tx, rx) = gort::chan::<TcpStream>(0);
        let server = gort::go(move || {
            for s in l.incoming().take(CLIENTS - 2) {
                tx.send(s.unwrap()).unwrap();
            }
        });
        drop((s1, s2));
        let mut served = 0;
        for s in rx.iter() {
            drop(s);
            served += 1;
        }
        server.join().unwrap();
        set_nofile(&saved);
        assert_eq!(served, CLIENTS - 2);
        drop((clients, fillers));
    });
}
