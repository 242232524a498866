//! Wall-clock times of clock snapshots, printed as Go's `time.Time.Format`
//! prints them with `time.RFC3339` (Go 1.25) or `time.RFC3339Nano` (Go 1.26
//! on), in UTC.
//!
//! The snapshot holds seconds and nanoseconds as unsigned wire values; Go
//! converts both to `int64` and normalises the nanoseconds into `[0, 1e9)`
//! (`time.Unix`). Dates use the proleptic Gregorian calendar; the year is
//! printed with at least four digits, and a minus sign before the year zero.

use std::io::Write as _;

/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT: i128 = 719_468;

/// The civil date of `days` since 1970-01-01: (year, month, day).
fn civil(days: i128) -> (i128, u32, u32) {
    let z = days + EPOCH_SHIFT;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

/// Appends `v` in decimal, zero-padded to at least `width` digits.
fn push_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    // Writing into a `Vec` cannot fail.
    let _ = write!(out, "{v:0width$}");
}

/// Appends the wall time `sec`.`nsec` since the Unix epoch (wire values),
/// with the fraction of a second (trailing zeros dropped) if `nanos`.
pub(crate) fn push_wall(out: &mut Vec<u8>, sec: u64, nsec: u64, nanos: bool) {
    let (sec, nsec) = super::sync::unix(sec, nsec);
    let (sec, nsec) = (i128::from(sec), i128::from(nsec));
    let days = sec.div_euclid(86_400);
    let secs = sec.rem_euclid(86_400) as u64;
    let (year, month, day) = civil(days);
    if year < 0 {
        out.push(b'-');
    }
    push_padded(out, year.unsigned_abs() as u64, 4);
    out.push(b'-');
    push_padded(out, u64::from(month), 2);
    out.push(b'-');
    push_padded(out, u64::from(day), 2);
    out.push(b'T');
    push_padded(out, secs / 3600, 2);
    out.push(b':');
    push_padded(out, secs / 60 % 60, 2);
    out.push(b':');
    push_padded(out, secs % 60, 2);
    if nanos && nsec != 0 {
        let mut frac = Vec::with_capacity(9);
        push_padded(&mut frac, nsec as u64, 9);
        while frac.last() == Some(&b'0') {
            frac.pop();
        }
        out.push(b'.');
        out.extend_from_slice(&frac);
    }
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall(sec: u64, nsec: u64, nanos: bool) -> String {
        let mut out = Vec::new();
        push_wall(&mut out, sec, nsec, nanos);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_like_go_in_utc() {
        // The clock snapshots of the go 1.25/1.26 goldens, as Go printed them.
        assert_eq!(
            wall(1_796_235_639, 582_165_548, false),
            "2026-12-02T18:20:39Z"
        );
        assert_eq!(
            wall(1_796_235_597, 683_178_247, true),
            "2026-12-02T18:19:57.683178247Z"
        );
        assert_eq!(wall(0, 0, true), "1970-01-01T00:00:00Z");
        assert_eq!(
            wall(951_782_400, 500_000_000, true),
            "2000-02-29T00:00:00.5Z"
        );
        // Negative seconds (a wire value above i64::MAX) and nanoseconds that
        // spill into the seconds.
        assert_eq!(wall(u64::MAX, 0, false), "1969-12-31T23:59:59Z");
        assert_eq!(wall(0, 1_500_000_000, true), "1970-01-01T00:00:01.5Z");
        assert_eq!(
            wall((-62_167_219_201i64) as u64, 0, false),
            "-0001-12-31T23:59:59Z"
        );
    }
}
