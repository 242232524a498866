//! Go quoting against Go itself: the printable-rune table and `strconv.Quote`
//! of assorted byte strings, both produced by the installed Go toolchain.

mod raw_support;

use std::fmt::Write as _;

use gort_parser::raw::{is_go_printable, quote, unquote};

/// Runs a Go `main` package given as source; returns its standard output.
fn go_run(name: &str, src: &str) -> String {
    let dir = std::env::temp_dir().join(format!("gort-raw-quote-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("main.go");
    std::fs::write(&file, src).unwrap();
    let (ok, out, err) = raw_support::oracle(&["go".as_ref(), "run".as_ref(), file.as_os_str()]);
    assert!(ok, "go run failed: {err}");
    std::fs::remove_dir_all(&dir).ok();
    String::from_utf8(out).unwrap()
}

#[test]
fn printable_runes_match_go_unicode_tables() {
    let go = go_run(
        "isprint",
        r#"package main

import (
	"fmt"
	"strconv"
	"unicode"
)

func main() {
	lo := rune(-1)
	for r := rune(0); r <= unicode.MaxRune+1; r++ {
		p := r <= unicode.MaxRune && strconv.IsPrint(r)
		if p && lo < 0 {
			lo = r
		}
		if !p && lo >= 0 {
			fmt.Printf("%x-%x\n", lo, r-1)
			lo = -1
		}
	}
}
"#,
    );
    let mut ours = String::new();
    let mut lo: Option<u32> = None;
    for r in 0..=0x11_0000u32 {
        let p = char::from_u32(r).is_some_and(is_go_printable);
        match (p, lo) {
            (true, None) => lo = Some(r),
            (false, Some(l)) => {
                writeln!(ours, "{l:x}-{:x}", r - 1).unwrap();
                lo = None;
            }
            _ => {}
        }
    }
    assert_eq!(ours.lines().count(), go.lines().count());
    assert_eq!(ours, go);
}

#[test]
fn quote_matches_go_strconv_quote() {
    // A deterministic mix: every single byte, pairs around UTF-8 edges, and
    // pseudo-random strings biased towards multi-byte sequences.
    let mut inputs: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    for c in [
        0x7f, 0x80, 0xa0, 0xad, 0x2028, 0xfeff, 0xfffd, 0xe0001, 0x10ffff, 0x1f600,
    ] {
        let ch = char::from_u32(c).unwrap();
        inputs.push(ch.to_string().into_bytes());
    }
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 12) as usize;
        let mut s = Vec::new();
        for i in 0..len {
            let r = x.rotate_left(i as u32 * 5);
            match r % 4 {
                0 => s.push((r >> 8) as u8),
                1 => s.push(0x80 | ((r >> 8) as u8 & 0x3f)),
                _ => {
                    let c = ((r >> 8) % 0x3_0000) as u32;
                    if let Some(ch) = char::from_u32(c) {
                        s.extend_from_slice(ch.to_string().as_bytes());
                    }
                }
            }
        }
        inputs.push(s);
    }
    let hex: Vec<String> = inputs
        .iter()
        .map(|s| s.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let src = format!(
        r#"package main

import (
	"encoding/hex"
	"fmt"
	"strconv"
)

var in = []string{{{}}}

func main() {{
	for _, h := range in {{
		b, _ := hex.DecodeString(h)
		fmt.Println(strconv.Quote(string(b)))
	}}
}}
"#,
        hex.iter()
            .map(|h| format!("{h:?}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let go = go_run("quote", &src);
    let go_lines: Vec<&str> = go.lines().collect();
    assert_eq!(go_lines.len(), inputs.len());
    for (input, want) in inputs.iter().zip(go_lines) {
        assert_eq!(quote(input), want, "{input:x?}");
        // Unquote gives back the bytes when they were valid UTF-8 or escaped.
        let back = unquote(want.as_bytes()).unwrap();
        assert_eq!(&back, input, "{want}");
    }
}
