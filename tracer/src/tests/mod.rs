//! White-box tests that need crate-private access.

#[cfg(not(loom))]
mod seqlock;
