//! Writes seed corpora for the fuzz targets.
//!
//! `seed GOROOT OUT_DIR [GOROOT...]` fills `OUT_DIR/raw_reader` with the
//! golden traces of every format (go 1.23, and go 1.25/1.26 with the traces
//! of Go's test programs; the large one cut to its first 64 KiB), the
//! `FuzzReader` corpus and the parser test files of every GOROOT given (Go
//! 1.23 first, then the newer ones) in binary form, and `OUT_DIR/text` with
//! the same test files' text traces and the text form of the small golden
//! traces.

use std::path::{Path, PathBuf};

use gort_parser::raw::binary_to_text;
use gort_parser::testfile;

fn files(dir: &Path, ext: Option<&str>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .collect();
    v.sort();
    v
}

fn put(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, goroot, out, more @ ..] = args.as_slice() else {
        eprintln!("usage: seed GOROOT OUT_DIR [GOROOT...]");
        std::process::exit(2);
    };
    let raw = Path::new(out).join("raw_reader");
    let text = Path::new(out).join("text");
    std::fs::create_dir_all(&raw).expect("create corpus dir");
    std::fs::create_dir_all(&text).expect("create corpus dir");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut goldens = files(&here.join("../../tests/data/go1.23"), Some("trace"));
    goldens.extend(files(&here.join("../tests/data/go1.25-1.26"), Some("trace")));
    goldens.extend(files(&here.join("../tests/data/testprog"), Some("trace")));

    for p in goldens {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let bin = std::fs::read(&p).expect("read golden");
        put(
            &raw,
            &format!("golden-{name}"),
            &bin[..bin.len().min(64 << 10)],
        );
        if bin.len() <= 16 << 10 {
            put(
                &text,
                &format!("golden-{name}"),
                binary_to_text(&bin).expect("golden").as_bytes(),
            );
        }
    }
    for (k, goroot) in std::iter::once(goroot).chain(more).enumerate() {
        // Go 1.23's names stay as they were; newer Gos' get a prefix.
        let tag = if k == 0 { String::new() } else { format!("g{k}-") };
        let goroot = Path::new(goroot);
        let corpus = goroot.join("src/internal/trace/testdata/fuzz/FuzzReader");
        if corpus.is_dir() {
            for p in files(&corpus, None) {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let values = testfile::go_fuzz_values(&std::fs::read(&p).expect("read corpus"));
                for (i, v) in values.expect("Go corpus file").iter().enumerate() {
                    put(&raw, &format!("{tag}go-{name}-{i}"), v);
                }
            }
        }
        let tests = goroot.join("src/internal/trace/testdata/tests");
        for p in files(&tests, Some("test")) {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let src = std::fs::read(&p).expect("read test file");
            // A newer Go's test files may use what this reader does not take.
            let Ok(t) = testfile::parse(&src) else {
                continue;
            };
            put(&raw, &format!("{tag}test-{name}"), &t.trace);
            if let Some((_, body)) = testfile::txtar_files(&src).get(1) {
                put(&text, &format!("{tag}test-{name}"), body);
            }
            put(&text, &format!("{tag}testfile-{name}"), &src);
        }
    }
    println!("seeded {} and {}", raw.display(), text.display());
}
