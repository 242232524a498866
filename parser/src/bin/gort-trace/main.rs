//! `gort-trace`: dump, validate and summarise Go execution traces.
fn main() {}
