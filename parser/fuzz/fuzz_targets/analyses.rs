//! Analyses: any bytes. No panic, no hang; the goroutine summary, its
//! breakdown, every trace profile (both accountings, pprof-encoded), the
//! Perfetto export and the trace-viewer JSON can be computed on whatever the
//! reader accepts, and a cut-short trace gives either a profile (or JSON) of
//! its complete generations or an error. The JSON, when produced, ends as a
//! JSON document ends.
#![no_main]

use gort_parser::jsontrace::write_json_trace;
use gort_parser::perfetto::PerfettoWriter;
use gort_parser::pprof::{encode, profile_trace, Accounting, ProfileKind};
use gort_parser::summary::{format_duration, Summarizer};
use gort_parser::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = Reader::from_slice(data) else {
        return;
    };
    let mut s = Summarizer::new();
    let mut pf = PerfettoWriter::new(std::io::sink());
    while let Ok(Some(ev)) = r.next_event() {
        s.event(ev);
        let _ = pf.event(ev);
    }
    let _ = pf.finish();
    let summary = s.finish();
    for g in summary.goroutines() {
        for (_, d) in g.breakdown() {
            let _ = format_duration(d);
        }
    }
    let _ = (summary.groups(), summary.total_exec_time());
    if let Ok(r) = Reader::from_slice(data) {
        if let Ok(json) = write_json_trace(r, Vec::new()) {
            assert!(json.starts_with(b"{\"displayTimeUnit\":\"ns\"\n,\"traceEvents\": ["));
            assert!(json.ends_with(b"}\n}"));
        }
    }
    for kind in ProfileKind::ALL {
        for acc in [Accounting::GoCompatible, Accounting::Accurate] {
            let Ok(r) = Reader::from_slice(data) else {
                return;
            };
            if let Ok(p) = profile_trace(r, kind, acc) {
                let _ = encode(&p);
            }
        }
    }
});
