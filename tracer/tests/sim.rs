//! The tracer driven by a simulated multi-threaded runtime: many start/stop
//! cycles over several generations, every trace checked by Go's own parser
//! and validator, and event counts checked against what the simulation wrote.

// The writer only; and its public API takes loom's `Arc` under `--cfg loom`.
#![cfg(all(feature = "writer", not(loom)))]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::decode::decode;
use common::oracle::validate;
use common::sim::Sim;
use gort_tracer::wire::EventType as E;
use gort_tracer::Config;

const COUNTED: &[E] = &[
    E::ProcStart,
    E::ProcStop,
    E::ProcSteal,
    E::GoCreate,
    E::GoCreateBlocked,
    E::GoStart,
    E::GoStop,
    E::GoBlock,
    E::GoUnblock,
    E::GoDestroy,
    E::GoSwitch,
    E::GoSwitchDestroy,
    E::GoSyscallBegin,
    E::GoSyscallEnd,
    E::GoSyscallEndBlocked,
    E::STWBegin,
    E::STWEnd,
    E::UserTaskBegin,
    E::UserTaskEnd,
    E::UserRegionBegin,
    E::UserRegionEnd,
    E::UserLog,
    E::GoLabel,
];

fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn twenty_sessions_with_short_generations_validate_and_match_counts() {
    let sim = Sim::new(3, 12);
    let dir = out_dir("sim-sessions");
    let mut files = Vec::new();
    let mut totals = [0u64; 256];
    for i in 0..20 {
        let path = dir.join(format!("session-{i:02}.trace"));
        let cfg = Config::default()
            .period(Duration::from_millis(15))
            // Small buffers in some sessions so batches fill up mid-generation.
            .buffer_size(if i % 2 == 0 { 1024 } else { 64 << 10 })
            .stacks(i % 5 != 4);
        let s = sim.session(&path, cfg, Duration::from_millis(60 + 10 * (i % 3)));
        let stats = s.stats.unwrap_or_else(|e| panic!("session {i}: {e}"));
        let data = std::fs::read(&path).expect("read trace");
        let sum = decode(&data).unwrap_or_else(|e| panic!("session {i}: {e}"));
        assert_eq!(stats.bytes, data.len() as u64, "session {i}: bytes");
        assert_eq!(stats.events, sum.total_events(), "session {i}: events");
        assert_eq!(stats.batches, sum.batches, "session {i}: batches");
        assert_eq!(
            stats.generations,
            sum.gens.len() as u64,
            "session {i}: generations"
        );
        assert!(
            sum.gens.len() >= 2,
            "session {i}: {} generations",
            sum.gens.len()
        );
        assert!(
            sum.threads.len() >= 3,
            "session {i}: threads {:?}",
            sum.threads
        );
        for &t in COUNTED {
            assert_eq!(
                sum.count(t),
                s.counts.get(t),
                "session {i}: {} events",
                t.name()
            );
            totals[t as usize] += sum.count(t);
        }
        if i % 5 == 4 {
            assert_eq!(sum.stacks, 0, "session {i}: stacks off");
        } else {
            assert!(sum.stacks > 0, "session {i}: stacks on");
        }
        files.push(path);
    }
    sim.shutdown();
    for t in [
        E::GoSwitch,
        E::GoSwitchDestroy,
        E::GoCreateBlocked,
        E::ProcSteal,
        E::GoSyscallEndBlocked,
        E::GoUnblock,
    ] {
        assert!(totals[t as usize] > 0, "no {} in 20 sessions", t.name());
    }
    validate(&files);
}
