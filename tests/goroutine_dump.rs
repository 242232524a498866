//! Goroutine dumps: every goroutine parked in each blocking operation shows
//! Go's dump word for the wait, the gort call it waits in at the line of the
//! test that called it, and `created by` with its start line and creator;
//! the deadlock panic carries the dump of the stuck goroutines.

mod runtime_support;

use gort::sync::{Cond, Mutex, RwMutex, WaitGroup};
use runtime_support::{rt, timed};
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One expected paragraph: goroutine ID, header word, frame function, line.
struct Want {
    id: u64,
    word: &'static str,
    op: &'static str,
    line: u32,
    created: u32,
}

/// The paragraph of goroutine `id` in `dump`.
fn paragraph(dump: &str, id: u64) -> Option<&str> {
    let head = format!("goroutine {id} [");
    dump.split("\n\n").find(|p| p.starts_with(&head))
}

/// Waits (polling the dump) until every goroutine of `want` shows its wait,
/// then returns the dump.
fn dump_when_parked(want: &[Want]) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let dump = gort::goroutine_dump();
        let parked = want.iter().all(|w| {
            paragraph(&dump, w.id)
                .is_some_and(|p| p.starts_with(&format!("goroutine {} [{}", w.id, w.word)))
        });
        if parked || Instant::now() > until {
            return dump;
        }
        gort::sleep(Duration::from_millis(1));
    }
}

fn scenario() {
    let me = gort::goroutine_id().expect("in a goroutine");
    let file = file!();
    let mut want = Vec::new();
    let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
    macro_rules! expect {
        ($h:expr, $word:expr, $op:expr, $line:expr) => {
            expect!($h, $word, $op, $line, $line)
        };
        ($h:expr, $word:expr, $op:expr, $line:expr, $created:expr) => {{
            let h = $h;
            want.push(Want {
                id: h.id(),
                word: $word,
                op: $op,
                line: $line,
                created: $created,
            });
            keep.push(Box::new(h));
        }};
    }

    let (_tx, rx) = gort::chan::<u8>(0);
    let l = line!() + 1;
    let h = gort::go(move || rx.recv().is_some());
    expect!(h, "chan receive", "gort::Receiver::recv", l);

    let (tx, rx2) = gort::chan::<u8>(0);
    let l = line!() + 1;
    let h = gort::go(move || tx.send(1).is_ok());
    expect!(h, "chan send", "gort::Sender::send", l);
    keep.push(Box::new(rx2));

    let (_atx, arx) = gort::chan::<u8>(0);
    let (_btx, brx) = gort::chan::<u8>(0);
    let l = line!() + 2;
    let h = gort::go(move || {
        gort::select! { recv(arx) -> _ => {}, recv(brx) -> _ => {} }
    });
    expect!(h, "select", "gort::select!", l, l - 1);

    let l = line!() + 1;
    let h = gort::go(|| gort::select! {});
    expect!(h, "select (no cases)", "gort::select!", l);

    let l = line!() + 1;
    let h = gort::go(|| gort::sleep(Duration::from_secs(3600)));
    expect!(h, "sleep", "gort::sleep", l);

    let m = Arc::new(Mutex::new(()));
    let held = m.lock();
    let m2 = m.clone();
    let l = line!() + 1;
    let h = gort::go(move || drop(m2.lock()));
    expect!(h, "sync.Mutex.Lock", "gort::sync::Mutex::lock", l);

    let rw = Arc::new(RwMutex::new(()));
    let wheld = rw.write();
    let r2 = rw.clone();
    let l = line!() + 1;
    let h = gort::go(move || drop(r2.read()));
    expect!(h, "sync.RWMutex.RLock", "gort::sync::RwMutex::read", l);

    let rw_b = Arc::new(RwMutex::new(()));
    let rheld = rw_b.read();
    let w2 = rw_b.clone();
    let l = line!() + 1;
    let h = gort::go(move || drop(w2.write()));
    expect!(h, "sync.RWMutex.Lock", "gort::sync::RwMutex::write", l);

    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    let wg2 = wg.clone();
    let l = line!() + 1;
    let h = gort::go(move || wg2.wait());
    expect!(h, "sync.WaitGroup.Wait", "gort::sync::WaitGroup::wait", l);

    let pair = Arc::new((Mutex::new(false), Cond::new()));
    let p2 = pair.clone();
    let l = line!() + 1;
    let h = gort::go(move || drop(p2.1.wait_while(p2.0.lock(), |ready| !*ready)));
    expect!(h, "sync.Cond.Wait", "gort::sync::Cond::wait", l);

    let (_never, nrx) = gort::chan::<u8>(0);
    let sleeper = gort::go(move || nrx.recv().is_some());
    let sid = sleeper.id();
    let l = line!() + 1;
    let h = gort::go(move || drop(sleeper.join()));
    expect!(h, "join", "gort::JoinHandle::join", l);

    let listener = gort::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = gort::net::TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    let l = line!() + 1;
    let h = gort::go(move || drop(server.read(&mut [0u8; 8])));
    expect!(h, "IO wait", "gort::net (socket wait)", l);
    keep.push(Box::new(client));

    let dump = dump_when_parked(&want);
    // The caller comes first, running, at the line that asked.
    assert!(
        dump.starts_with(&format!(
            "goroutine {me} [running]:\ngort::goroutine_dump(...)\n\t{file}:"
        )),
        "{dump}"
    );
    for w in &want {
        let p = paragraph(&dump, w.id).unwrap_or_else(|| panic!("no goroutine {}:\n{dump}", w.id));
        let expected = format!(
            "goroutine {} [{}]:\n{}(...)\n\t{file}:{}\ncreated by ",
            w.id, w.word, w.op, w.line
        );
        assert!(p.starts_with(&expected), "want {expected:?}, got:\n{p}");
        let created = format!(" in goroutine {me}\n\t{file}:{}", w.created);
        assert!(p.contains(&created), "want {created:?} in:\n{p}");
    }
    // The joined goroutine, parked on its channel, is there too.
    assert!(
        paragraph(&dump, sid).is_some_and(|p| p.contains("[chan receive]")),
        "{dump}"
    );
    drop((held, wheld, rheld));
    drop(keep);
}

