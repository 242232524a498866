//! Sets `cfg(gort_asan)` for the gort package's own targets (its tests,
//! examples and benches) when they are built with AddressSanitizer
//! (`-Zsanitizer=address`, as `scripts/asan` does), as `runtime/build.rs`
//! does for the runtime. Tests that cannot run under ASan (a stack overflow
//! on purpose: ASan's fault handling and fake stacks change what happens) and
//! tests that check ASan's own reports use it.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gort_asan)");
    println!("cargo::rerun-if-changed=build.rs");
    let sanitize = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitize.split(',').any(|s| s.trim() == "address") {
        println!("cargo::rustc-cfg=gort_asan");
    }
}
