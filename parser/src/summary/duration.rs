//! Go's `time.Duration.String()` for nanosecond counts.

use std::fmt::Write as _;

/// Formats `ns` nanoseconds as Go's `time.Duration.String()` does:
/// `0s`, `1ns`, `84.8µs`, `16.034049ms`, `1.5s`, `2m3.000000001s`,
/// `1h0m0s`.
///
/// # Examples
///
/// ```
/// use gort_parser::summary::format_duration;
///
/// assert_eq!(format_duration(0), "0s");
/// assert_eq!(format_duration(84_800), "84.8µs");
/// assert_eq!(format_duration(16_034_049), "16.034049ms");
/// assert_eq!(format_duration(-1_500_000_000), "-1.5s");
/// assert_eq!(format_duration(3_723_000_000_000), "1h2m3s");
/// ```
pub fn format_duration(ns: i64) -> String {
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
    }
    let u = ns.unsigned_abs();
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        let (div, digits, unit) = if u < 1_000 {
            (1, 0, "ns")
        } else if u < 1_000_000 {
            (1_000, 3, "µs")
        } else {
            (1_000_000, 6, "ms")
        };
        push_fixed(&mut out, u / div, u % div, digits);
        out.push_str(unit);
        return out;
    }
    let secs = u / 1_000_000_000;
    let frac = u % 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    push_fixed(&mut out, s, frac, 9);
    out.push('s');
    out
}

/// Writes `whole.frac` with `frac` as a `digits`-digit fraction, trailing
/// zeros (and a bare point) removed.
fn push_fixed(out: &mut String, whole: u64, frac: u64, digits: usize) {
    let _ = write!(out, "{whole}");
    if digits == 0 || frac == 0 {
        return;
    }
    let s = format!("{frac:0digits$}");
    out.push('.');
    out.push_str(s.trim_end_matches('0'));
}

#[cfg(test)]
mod tests {
    use super::format_duration;

    #[test]
    fn units_and_trimming() {
        assert_eq!(format_duration(1), "1ns");
        assert_eq!(format_duration(999), "999ns");
        assert_eq!(format_duration(1_000), "1µs");
        assert_eq!(format_duration(1_001), "1.001µs");
        assert_eq!(format_duration(999_999_999), "999.999999ms");
        assert_eq!(format_duration(1_000_000_000), "1s");
        assert_eq!(format_duration(61_000_000_001), "1m1.000000001s");
        assert_eq!(format_duration(i64::MIN), "-2562047h47m16.854775808s");
    }
}