#[test]
fn dumps_show_each_wait_with_go_words_and_call_sites() {
    for procs in [1, 2] {
        timed(move || rt(procs).block_on(scenario));
    }
}

/// From a plain thread, `goroutine_dump` covers every runtime, and the
/// runtime's own method its goroutines.
#[test]
fn dumps_from_outside_a_goroutine() {
    timed(|| {
        let rt = Arc::new(rt(2));
        let (idtx, idrx) = std::sync::mpsc::channel();
        let (tx, rx) = gort::chan::<u8>(0);
        let rt2 = rt.clone();
        let th = std::thread::spawn(move || {
            rt2.block_on(move || {
                idtx.send(gort::goroutine_id().unwrap()).unwrap();
                rx.recv()
            })
        });
        let id = idrx.recv().unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        let word = format!("goroutine {id} [chan receive]:");
        while !rt.goroutine_dump().contains(&word) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            rt.goroutine_dump().contains(&word),
            "{}",
            rt.goroutine_dump()
        );
        assert!(
            gort::goroutine_dump().contains(&word),
            "{}",
            gort::goroutine_dump()
        );
        tx.send(7).unwrap();
        assert_eq!(th.join().unwrap(), Some(7));
        assert!(!rt.goroutine_dump().contains(&format!("goroutine {id} [")));
    });
}

/// Go prints the goroutines after `all goroutines are asleep - deadlock!`;
/// so does the panic.
#[test]
fn the_deadlock_panic_carries_the_dump() {
    let err = timed(|| {
        std::panic::catch_unwind(|| {
            rt(2).block_on(|| {
                let (_tx, rx) = gort::chan::<u8>(0);
                let (_tx2, rx2) = gort::chan::<u8>(0);
                gort::go(move || rx2.recv().is_some());
                rx.recv()
            })
        })
        .expect_err("a deadlock")
    });
    let text = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.starts_with("all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan receive]:\ngort::Receiver::recv(...)\n"), "{text}");
    assert!(text.contains("\n\ngoroutine 2 [chan receive]:\n"), "{text}");
}
