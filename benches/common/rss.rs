//! The process's resident set size, for the memory benches (no unsafe: the
//! page size comes from the auxiliary vector).

/// The page size from the auxiliary vector (`AT_PAGESZ`), 4096 if absent.
pub(crate) fn page_size() -> u64 {
    const AT_PAGESZ: u64 = 6;
    let Ok(aux) = std::fs::read("/proc/self/auxv") else {
        return 4096;
    };
    for pair in aux.chunks_exact(16) {
        let (k, v) = pair.split_at(8);
        let k = u64::from_ne_bytes(k.try_into().unwrap_or([0; 8]));
        let v = u64::from_ne_bytes(v.try_into().unwrap_or([0; 8]));
        if k == AT_PAGESZ && v != 0 {
            return v;
        }
    }
    4096
}

/// Resident set size in bytes (second field of `/proc/self/statm`).
pub(crate) fn rss_bytes() -> u64 {
    let statm = match std::fs::read_to_string("/proc/self/statm") {
        Ok(s) => s,
        Err(e) => panic!("cannot read /proc/self/statm: {e}"),
    };
    let pages: u64 = match statm.split_whitespace().nth(1).map(str::parse) {
        Some(Ok(p)) => p,
        _ => panic!("unexpected /proc/self/statm: {statm:?}"),
    };
    pages * page_size()
}
