//! Sets `cfg(gort_asan)` when the target is built with AddressSanitizer
//! (`-Zsanitizer=address`), which compiles in the coroutine-switch
//! annotations of `src/coro/sanitizer.rs`. Cargo tells build scripts the
//! target's `sanitize` cfg (`CARGO_CFG_SANITIZE`, e.g. `address` or
//! `address,leak`); reading it here keeps `cfg(sanitize)` itself, which is
//! unstable, out of the source.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gort_asan)");
    println!("cargo::rerun-if-changed=build.rs");
    let sanitize = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitize.split(',').any(|s| s.trim() == "address") {
        println!("cargo::rustc-cfg=gort_asan");
    }
}
