//! Tasks, regions and logs (Go's `runtime/trace` annotations) in a traced
//! gort program: a parent task with a child task per request, regions, and
//! logs; written to `annotations.trace` (or the path given).
//!
//! Run: `cargo run --release --example annotations [-- OUT.trace]`

use std::time::Duration;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "annotations.trace".into());
    let out = std::fs::File::create(&path).unwrap_or_else(|e| panic!("cannot create {path}: {e}"));
    gort::run(move || {
        gort::trace::start(std::io::BufWriter::new(out)).expect("start tracing");
        let parent = gort::trace::new_task("serve");
        let wg = gort::sync::WaitGroup::new();
        for req in 0..4 {
            let task = parent.new_child("request");
            let wg2 = wg.clone();
            wg.add(1);
            gort::go(move || {
                task.log("id", &req.to_string());
                task.with_region("decode", || gort::sleep(Duration::from_millis(1)));
                let r = task.start_region("handle");
                gort::yield_now();
                r.end();
                wg2.done();
            });
        }
        wg.wait();
        gort::trace::with_region("summary", || {
            gort::trace::log(
                "note",
                "quote \" backslash \\ newline \n tab \t and ünïcödé",
            )
        });
        drop(parent);
        let stats = gort::trace::stop().expect("write the trace");
        println!(
            "trace: {path}: {} events, {} bytes",
            stats.events, stats.bytes
        );
    });
}
