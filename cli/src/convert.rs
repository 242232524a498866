//! `gort-trace text2bin` and `bin2text`: between the text form and the wire form.
//!
//! `IN` defaults to standard input and `OUT` to standard output; `-` names
//! them explicitly. Conversion is all-or-nothing: nothing is written when the
//! input is malformed.

use std::io::{Read, Write};
use std::path::Path;

use gort_parser::raw::{binary_to_text, text_to_binary};

/// Runs `gort-trace text2bin [IN [OUT]]`.
pub(crate) fn text2bin(
    input: Option<&Path>,
    output: Option<&Path>,
    stdout: &mut dyn Write,
) -> crate::CmdResult {
    let text = read_input(input)?;
    let bin = text_to_binary(&text)?;
    write_output(output, &bin, stdout)
}

/// Runs `gort-trace bin2text [IN [OUT]]`.
pub(crate) fn bin2text(
    input: Option<&Path>,
    output: Option<&Path>,
    stdout: &mut dyn Write,
) -> crate::CmdResult {
    let bin = read_input(input)?;
    let text = binary_to_text(&bin)?;
    write_output(output, text.as_bytes(), stdout)
}

fn is_std(path: Option<&Path>) -> bool {
    path.is_none_or(|p| p == Path::new("-"))
}

fn read_input(path: Option<&Path>) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    match path {
        p if is_std(p) => {
            let mut buf = Vec::new();
            std::io::stdin().lock().read_to_end(&mut buf)?;
            Ok(buf)
        }
        Some(p) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()).into()),
        None => Ok(Vec::new()),
    }
}

fn write_output(path: Option<&Path>, bytes: &[u8], stdout: &mut dyn Write) -> crate::CmdResult {
    match path {
        Some(p) if !is_std(path) => {
            std::fs::write(p, bytes).map_err(|e| format!("{}: {e}", p.display()).into())
        }
        _ => Ok(stdout.write_all(bytes)?),
    }
}
