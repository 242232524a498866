//! Sets `cfg(gort_asan)` for the CLI's own targets when they are built with
//! AddressSanitizer (`-Zsanitizer=address`, as `scripts/asan` does), as the
//! gort package's and the runtime's build scripts do. The memory-bound test
//! (`tests/stream_memory.rs`) uses it: under ASan a process's resident set
//! holds ASan's shadow memory and its quarantine of freed blocks.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gort_asan)");
    println!("cargo::rerun-if-changed=build.rs");
    let sanitize = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitize.split(',').any(|s| s.trim() == "address") {
        println!("cargo::rustc-cfg=gort_asan");
    }
}
