//! `gort-trace text2bin` and `bin2text`: between the text form and the wire form.

use std::io::Write;

/// Runs `gort-trace text2bin [IN [OUT]]`.
pub(crate) fn text2bin(
    _i: Option<&str>,
    _o: Option<&str>,
    _out: &mut dyn Write,
) -> crate::CmdResult {
    Err("unimplemented".into())
}

/// Runs `gort-trace bin2text [IN [OUT]]`.
pub(crate) fn bin2text(
    _i: Option<&str>,
    _o: Option<&str>,
    _out: &mut dyn Write,
) -> crate::CmdResult {
    Err("unimplemented".into())
}
