//! Blocking OS calls inside `gort::syscall`: with one P, a goroutine blocked
//! reading a socket pair, file I/O and thread sleeps do not stop the others.
//!
//! Run: `cargo run --release --example syscalls`

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn main() {
    let rt = gort::Runtime::builder()
        .procs(1)
        .build()
        .expect("start the runtime");
    let start = Instant::now();
    let (echoed, file_bytes, ticks) = rt.block_on(|| {
        let (mut reader, mut writer) = UnixStream::pair().expect("socket pair");
        // Blocks in read(2) until the writer goroutine sends.
        let rd = gort::go(move || {
            let mut buf = [0u8; 5];
            gort::syscall(|| reader.read_exact(&mut buf)).expect("read");
            buf
        });
        let wr = gort::go(move || {
            gort::syscall(|| std::thread::sleep(Duration::from_millis(100)));
            gort::syscall(|| writer.write_all(b"hello")).expect("write");
        });
        // File I/O in another goroutine.
        let io = gort::go(|| {
            let path =
                std::env::temp_dir().join(format!("gort-syscalls-{}.txt", std::process::id()));
            let data = "gort ".repeat(10_000);
            gort::syscall(|| std::fs::write(&path, &data)).expect("write file");
            let back = gort::syscall(|| std::fs::read_to_string(&path)).expect("read file");
            gort::syscall(|| std::fs::remove_file(&path)).expect("remove file");
            assert_eq!(back, data);
            back.len()
        });
        // Meanwhile this goroutine keeps getting the one P.
        let mut ticks = 0;
        while !(rd.is_finished() && wr.is_finished() && io.is_finished()) {
            ticks += 1;
            gort::sleep(Duration::from_millis(1));
        }
        wr.join().unwrap();
        (rd.join().unwrap(), io.join().unwrap(), ticks)
    });
    println!(
        "echoed {:?} after {:.2?}",
        String::from_utf8_lossy(&echoed),
        start.elapsed()
    );
    println!(
        "wrote and read back {file_bytes} bytes; the main goroutine ticked {ticks} times meanwhile"
    );
}
