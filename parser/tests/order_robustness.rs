//! No input makes the ordered reader, the event views, the validator or the
//! statistics panic: Go's FuzzReader corpus, and golden traces with bytes
//! flipped, inserted, removed and cut (a fixed pseudo-random sequence, so a
//! failure is reproducible).

mod go_support;

use go_support::{goldens, goroot};
use gort_parser::raw::unquote;
use gort_parser::{Reader, Stats, Validator};

/// Reads everything `data` yields, exercising every view of every event.
fn exercise(data: &[u8]) -> usize {
    let Ok(r) = Reader::from_slice(data) else {
        return 0;
    };
    let mut v = Validator::new();
    let mut st = Stats::new();
    let mut n = 0;
    let mut text = Vec::new();
    for ev in r {
        let Ok(ev) = ev else { break };
        text.clear();
        ev.write_go_text(&mut text);
        let _ = (ev.metric(), ev.label(), ev.range(), ev.task(), ev.region());
        let _ = (ev.log(), ev.state_transition(), ev.experimental());
        let _ = ev.range_attributes();
        let _ = ev.experimental_data().count();
        if let Some(s) = ev.stack() {
            let _ = s.frames().count();
        }
        let _ = v.event(&ev);
        st.event(&ev);
        n += 1;
    }
    st.finish();
    // The streaming reader must agree with the slice reader on every input.
    let streamed = Reader::new(data)
        .map(|r| r.take_while(|e| e.is_ok()).count())
        .unwrap_or(0);
    assert_eq!(streamed, n, "stream and slice readers disagree");
    n
}

#[test]
fn go_fuzz_corpus_does_not_panic() {
    let dir = goroot().join("src/internal/trace/testdata/fuzz/FuzzReader");
    let mut count = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let text = std::fs::read(e.expect("entry").path()).expect("read");
        let Some(start) = text.windows(7).position(|w| w == b"[]byte(") else {
            continue;
        };
        let body = &text[start + 7..];
        let end = body
            .iter()
            .rposition(|&b| b == b')')
            .expect("closing paren");
        let data = unquote(&body[..end]).expect("Go string literal");
        exercise(&data);
        count += 1;
    }
    assert!(
        count >= 10,
        "expected Go's FuzzReader corpus, found {count} entries"
    );
}

#[test]
fn mutated_goldens_do_not_panic() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    for case in [
        "iterpull_basic",
        "syscalls",
        "annotations",
        "gc_alloc",
        "genstress",
    ] {
        let base = std::fs::read(goldens().join(format!("{case}.trace"))).expect("trace");
        assert!(exercise(&base) > 0);
        for _ in 0..60 {
            let mut d = base.clone();
            for _ in 0..1 + rnd(4) {
                let i = 16 + rnd(d.len() - 16);
                match rnd(4) {
                    0 => d[i] ^= 1 << rnd(8),
                    1 => d[i] = rnd(256) as u8,
                    2 => d.insert(i, rnd(256) as u8),
                    _ => {
                        d.remove(i);
                    }
                }
            }
            exercise(&d);
            let cut = 16 + rnd(d.len() - 16);
            exercise(&d[..cut]);
        }
    }
}
