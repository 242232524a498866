//! Go's tools for the CLI's tests: the workspace's one test-support crate.
#![allow(unused_imports)]

pub(crate) use gort_gotools::*;
