//! Conformance on real Go 1.23.9 traces: our `-d=1` dump of every
//! `tests/data/go1.23/*.trace` equals Go's `.d1.txt` (byte for byte for the
//! small cases; for `large`, modulo Go's own run-to-run reordering of events
//! with tied times), and every trace passes the validator.

mod go_support;

use std::fs;
use std::process::Command;

use go_support::{dump, goldens, parse_and_validate, same_modulo_ties};
use gort_parser::{Event, Reader};

fn cases() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(goldens())
        .expect("tests/data/go1.23 exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".trace").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 12,
        "expected the 12 golden traces, found {names:?}"
    );
    names
}

#[test]
fn small_goldens_match_go_exactly() {
    for case in cases().iter().filter(|c| *c != "large") {
        let data = fs::read(goldens().join(format!("{case}.trace"))).expect("trace");
        let want = fs::read_to_string(goldens().join(format!("{case}.d1.txt"))).expect("d1");
        let (got, err) = dump(&data);
        assert_eq!(err, None, "{case}: unexpected error");
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(want.lines().count()));
            panic!(
                "{case}: dump differs from Go's at line {}:\n ours: {:?}\n   go: {:?}",
                line + 1,
                got.lines().nth(line),
                want.lines().nth(line)
            );
        }
    }
}

#[test]
fn large_golden_matches_go_modulo_ties() {
    let data = fs::read(goldens().join("large.trace")).expect("large.trace");
    let xz = Command::new("xz")
        .arg("-dc")
        .arg(goldens().join("large.d1.txt.xz"))
        .output()
        .expect("xz is installed");
    assert!(xz.status.success(), "xz -dc failed");
    let want = String::from_utf8(xz.stdout).expect("UTF-8 dump");
    let (got, err) = dump(&data);
    assert_eq!(err, None);
    assert_eq!(got.len(), want.len(), "dump sizes differ");
    if let Err(d) = same_modulo_ties(&got, &want) {
        panic!("large: {d}");
    }
}

#[test]
fn every_golden_passes_the_validator() {
    for case in cases() {
        let data = fs::read(goldens().join(format!("{case}.trace"))).expect("trace");
        if let Err(e) = parse_and_validate(&data) {
            panic!("{case}: {e}");
        }
    }
}

#[test]
fn streaming_reader_matches_the_slice_reader() {
    for case in ["genstress", "gc_alloc", "iterpull_many_p4"] {
        let path = goldens().join(format!("{case}.trace"));
        let data = fs::read(&path).expect("trace");
        let a: Vec<String> = Reader::from_slice(&data)
            .expect("header")
            .map(|e| e.expect("event").to_string())
            .collect();
        let file = fs::File::open(&path).expect("open");
        let b: Vec<String> = Reader::new(file)
            .expect("header")
            .map(|e| e.expect("event").to_string())
            .collect();
        assert_eq!(a, b, "{case}");
    }
}

#[test]
fn events_outlive_their_generation() {
    // Keep one event of every generation of a many-generation trace and
    // print them after the reader is gone.
    let data = fs::read(goldens().join("genstress.trace")).expect("trace");
    let kept: Vec<Event<'_>> = Reader::from_slice(&data)
        .expect("header")
        .map(|e| e.expect("event"))
        .filter(|e| e.kind() == gort_parser::EventKind::Sync)
        .collect();
    assert_eq!(kept.len(), 44);
    assert!(kept.windows(2).all(|w| w[0].time() < w[1].time()));
}

#[test]
fn tie_comparison_accepts_swaps_and_nothing_else() {
    let go = "M=1 P=0 G=1 Sync Time=10\nM=2 P=0 G=1 Sync Time=11\nM=3 P=0 G=1 Sync Time=20\n";
    let swapped = "M=2 P=0 G=1 Sync Time=10\nM=1 P=0 G=1 Sync Time=11\nM=3 P=0 G=1 Sync Time=20\n";
    assert!(same_modulo_ties(swapped, go).is_ok());
    let far = "M=1 P=0 G=1 Sync Time=10\nM=3 P=0 G=1 Sync Time=11\nM=2 P=0 G=1 Sync Time=20\n";
    assert!(same_modulo_ties(far, go).is_err());
    let changed = "M=1 P=0 G=1 Sync Time=10\nM=2 P=0 G=2 Sync Time=11\nM=3 P=0 G=1 Sync Time=20\n";
    assert!(same_modulo_ties(changed, go).is_err());
}

#[test]
fn stats_count_switches_and_account_for_time() {
    for case in ["iterpull_basic", "iterpull_many_p4", "sched_mix_p4"] {
        let data = fs::read(goldens().join(format!("{case}.trace"))).expect("trace");
        let d2 = fs::read_to_string(goldens().join(format!("{case}.d2.txt"))).expect("d2");
        let wire_switches = d2
            .lines()
            .filter(|l| l.starts_with("GoSwitch ") || l.starts_with("GoSwitchDestroy "))
            .count() as u64;
        let mut st = gort_parser::Stats::new();
        for ev in Reader::from_slice(&data).expect("header") {
            st.event(&ev.expect("event"));
        }
        st.finish();
        assert_eq!(st.switches, wire_switches, "{case}");
        let outs: u64 = st.goroutines.values().map(|g| g.switches_out).sum();
        let ins: u64 = st.goroutines.values().map(|g| g.switches_in).sum();
        assert_eq!((outs, ins), (wire_switches, wire_switches), "{case}");
        assert_eq!(st.by_type.values().sum::<u64>(), st.events, "{case}");
        let span = st.last - st.first.expect("events");
        for (id, g) in &st.goroutines {
            let t = g.running + g.runnable + g.syscall + g.waiting_total() + g.undetermined;
            assert!(
                t <= span,
                "{case}: goroutine {id:?} has {t} ns > span {span}"
            );
        }
    }
}
