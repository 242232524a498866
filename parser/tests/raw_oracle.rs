//! The raw reader on damaged traces, against Go's `go tool trace -d=2`.
//!
//! Truncations and byte changes of a real trace are fed to both readers; the
//! printed events must be identical, both must agree on success, and on
//! failure Go's message must end with ours.

mod raw_support;

use std::path::Path;

fn check(name: &str, bin: &[u8], dir: &Path) {
    let file = dir.join(format!("{name}.trace"));
    std::fs::write(&file, bin).unwrap();
    let (go_ok, go_out, go_err) = raw_support::oracle(&["dump2".as_ref(), file.as_os_str()]);
    let (ours, err) = raw_support::our_d2(bin);
    if ours != go_out {
        let at = ours
            .split(|&b| b == b'\n')
            .zip(go_out.split(|&b| b == b'\n'))
            .position(|(a, b)| a != b);
        panic!(
            "{name}: output differs from Go's (first differing line {at:?}; ours {} bytes, Go {} bytes)",
            ours.len(),
            go_out.len()
        );
    }
    match err {
        None => assert!(go_ok, "{name}: Go failed ({go_err}) but we succeeded"),
        Some(e) => {
            assert!(!go_ok, "{name}: we failed ({e}) but Go succeeded");
            let go_msg = go_err.trim_end();
            assert!(
                go_msg.ends_with(&e.message()),
                "{name}: Go says {go_msg:?}, we say {:?}",
                e.to_string()
            );
        }
    }
}

#[test]
fn damaged_traces_read_as_go_reads_them() {
    let src = raw_support::workspace().join("tests/data/go1.23/iterpull_early.trace");
    let bin = std::fs::read(&src).unwrap();
    let dir = std::env::temp_dir().join(format!("gort-raw-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // Truncations: every 23rd length, plus around the header and first events.
    let mut cuts: Vec<usize> = (0..bin.len()).step_by(23).collect();
    cuts.extend(14..40);
    for n in cuts {
        check(&format!("cut{n}"), &bin[..n], &dir);
    }
    // One byte replaced by a value that stresses the decoder: an undefined
    // type, an invalid type, a continuation byte, zero, 0xff.
    for (i, pos) in (16..bin.len()).step_by(97).enumerate() {
        for (j, v) in [0x3c, 0x89, 0x80, 0x00, 0xff].into_iter().enumerate() {
            let mut b = bin.clone();
            b[pos] = v;
            check(&format!("set{i}_{j}"), &b, &dir);
        }
    }
    // Header damage and over-long varints.
    let mut hdr = bin.clone();
    hdr[5] = b'2';
    hdr[6] = b'1';
    check("hdr21", &hdr, &dir);
    check("hdrjunk", b"not a trace at all", &dir);
    let mut long = bin[..16].to_vec();
    long.extend_from_slice(&[
        8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
    ]);
    check("overflow", &long, &dir);
    std::fs::remove_dir_all(&dir).ok();
}
