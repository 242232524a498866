//! Test support: running one test of this binary again in a child process.
//!
//! Some scenarios end the process (a goroutine stack overflow exits with status 2, a stray
//! fault dies of `SIGSEGV`) or need a process that no other test has mapped memory in. Such a
//! test re-executes the test binary filtered to itself, with an environment variable naming
//! the scenario; in the child, [`child_mode`] returns that name and the test plays the
//! scenario instead of checking the parent's side.

use std::process::{Command, Output};

/// Set in a re-executed test binary: which child scenario to run.
const CHILD_ENV: &str = "GORT_STACK_TEST_CHILD";

/// Runs test `name` of `module` (the caller's `module_path!()`) in a child of this test
/// binary with the scenario `mode` and the extra environment `env`; returns its output.
pub(in crate::coro) fn run_child(
    module: &str,
    name: &str,
    mode: &str,
    env: &[(&str, &str)],
) -> Output {
    let module = module.split_once("::").map_or("", |(_, rest)| rest);
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        &format!("{module}::{name}"),
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd.env(CHILD_ENV, mode);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("re-executing the test binary")
}

/// The scenario this process was started to play, if it is such a child.
pub(in crate::coro) fn child_mode() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}
