//! A TCP echo server and a load generator on loopback, on `gort::net`.
//!
//! ```text
//! cargo run --release --example echo [-- CONNS REQUESTS]   # both, in one program
//! echo serve [ADDR] [--buffer-per-conn]
//!                                # the server only; prints its address
//! echo load ADDR CONNS SECS      # the load generator only, against ADDR
//! echo idle ADDR N               # N idle connections (each echoed once), held until stdin closes
//! ```
//!
//! `ECHO_PROCS=N` sets the number of Ps (default: the number of CPUs).
//!
//! Each connection's goroutine waits for data with `TcpStream::readable`
//! and only then takes a buffer to read into (`try_read`), so an idle
//! connection holds no buffer and one page of stack. `--buffer-per-conn`
//! serves the way Go's `net.Conn` allows: a 4 KiB buffer for the
//! connection's life, parked in `read`.
//!
//! The load generator runs CONNS connections, each a goroutine that sends a
//! 64-byte message and waits for its echo, over and over; it prints
//! requests per second and the p50/p99 round-trip latency. With
//! `GORT_TRACE=echo.trace` the one-program run is traced (then
//! `go tool trace -pprof=net echo.trace` shows where goroutines waited on
//! the network).

use gort::net::{TcpListener, TcpStream};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const MSG: usize = 64;

/// How a connection's goroutine holds its read buffer.
#[derive(Clone, Copy, PartialEq)]
enum Buffer {
    /// Taken when data is there ([`TcpStream::readable`], then
    /// [`TcpStream::try_read`]): an idle connection parks with no buffer
    /// and a shallow stack.
    OnData,
    /// Kept for the connection's life on its goroutine's stack, the shape
    /// of Go's `buf := make([]byte, 4096)` loop.
    PerConn,
}

/// Serves each connection in its own goroutine: read, write back, until EOF.
fn serve(l: TcpListener, buffer: Buffer) {
    for s in l.incoming() {
        let s = match s {
            Ok(s) => s,
            // Closed (the one-program run is over), or a real error.
            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return,
            Err(e) => {
                eprintln!("echo: accept: {e}");
                return;
            }
        };
        let _ = s.set_nodelay(true);
        gort::go(move || match buffer {
            Buffer::OnData => while s.readable().is_ok() && echo_available(&s) {},
            Buffer::PerConn => echo_per_conn(&s),
        });
    }
}

