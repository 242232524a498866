//! gort's runtime: an M:N scheduler of stackful goroutines.
