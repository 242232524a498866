//! Go's own tools as the judge: the workspace's test-support crate.

pub use gort_gotools::validate;