/// Echoes what has arrived until a read would wait; false once the
/// connection is over (its end, or an error). The buffer lives only for
/// this call: one heap allocation per burst of data, the price of holding
/// no buffer while the connection is idle.
#[inline(never)]
fn echo_available(s: &TcpStream) -> bool {
    let mut buf = vec![0u8; 4096];
    loop {
        match s.try_read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                if (&*s).write_all(&buf[..n]).is_err() {
                    return false;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Echoes until the connection ends, with one buffer on the stack.
fn echo_per_conn(s: &TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match (&*s).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if (&*s).write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// What the load generator measured.
struct Load {
    requests: usize,
    elapsed: Duration,
    /// Round trips in nanoseconds, sorted.
    lat: Vec<u64>,
}

impl Load {
    fn percentile(&self, p: f64) -> Duration {
        if self.lat.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.lat.len() as f64 * p).ceil() as usize).clamp(1, self.lat.len()) - 1;
        Duration::from_nanos(self.lat[i])
    }

    fn print(&self, conns: usize) {
        let rps = self.requests as f64 / self.elapsed.as_secs_f64();
        println!(
            "echo: {conns} connections, {} requests in {:.2?}: {rps:.0} requests/s, p50 {:.1?}, p99 {:.1?}",
            self.requests,
            self.elapsed,
            self.percentile(0.50),
            self.percentile(0.99),
        );
        println!(
            "result conns={conns} rps={rps:.0} p50_us={:.1} p99_us={:.1}",
            self.percentile(0.50).as_secs_f64() * 1e6,
            self.percentile(0.99).as_secs_f64() * 1e6
        );
    }
}

/// `conns` connections, each doing round trips until `until` says stop
/// (a count, or a deadline).
fn load(addr: SocketAddr, conns: usize, requests: Option<usize>, secs: Option<f64>) -> Load {
    let start = Instant::now();
    let end = secs.map(|s| start + Duration::from_secs_f64(s));
    let hs: Vec<_> = (0..conns)
        .map(|i| {
            gort::go(move || {
                let c = TcpStream::connect(addr).expect("connect to the echo server");
                c.set_nodelay(true).expect("TCP_NODELAY");
                let mut msg = [0u8; MSG];
                msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
                let mut back = [0u8; MSG];
                let mut lat = Vec::with_capacity(requests.unwrap_or(4096));
                loop {
                    if requests.is_some_and(|n| lat.len() >= n) {
                        break;
                    }
                    let t0 = Instant::now();
                    if end.is_some_and(|e| t0 >= e) {
                        break;
                    }
                    (&c).write_all(&msg).expect("write");
                    (&c).read_exact(&mut back).expect("read the echo");
                    assert_eq!(back, msg, "the echo differs from the message");
                    lat.push(t0.elapsed().as_nanos() as u64);
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in hs {
        lat.extend(h.join().expect("a client goroutine panicked"));
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    Load {
        requests: lat.len(),
        elapsed,
        lat,
    }
}

/// Opens `n` connections, echoes one message on each (so the server has
/// accepted it and parked its reader), then holds them until stdin closes.
fn idle(addr: SocketAddr, n: usize) {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let c = TcpStream::connect(addr).expect("connect to the echo server");
        (&c).write_all(&[1u8; 8]).expect("write");
        let mut b = [0u8; 8];
        (&c).read_exact(&mut b).expect("read the echo");
        conns.push(c);
    }
    println!("ready {n}");
    let _ = std::io::stdout().flush();
    let mut sink = Vec::new();
    let _ = gort::syscall(|| std::io::stdin().read_to_end(&mut sink));
    drop(conns);
}

/// `gort::run` on `ECHO_PROCS` Ps if set (the number of CPUs otherwise).
fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::env::var("ECHO_PROCS")
        .ok()
        .and_then(|p| p.parse().ok())
    {
        Some(p) => gort::Runtime::builder()
            .procs(p)
            .build()
            .expect("runtime")
            .block_on(f),
        None => gort::run(f),
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str, default: Option<T>) -> T {
    match args.get(i) {
        Some(a) => a
            .parse()
            .unwrap_or_else(|_| panic!("echo: {what} must be a number, not {a:?}")),
        None => default.unwrap_or_else(|| panic!("echo: missing {what}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => {
            let buffer = if args.iter().any(|a| a == "--buffer-per-conn") {
                Buffer::PerConn
            } else {
                Buffer::OnData
            };
            let at = args
                .iter()
                .skip(1)
                .find(|a| !a.starts_with("--"))
                .map_or("127.0.0.1:0", String::as_str)
                .to_owned();
            run(move || {
                let l = TcpListener::bind(at).expect("bind");
                println!("listening {}", l.local_addr().expect("local address"));
                let _ = std::io::stdout().flush();
                serve(l, buffer);
            });
        }
        Some("load") => {
            let addr: SocketAddr = arg(&args, 1, "ADDR", None);
            let conns: usize = arg(&args, 2, "CONNS", None);
            let secs: f64 = arg(&args, 3, "SECS", None);
            run(move || load(addr, conns, None, Some(secs))).print(conns);
        }
        Some("idle") => {
            let addr: SocketAddr = arg(&args, 1, "ADDR", None);
            let n: usize = arg(&args, 2, "N", None);
            run(move || idle(addr, n));
        }
        _ => {
            let conns: usize = arg(&args, 0, "CONNS", Some(10));
            let requests: usize = arg(&args, 1, "REQUESTS", Some(2000));
            let r = run(move || {
                let l = TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = l.local_addr().expect("local address");
                let server = l.clone();
                gort::go(move || serve(server, Buffer::OnData));
                let r = load(addr, conns, Some(requests), None);
                // Stop accepting: the server's loop ends.
                l.close();
                r
            });
            r.print(conns);
        }
    }
}
