//! Smoke: a traced pull run validates with Go's parser.
#[test]
fn traced_pull_is_valid() {
    let path = std::env::temp_dir().join("gort_trace_smoke.trace");
    let p2 = path.clone();
    let rt = gort::Runtime::builder().procs(2).build().unwrap();
    rt.block_on(move || {
        gort::trace::start(std::fs::File::create(&p2).unwrap()).unwrap();
        let p = gort::iter::pull(|y: &mut dyn FnMut(u32) -> bool| {
            for i in 0..100 {
                if !y(i) {
                    return;
                }
            }
        });
        assert_eq!(p.count(), 100);
        let (tx, rx) = gort::chan::<u32>(0);
        let h = gort::go(move || {
            for i in 0..100 {
                tx.send(i).unwrap()
            }
        });
        assert_eq!(rx.iter().count(), 100);
        h.join().unwrap();
        gort::sleep(std::time::Duration::from_millis(5));
        gort::trace::stop().unwrap();
    });
    let out = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/go-oracle"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
