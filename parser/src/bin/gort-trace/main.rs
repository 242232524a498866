//! `gort-trace`: dump, validate and summarise Go execution traces.
//!
//! ```text
//! gort-trace dump [--raw] FILE     print events as `go tool trace -d=1` (or `-d=2` with --raw)
//! gort-trace validate FILE         parse and check the whole trace
//! gort-trace stats FILE            event counts per type
//! gort-trace text2bin [IN [OUT]]   text form -> binary trace (stdin/stdout by default)
//! gort-trace bin2text [IN [OUT]]   binary trace -> text form (stdin/stdout by default)
//! gort-trace help                  this text
//! ```
//!
//! Exit status: 0 on success, 1 when the trace is invalid or a file cannot be
//! read or written (the error goes to standard error, after whatever output
//! came before it), 2 for a usage error.
//!
//! Output goes through one large buffer on standard output. When the reader of
//! that output goes away (a broken pipe, as in `gort-trace dump x | head`), the
//! command stops quietly with status 0, like most Unix filters: the output
//! that was wanted has been delivered.

mod convert;
mod dump;
mod raw;
mod stats;
mod validate;

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

/// What every subcommand returns.
pub(crate) type CmdResult = Result<(), Box<dyn std::error::Error>>;

const USAGE: &str = "\
usage: gort-trace COMMAND [ARGS]

commands:
  dump [--raw] FILE     print the trace's events as `go tool trace -d=1` does
                        (with --raw: the wire-level events, as `-d=2` does)
  validate FILE         parse and check the whole trace; exit 1 if it is invalid
  stats FILE            count events per type
  text2bin [IN [OUT]]   convert the text form (Go's test-data format) to a binary
                        trace; IN and OUT default to standard input and output
  bin2text [IN [OUT]]   convert a binary trace to the text form
  help                  show this text

exit status: 0 ok, 1 invalid trace or I/O error, 2 usage error
";

/// A command line that does not fit [`USAGE`].
#[derive(Debug)]
struct UsageError(String);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match parse(&args) {
        Ok(cmd) => cmd,
        Err(UsageError(msg)) => {
            eprintln!("gort-trace: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Command::Help = cmd {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = run(cmd, &mut out).and_then(|()| out.flush().map_err(Into::into));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&*e) => ExitCode::SUCCESS,
        Err(e) => {
            // Whatever was printed before the error still reaches stdout first.
            if out.flush().is_err() {
                // Nothing more can be done about stdout; report the first error.
            }
            eprintln!("gort-trace: {e}");
            ExitCode::from(1)
        }
    }
}

/// A parsed command line.
#[derive(Debug)]
enum Command<'a> {
    Dump { raw: bool, file: &'a str },
    Validate(&'a str),
    Stats(&'a str),
    Text2Bin(Option<&'a str>, Option<&'a str>),
    Bin2Text(Option<&'a str>, Option<&'a str>),
    Help,
}

fn parse(args: &[String]) -> Result<Command<'_>, UsageError> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(UsageError("missing command".into()));
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let one_file = |name: &str| match rest.as_slice() {
        [f] if !f.starts_with('-') || *f == "-" => Ok(*f),
        _ => Err(UsageError(format!("{name} takes exactly one FILE"))),
    };
    let in_out = |name: &str| match rest.as_slice() {
        [] => Ok((None, None)),
        [i] => Ok((Some(*i), None)),
        [i, o] => Ok((Some(*i), Some(*o))),
        _ => Err(UsageError(format!("{name} takes at most IN and OUT"))),
    };
    Ok(match cmd.as_str() {
        "dump" => match rest.as_slice() {
            ["--raw", f] | [f, "--raw"] => Command::Dump { raw: true, file: f },
            [f] if !f.starts_with("--") => Command::Dump {
                raw: false,
                file: f,
            },
            _ => return Err(UsageError("usage: dump [--raw] FILE".into())),
        },
        "validate" => Command::Validate(one_file("validate")?),
        "stats" => Command::Stats(one_file("stats")?),
        "text2bin" => {
            let (i, o) = in_out("text2bin")?;
            Command::Text2Bin(i, o)
        }
        "bin2text" => {
            let (i, o) = in_out("bin2text")?;
            Command::Bin2Text(i, o)
        }
        "help" | "-h" | "--help" => Command::Help,
        other => return Err(UsageError(format!("unknown command {other:?}"))),
    })
}

fn run(cmd: Command<'_>, out: &mut dyn Write) -> CmdResult {
    match cmd {
        Command::Dump { raw: true, file } => raw::run(Path::new(file), out),
        Command::Dump { raw: false, file } => dump::run(Path::new(file), out),
        Command::Validate(file) => validate::run(Path::new(file), out),
        Command::Stats(file) => stats::run(Path::new(file), out),
        Command::Text2Bin(i, o) => convert::text2bin(i, o, out),
        Command::Bin2Text(i, o) => convert::bin2text(i, o, out),
        Command::Help => Ok(()),
    }
}

/// Whether `e` (or what it wraps) is a write to a closed pipe.
fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        if let Some(pe) = e.downcast_ref::<gort_parser::Error>() {
            if pe.io_kind() == Some(io::ErrorKind::BrokenPipe) {
                return true;
            }
        }
        cur = e.source();
    }
    false
}
