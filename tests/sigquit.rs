//! `Builder::dump_on_sigquit(true)`: `SIGQUIT` prints Go's `SIGQUIT: quit`
//! and the goroutine dump to standard error, and the process exits with
//! status 2, as a Go program does. The test runs itself as the child (no
//! test harness: the child must own its process to be killed).

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD: &str = "GORT_SIGQUIT_CHILD";

/// The child: parks a goroutine on a channel and itself in a sleep; a third
/// goroutine says so once the dump shows both, and waits.
fn child() {
    let rt = gort::Runtime::builder()
        .procs(2)
        .dump_on_sigquit(true)
        .build()
        .expect("runtime");
    rt.block_on(|| {
        let (_tx, rx) = gort::chan::<u8>(0);
        let h = gort::go(move || rx.recv().map(|_| ()));
        let word = format!("goroutine {} [chan receive]:", h.id());
        let id = h.id();
        gort::go(move || {
            loop {
                let d = gort::goroutine_dump();
                if d.contains(&word) && d.contains("goroutine 1 [sleep]:") {
                    break;
                }
                gort::sleep(Duration::from_millis(1));
            }
            println!("parked {id}");
            gort::select! {}
        });
        gort::sleep(Duration::from_secs(60));
        println!("not killed");
    });
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let mut c = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).expect("the child's first line");
    let id: u64 = line
        .strip_prefix("parked ")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("child said {line:?}"));
    // SAFETY: kill(2) takes two integers and touches no memory of ours; the
    // PID is our child's, not reaped before the `wait` below.
    let rc = unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGQUIT) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    let mut err = String::new();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = c.wait().expect("wait for the child");
    assert_eq!(status.code(), Some(2), "status {status:?}, stderr:\n{err}");
    assert!(err.starts_with("SIGQUIT: quit\n\ngoroutine "), "{err}");
    let want =
        format!("goroutine {id} [chan receive]:\ngort::Receiver::recv(...)\n\ttests/sigquit.rs:");
    assert!(err.contains(&want), "no {want:?} in:\n{err}");
    assert!(
        err.contains("goroutine 1 [sleep]:\ngort::sleep(...)"),
        "{err}"
    );
    println!(
        "sigquit: ok (the child dumped {} goroutines)",
        err.matches("\ngoroutine ").count() + 1
    );
}
