//! Size limits and reserved values of the format.

/// Largest batch payload the reader accepts (`size` field), in bytes.
pub const MAX_BATCH_BYTES: usize = 64 << 10;
/// Largest string-table entry, in bytes.
pub const MAX_STRING_BYTES: usize = 1 << 10;
/// Most frames in one stack-table entry.
pub const MAX_FRAMES: usize = 128;
/// The wire value of "no thread" / "none" (2^64-1).
pub const NO_THREAD: u64 = u64::MAX;
/// The wire value of "no P" in CPU samples.
pub const NO_PROC: u64 = u64::MAX;
/// Trace clock units per second written by runtimes on Unix (ns / 64).
pub const UNIX_FREQUENCY: u64 = 15_625_000;
/// Width of the padded `size` field runtimes write in batch headers.
pub const PADDED_SIZE_BYTES: usize = 10;
/// Experiment ID of the AllocFree experiment.
pub const EXPERIMENT_ALLOC_FREE: u8 = 1;
