//! Damaged traces against Go 1.23.9's `go tool trace -d=1`: for golden traces
//! cut short or with bytes changed, `gort-trace dump` prints exactly Go's
//! standard output, fails exactly when Go fails, and its error (without the
//! context prefix) starts with Go's first error line.

#[path = "../../parser/tests/go_support/mod.rs"]
mod go_support;

use std::process::Command;

use go_support::goldens;

struct Outcome {
    stdout: Vec<u8>,
    ok: bool,
    err: String,
}

fn run(cmd: &mut Command) -> Outcome {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (scripts/go-oracle needs Go 1.23.9): {e}"));
    Outcome {
        stdout: out.stdout,
        ok: out.status.success(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Go's message: our error without `gort-trace: ` and the context prefix.
fn bare(ours: &str) -> &str {
    let s = ours.trim_start_matches("gort-trace: ");
    let first = s.lines().next().unwrap_or("");
    let ctx_words = ["offset ", "gen ", "M ", "event "];
    match first.find(": ") {
        Some(i) if ctx_words.iter().any(|w| first.starts_with(w)) => &s[i + 2..],
        _ => s,
    }
}

#[test]
fn damaged_traces_fail_like_go() {
    let base = std::fs::read(goldens().join("iterpull_early.trace")).expect("trace");
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in [17, 40, 200, 1000, 1500, 2500, 3000, base.len() - 1] {
        cases.push((format!("cut at {cut}"), base[..cut].to_vec()));
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for k in 0..12 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = 16 + (x % (base.len() as u64 - 16)) as usize;
        let mut d = base.clone();
        d[i] ^= 1 << (k % 8);
        cases.push((format!("bit {} of byte {i}", k % 8), d));
    }
    let dir = std::env::temp_dir().join(format!("gort-p2-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut failures = Vec::new();
    let mut go_failed = 0;
    for (i, (name, data)) in cases.iter().enumerate() {
        let file = dir.join(format!("{i}.trace"));
        std::fs::write(&file, data).expect("write");
        let ours = run(Command::new(env!("CARGO_BIN_EXE_gort-trace"))
            .arg("dump")
            .arg(&file));
        let go = run(gort_gotools::oracle_command().arg("dump1").arg(&file));
        if go.err.contains("go-oracle:") {
            panic!("Go 1.23.9 oracle unavailable: {}", go.err);
        }
        if ours.stdout != go.stdout {
            failures.push(format!("{name}: standard output differs from Go's"));
        }
        if ours.ok != go.ok {
            failures.push(format!(
                "{name}: ok={} but Go ok={} ({})",
                ours.ok, go.ok, go.err
            ));
        } else if !go.ok {
            go_failed += 1;
            let want = go.err.lines().next().unwrap_or("");
            if !bare(&ours.err).starts_with(want) {
                failures.push(format!("{name}: error {:?}, Go's {want:?}", ours.err));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        go_failed >= 8,
        "only {go_failed} damaged traces were rejected"
    );
}
