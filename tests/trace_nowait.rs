//! Tracing never waits on goroutine code: `trace::start` and `trace::stop`
//! return while another goroutine computes without a scheduling point, or
//! sits in a blocking call not wrapped in `gort::syscall`, and the traces
//! stay valid for gort's validator and Go's.
//!
//! Every wait here is on a flag or a channel, never on time: a start or stop
//! that waited for the spinning goroutine would make it see `stop` only after
//! `start` returned (so the assertions on its flags would fail), and one that
//! waited for the blocked read would hang the test.
#![cfg(feature = "trace")]

mod support;

/// How long the spinning goroutine computes and the blocked read waits, at
/// most (issue 17's scenario).
const LIMIT: Duration = Duration::from_secs(5);
/// The same for the 100 cycles, which must all run while both are busy.
const LONG_LIMIT: Duration = Duration::from_secs(120);

use gort::parser::{GoState, ProcId, ThreadId, Transition};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// A goroutine that computes without a scheduling point until told to stop
/// or until `limit` has passed (the scenario of issue 17: a long computation,
/// which a start or stop that waits for it would outlast), except when
/// poked: then it yields once (so it has events while traced) and
/// acknowledges.
struct Spinner {
    running: AtomicBool,
    stop: AtomicBool,
    exited: AtomicBool,
    poke: AtomicU32,
    acked: AtomicU32,
    id: AtomicU64,
}

impl Spinner {
    fn spawn(limit: Duration) -> (Arc<Spinner>, gort::JoinHandle<u64>) {
        let s = Arc::new(Spinner {
            running: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            poke: AtomicU32::new(0),
            acked: AtomicU32::new(0),
            id: AtomicU64::new(0),
        });
        let me = s.clone();
        let h = gort::go(move || {
            me.id.store(gort::goroutine_id().unwrap(), SeqCst);
            me.running.store(true, SeqCst);
            let began = Instant::now();
            let mut x = 0u64;
            while !me.stop.load(SeqCst) && began.elapsed() < limit {
                for i in 0..1000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
                let p = me.poke.load(SeqCst);
                if p != me.acked.load(SeqCst) {
                    gort::yield_now();
                    me.acked.store(p, SeqCst);
                }
            }
            me.exited.store(true, SeqCst);
            x
        });
        // Wait, without blocking this goroutine's M, until it runs.
        while !s.running.load(SeqCst) {
            gort::yield_now();
        }
        (s, h)
    }

    /// Asks for one scheduling point and waits for it.
    fn poke(&self) {
        let p = self.poke.fetch_add(1, SeqCst) + 1;
        while self.acked.load(SeqCst) != p {
            gort::yield_now();
        }
    }
}

/// A goroutine blocked in a plain `TcpStream::read` (not in `gort::syscall`)
/// on a loopback connection that nobody writes to until `release`; the read
/// gives up after `limit` (so that a start or stop that waited for it ends,
/// and fails the test instead of hanging it).
struct Reader {
    reading: Arc<AtomicBool>,
    returned: Arc<AtomicBool>,
    peer: TcpStream,
}

impl Reader {
    fn spawn(limit: Duration) -> (Reader, gort::JoinHandle<Option<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut conn, _) = l.accept().unwrap();
        conn.set_read_timeout(Some(limit)).unwrap();
        let reading = Arc::new(AtomicBool::new(false));
        let returned = Arc::new(AtomicBool::new(false));
        let (r, d) = (reading.clone(), returned.clone());
        let h = gort::go(move || {
            let mut b = [0u8; 1];
            r.store(true, SeqCst);
            let n = conn.read(&mut b);
            d.store(true, SeqCst);
            match n {
                Ok(1) => Some(b[0]),
                _ => None,
            }
        });
        while !reading.load(SeqCst) {
            gort::yield_now();
        }
        (
            Reader {
                reading,
                returned,
                peer,
            },
            h,
        )
    }

    /// Ends the read.
    fn release(&mut self) {
        self.peer.write_all(&[42]).unwrap();
    }
}

/// Traces a few channel round trips between this goroutine and a helper.
fn some_traced_work() {
    let (tx, rx) = gort::chan::<u32>(0);
    let (btx, brx) = gort::chan::<u32>(0);
    let h = gort::go(move || {
        for v in rx.iter() {
            btx.send(v + 1).unwrap();
        }
    });
    for i in 0..10 {
        tx.send(i).unwrap();
        assert_eq!(brx.recv(), Some(i + 1));
    }
    drop(tx);
    h.join().unwrap();
}

/// The first state transition of goroutine `id` in `trace` (its runtime's
/// serial, in the wire ID's bits 40 and up, ignored), with the P and thread
/// of the event that records it.
fn first_transition(trace: &[u8], id: u64) -> Option<(GoState, ProcId, ThreadId)> {
    for ev in gort::parser::Reader::from_slice(trace).expect("reader") {
        let ev = ev.expect("event");
        if let Some(st) = ev.state_transition() {
            if let Transition::Goroutine { id: g, to, .. } = st.transition {
                if (g.0 as u64) & ((1 << 40) - 1) == id {
                    return Some((to, ev.proc(), ev.thread()));
                }
            }
        }
    }
    None
}

fn check(traces: &[Vec<u8>], name: &str) {
    let dir = scratch(name);
    let mut files = Vec::new();
    for (i, t) in traces.iter().enumerate() {
        let n = validate_with_gort(t);
        assert!(n > 0, "trace {i} is empty");
        let f = dir.join(format!("{i:03}.trace"));
        std::fs::write(&f, t).unwrap();
        files.push(f);
    }
    validate_with_go(&files);
}

