//! Go's own tools as the judge of gort's tests, in one place for every
//! package of the workspace: `scripts/go-oracle` (which installs Go 1.23.9,
//! and the newer Go versions the parser reads, from PyPI on first use), Go's
//! parser and `gotracevalidate` on trace files, the `trace` and `pprof`
//! tools, `go tool trace -http` on loopback, and readers of their outputs.
//!
//! Everything here panics with a message that names what failed: it runs
//! only in tests, where a missing oracle must fail the test, never skip it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("gotools/ has a parent")
        .to_path_buf()
}

/// A command running `scripts/go-oracle` (add its arguments).
pub fn oracle_command() -> Command {
    Command::new(root().join("scripts/go-oracle"))
}

/// Runs `scripts/go-oracle ARGS` and returns its output whatever its exit
/// status, for tests that compare Go's verdict with gort's; panics if the
/// script cannot run or reports that Go itself is unavailable (exit 2).
pub fn oracle_output<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    let out = oracle_command().args(args).output().unwrap_or_else(|e| {
        panic!("cannot run scripts/go-oracle: {e} (Go 1.23.9 oracle required)")
    });
    assert!(
        out.status.code() != Some(2),
        "scripts/go-oracle could not run Go: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `scripts/go-oracle ARGS`, returning stdout; panics with a clear
/// message when the oracle is unavailable or fails.
pub fn oracle(args: &[&str]) -> Vec<u8> {
    let out = oracle_command().args(args).output().unwrap_or_else(|e| {
        panic!("cannot run scripts/go-oracle: {e} (Go 1.23.9 oracle required)")
    });
    assert!(
        out.status.success(),
        "scripts/go-oracle {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// GOROOT of the oracle's Go 1.23.9 toolchain.
pub fn goroot() -> PathBuf {
    let out = oracle(&["goroot"]);
    PathBuf::from(String::from_utf8(out).expect("UTF-8 path").trim())
}

/// Runs Go 1.23.9's parser and its stricter `gotracevalidate` on every file
/// (`scripts/go-oracle validate`); panics with Go's verdicts if any is
/// rejected, or if the oracle cannot run.
pub fn validate(files: &[PathBuf]) {
    assert!(!files.is_empty(), "no trace to validate");
    let out = oracle_command()
        .arg("validate")
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run scripts/go-oracle: {e} (Go's tools are required for this test)")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(2),
        "the Go oracle is unavailable (exit 2):\n{stderr}"
    );
    let oks = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    let rejected: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("ok ")).collect();
    assert!(
        out.status.success() && oks == files.len(),
        "Go rejected a trace (exit {:?}, {oks}/{} ok):\n{}\n{stderr}",
        out.status.code(),
        files.len(),
        rejected.join("\n"),
    );
}

/// Every Go golden and every gort example trace.
pub fn traces() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["tests/data/go1.23", "tests/data/gort"] {
        for e in std::fs::read_dir(root().join(dir)).expect("test data directory") {
            let p = e.expect("directory entry").path();
            if p.extension().is_some_and(|x| x == "trace") {
                v.push(p);
            }
        }
    }
    v.sort();
    assert!(v.len() >= 15, "test traces missing: {v:?}");
    v
}

/// The path of one of the toolchain's tools (`trace`, `pprof`), installing
/// the toolchain on first use.
pub fn go_tool(name: &str) -> PathBuf {
    let tools = goroot().join("pkg/tool");
    for e in std::fs::read_dir(&tools).expect("pkg/tool") {
        let p = e.expect("entry").path().join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("no {name} under {}", tools.display())
}

/// Runs a command, asserting success; its standard output.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The `trace` tool of another Go the project checks against (`1.25.5`,
/// `1.27.3`): built by that toolchain on first use (`go tool -n trace`).
pub fn go_trace_tool_of(version: &str) -> PathBuf {
    let out = Command::new(root().join("scripts/go-oracle"))
        .args(["go", "tool", "-n", "trace"])
        .env("GORT_GO_VERSION", version)
        .output()
        .expect("scripts/go-oracle runs");
    assert!(
        out.status.success(),
        "go-oracle (Go {version}) go tool -n trace failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = PathBuf::from(String::from_utf8(out.stdout).expect("UTF-8").trim());
    assert!(path.is_file(), "no trace tool at {}", path.display());
    path
}

/// The Go whose tools read `trace` as gort does: Go 1.23.9 for go 1.22/1.23
/// traces, 1.25.5 for go 1.25, 1.27.3 for go 1.26.
pub fn trace_tool_for(trace: &Path) -> PathBuf {
    let data = std::fs::read(trace).expect("read trace");
    match data.get(..16) {
        Some(b"go 1.25 trace\0\0\0") => go_trace_tool_of("1.25.5"),
        Some(b"go 1.26 trace\0\0\0") => go_trace_tool_of("1.27.3"),
        _ => go_tool("trace"),
    }
}

/// `go tool trace -http` on loopback, killed when dropped.
#[derive(Debug)]
pub struct TraceServer {
    child: Child,
    addr: String,
}

impl TraceServer {
    /// Starts the viewer on `trace` and waits until it listens.
    pub fn start(trace: &Path) -> TraceServer {
        TraceServer::start_tool(&go_tool("trace"), trace)
    }

    /// Starts the viewer `tool` (a `trace` binary) on `trace`.
    pub fn start_tool(tool: &Path, trace: &Path) -> TraceServer {
        let mut child = Command::new(tool)
            .arg("-http=127.0.0.1:0")
            .arg(trace)
            .env("BROWSER", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("go tool trace starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!(
                    "go tool trace exited before listening on {}",
                    trace.display()
                );
            };
            if let Some(i) = line.find("http://") {
                break line[i + 7..].trim().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        TraceServer { child, addr }
    }

    /// The body of `GET path`.
    pub fn get(&self, path: &str) -> String {
        String::from_utf8(self.get_bytes(path)).expect("UTF-8 response")
    }

    /// The body of `GET path`, as bytes.
    pub fn get_bytes(&self, path: &str) -> Vec<u8> {
        let mut s = TcpStream::connect(&self.addr).expect("connect to go tool trace");
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).expect("request");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("response");
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("HTTP response");
        let head = String::from_utf8_lossy(&resp[..split]);
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{path}: {head}"
        );
        resp[split + 4..].to_vec()
    }
}

impl Drop for TraceServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query value.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes the escapes of Go's `html/template` in text.
pub fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#43;", "+")
        .replace("&amp;", "&")
}

/// Parses Go's `time.Duration.String()` back to nanoseconds.
pub fn parse_go_duration(s: &str) -> i64 {
    let s = s.trim();
    if s == "0s" {
        return 0;
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let mut exact: i64 = 0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(n);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale: i64 = match unit {
            "ns" => 1,
            "µs" | "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => panic!("bad duration {s:?}"),
        };
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        exact += whole.parse::<i64>().expect("digits") * scale;
        if !frac.is_empty() {
            let digits = frac.len() as u32;
            let f: i64 = frac.parse().expect("digits");
            exact += f * scale / 10i64.pow(digits);
        }
        rest = tail;
    }
    if neg {
        -exact
    } else {
        exact
    }
}

/// A profile as `go tool pprof -raw` shows it, normalised: one line per
/// sample, `count delay frame|frame…` (frames as `addr func file:line`),
/// sorted.
pub fn pprof_samples(profile: &Path) -> Vec<(u64, i64, String)> {
    let raw = run(Command::new(go_tool("pprof"))
        .args(["-symbolize=none", "-raw"])
        .arg(profile));
    let raw = String::from_utf8(raw).expect("UTF-8");
    let mut section = "";
    let mut samples = Vec::new();
    let mut locs = std::collections::HashMap::<String, Vec<String>>::new();
    let mut cur = String::new();
    for line in raw.lines() {
        if line.starts_with("Samples:")
            || line.starts_with("Locations")
            || line.starts_with("Mappings")
        {
            section = if line.starts_with("Samples") {
                "s"
            } else if line.starts_with("Locations") {
                "l"
            } else {
                "m"
            };
            continue;
        }
        match section {
            "s" => {
                let Some((vals, ids)) = line.split_once(':') else {
                    continue;
                };
                let v: Vec<&str> = vals.split_whitespace().collect();
                if let [c, d] = v[..] {
                    let (Ok(c), Ok(d)) = (c.parse(), d.parse()) else {
                        continue;
                    };
                    samples.push((
                        c,
                        d,
                        ids.split_whitespace()
                            .map(str::to_owned)
                            .collect::<Vec<_>>(),
                    ));
                }
            }
            "l" => {
                let t = line.trim();
                if t.is_empty() {
                    continue;
                }
                match t.split_once(": ") {
                    Some((id, rest)) if id.bytes().all(|b| b.is_ascii_digit()) => {
                        cur = id.to_owned();
                        // The mapping pprof invents (`M=1`) is not ours or Go's.
                        locs.insert(cur.clone(), vec![rest.replacen(" M=1 ", " ", 1)]);
                    }
                    _ => locs.entry(cur.clone()).or_default().push(t.to_owned()),
                }
            }
            _ => {}
        }
    }
    let mut out: Vec<(u64, i64, String)> = samples
        .into_iter()
        .map(|(c, d, ids)| {
            let frames: Vec<String> = ids
                .iter()
                .map(|i| locs.get(i).map_or_else(|| format!("?{i}"), |l| l.join("+")))
                .collect();
            (c, d, frames.join("|"))
        })
        .collect();
    out.sort_by(|a, b| (&a.2, a.0, a.1).cmp(&(&b.2, b.0, b.1)));
    out
}