#[test]
fn start_and_stop_return_while_a_goroutine_spins() {
    let _serial = trace_lock();
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let traces = rt.block_on(|| {
        let (s, h) = Spinner::spawn(LIMIT);
        let buf = SharedBuf::default();
        gort::trace::start(buf.clone()).unwrap();
        assert!(!s.exited.load(SeqCst), "start waited for the spinner");
        some_traced_work();
        // Its first events in this trace: it was running all along.
        s.poke();
        gort::trace::stop().unwrap();
        assert!(!s.exited.load(SeqCst), "stop waited for the spinner");
        s.stop.store(true, SeqCst);
        h.join().unwrap();
        let trace = buf.take();
        // It ran across the start: its first mention is as Running, on a P
        // and an M.
        let (to, p, m) = first_transition(&trace, s.id.load(SeqCst))
            .expect("the spinner has no event in the trace");
        assert_eq!(to, GoState::Running);
        assert!(p.is_some() && m.is_some(), "recorded on P {p} and M {m}");
        vec![trace]
    });
    check(&traces, "trace-nowait-spin");
}

#[test]
fn start_and_stop_return_while_a_goroutine_is_blocked_in_a_plain_read() {
    let _serial = trace_lock();
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let traces = rt.block_on(|| {
        let (mut r, h) = Reader::spawn(LIMIT);
        let reader = h.id();
        let buf = SharedBuf::default();
        gort::trace::start(buf.clone()).unwrap();
        some_traced_work();
        gort::trace::stop().unwrap();
        assert!(
            r.reading.load(SeqCst) && !r.returned.load(SeqCst),
            "the read returned though nobody wrote"
        );
        // It never reached the runtime during the trace, yet the trace
        // states it: running (the runtime sees a goroutine in a plain read
        // as running), on its P and M.
        let first = buf.take();
        let (to, p, m) =
            first_transition(&first, reader).expect("the reader is missing from the trace");
        assert_eq!(to, GoState::Running);
        assert!(p.is_some() && m.is_some(), "recorded on P {p} and M {m}");
        // Traced again: the read ends inside this trace, and its goroutine's
        // first event names it Running.
        let buf2 = SharedBuf::default();
        gort::trace::start(buf2.clone()).unwrap();
        r.release();
        assert_eq!(h.join().unwrap(), Some(42));
        gort::trace::stop().unwrap();
        vec![first, buf2.take()]
    });
    check(&traces, "trace-nowait-read");
}

#[test]
fn hundred_cycles_with_a_spinning_and_a_blocked_goroutine() {
    let _serial = trace_lock();
    // One P each for the spinner and the reader, one for this goroutine.
    let rt = gort::Runtime::builder().procs(3).build().unwrap();
    let traces = rt.block_on(|| {
        let (s, sh) = Spinner::spawn(LONG_LIMIT);
        let (mut r, rh) = Reader::spawn(LONG_LIMIT);
        let mut traces = Vec::new();
        for i in 0..100 {
            let buf = SharedBuf::default();
            gort::trace::start(buf.clone()).unwrap();
            some_traced_work();
            if i % 10 == 0 {
                s.poke();
            }
            gort::trace::stop().unwrap();
            assert!(!s.exited.load(SeqCst), "cycle {i} waited for the spinner");
            assert!(!r.returned.load(SeqCst), "cycle {i}: the read returned");
            let t = buf.take();
            // Poked or not, the spinner is in every trace, running.
            let (to, _, _) = first_transition(&t, s.id.load(SeqCst))
                .unwrap_or_else(|| panic!("cycle {i}: the spinner is missing"));
            assert_eq!(to, GoState::Running, "cycle {i}");
            traces.push(t);
        }
        s.stop.store(true, SeqCst);
        sh.join().unwrap();
        r.release();
        assert_eq!(rh.join().unwrap(), Some(42));
        traces
    });
    check(&traces, "trace-nowait-cycles");
}

#[test]
fn a_goroutine_in_a_plain_read_is_not_a_deadlock() {
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    let got = rt.block_on(|| {
        let (r, h) = Reader::spawn(LONG_LIMIT);
        let (tx, rx) = gort::chan::<u8>(0);
        gort::go(move || tx.send(h.join().unwrap().unwrap_or(0)).unwrap());
        // This goroutine blocks on `rx` while the reader's goroutine is in
        // its read: every other goroutine is blocked too, but the read may
        // end, so no deadlock is reported. A plain thread ends it.
        let mut peer = r.peer;
        let writer = std::thread::spawn(move || peer.write_all(&[7]).unwrap());
        let v = rx.recv();
        writer.join().unwrap();
        v
    });
    assert_eq!(got, Some(7));
}

#[test]
fn drop_waits_for_a_spinning_goroutine_and_a_plain_read_to_end() {
    let rt = gort::Runtime::builder().procs(3).build().unwrap();
    let (s, r) = rt.block_on(|| {
        let (s, _sh) = Spinner::spawn(LONG_LIMIT);
        let (r, _rh) = Reader::spawn(LONG_LIMIT);
        (s, r)
    });
    let (spinner, mut reader) = (s.clone(), r);
    let ending = std::thread::spawn(move || {
        spinner.stop.store(true, SeqCst);
        reader.release();
        reader
    });
    // Ms finish the goroutine they run, then exit (README, "Runtime").
    drop(rt);
    let reader = ending.join().unwrap();
    assert!(
        s.exited.load(SeqCst),
        "drop returned before the spinner ended"
    );
    assert!(
        reader.returned.load(SeqCst),
        "drop returned before the read ended"
    );
}
