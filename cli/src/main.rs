//! `gort-trace`: dump, validate and analyse Go execution traces.
//!
//! A thin command line over the `gort-parser` library: each command reads
//! its arguments (with `clap`), calls the library and writes the result.
//! `gort-trace help` or `gort-trace COMMAND --help` describes every command.
//!
//! Exit status: 0 on success, 1 when the trace is invalid or a file cannot be
//! read or written (the error goes to standard error, after whatever output
//! came before it), 2 for a usage error.
//!
//! Output goes through one large buffer on standard output (or to the file
//! given with `-o`). When the reader of standard output goes away (a broken
//! pipe, as in `gort-trace dump x | head`), the command stops quietly with
//! status 0, like most Unix filters: the output that was wanted has been
//! delivered.

mod analyses;
mod convert;
mod dump;
mod goroutines;
mod raw;
mod stats;
mod validate;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use gort_parser::pprof::ProfileKind;

/// What every command returns.
pub(crate) type CmdResult = Result<(), Box<dyn std::error::Error>>;

/// Dump, validate and analyse Go 1.22/1.23 execution traces (Go's and gort's).
#[derive(Debug, Parser)]
#[command(
    name = "gort-trace",
    version,
    after_help = "exit status: 0 ok, 1 invalid trace or I/O error, 2 usage error"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print the trace's events as `go tool trace -d=1` does.
    Dump {
        /// Print the wire-level events instead, as `go tool trace -d=2` does.
        #[arg(long)]
        raw: bool,
        /// The trace file.
        file: PathBuf,
    },
    /// Parse and check the whole trace; exit 1 if it is invalid.
    Validate {
        /// The trace file.
        file: PathBuf,
    },
    /// Count events per type and summarise each goroutine's states.
    Stats {
        /// The trace file.
        file: PathBuf,
    },
    /// Convert the text form (Go's test-data format) to a binary trace.
    Text2bin {
        /// Input (`-` or absent: standard input).
        input: Option<PathBuf>,
        /// Output (`-` or absent: standard output).
        output: Option<PathBuf>,
    },
    /// Convert a binary trace to the text form.
    Bin2text {
        /// Input (`-` or absent: standard input).
        input: Option<PathBuf>,
        /// Output (`-` or absent: standard output).
        output: Option<PathBuf>,
    },
    /// Write a gzipped pprof profile, as `go tool trace -pprof=TYPE` does.
    ///
    /// By default the numbers are Go's: an interval opens and closes only
    /// at a state transition that carries a stack (golang/go#74850), so
    /// `sched` includes run time and `syscall` misses most syscalls. With
    /// --accurate every transition ends an interval, and the totals are the
    /// goroutine analysis' (time blocked on the network or on
    /// synchronisation, in syscalls, runnable).
    Pprof {
        /// Which profile.
        #[arg(value_enum)]
        kind: Kind,
        /// The trace file.
        file: PathBuf,
        /// Write here instead of standard output.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// End intervals at every transition, not only at those with a stack.
        #[arg(long)]
        accurate: bool,
    },
    /// Go's goroutine analysis (`go tool trace`'s goroutine pages).
    ///
    /// Without --name: goroutines grouped by start function, with count
    /// and total execution time. With --name: that group's breakdown, one
    /// row per goroutine. Durations are printed as Go prints them.
    Goroutines {
        /// The trace file.
        file: PathBuf,
        /// Print a JSON array, one object per goroutine (`id`, `name`,
        /// `stats` keyed by Go's column headers, `ranges`; nanoseconds).
        #[arg(long)]
        json: bool,
        /// Keep only the goroutines whose start function is NAME (`""`:
        /// those never seen with a stack).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Convert to Perfetto's protobuf trace format (open it in ui.perfetto.dev).
    ///
    /// One track per goroutine, P and M; stacks on slices and instants;
    /// flows from creator or waker to the goroutine's next run; user
    /// regions and logs; goroutine-state and metric counters. Streams: the
    /// trace is never held whole.
    Perfetto {
        /// The trace file.
        file: PathBuf,
        /// Write here instead of standard output.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Write the Chrome trace-viewer JSON that `go tool trace` serves at
    /// `/jsontrace` (its per-P view).
    ///
    /// The same events, stacks and metadata as Go's, for tools that read
    /// only JSON. Streams: the trace is never held whole. A trace damaged
    /// after its first generation is rendered up to its last complete one,
    /// as Go renders it. To a regular file (`-o`, or standard output
    /// redirected to one) each generation is written as it is made and a
    /// damaged one's part is cut off again; to a pipe or a terminal each
    /// generation's output is held back until the generation ends (beyond
    /// 8 MiB, in an unnamed temporary file).
    Json {
        /// The trace file.
        file: PathBuf,
        /// Write here instead of standard output.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The profiles of `pprof`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Kind {
    /// Blocked on the network.
    Net,
    /// Blocked on channels, select or sync primitives.
    Sync,
    /// In system calls.
    Syscall,
    /// Waiting for a P.
    Sched,
}

impl From<Kind> for ProfileKind {
    fn from(k: Kind) -> ProfileKind {
        match k {
            Kind::Net => ProfileKind::Net,
            Kind::Sync => ProfileKind::Sync,
            Kind::Syscall => ProfileKind::Syscall,
            Kind::Sched => ProfileKind::Sched,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors to
            // stderr with status 2.
            let code = if e.use_stderr() { 2 } else { 0 };
            if e.print().is_err() {
                return ExitCode::from(1);
            }
            return ExitCode::from(code);
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = run(cli.command, &mut out).and_then(|()| out.flush().map_err(Into::into));
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

fn run(cmd: Cmd, out: &mut dyn Write) -> CmdResult {
    match cmd {
        Cmd::Dump { raw: true, file } => raw::run(&file, out),
        Cmd::Dump { raw: false, file } => dump::run(&file, out),
        Cmd::Validate { file } => validate::run(&file, out),
        Cmd::Stats { file } => stats::run(&file, out),
        Cmd::Text2bin { input, output } => {
            convert::text2bin(input.as_deref(), output.as_deref(), out)
        }
        Cmd::Bin2text { input, output } => {
            convert::bin2text(input.as_deref(), output.as_deref(), out)
        }
        Cmd::Pprof {
            kind,
            file,
            output,
            accurate,
        } => with_output(output.as_deref(), out, |w| {
            analyses::pprof(&file, kind.into(), accurate, w)
        }),
        Cmd::Goroutines { file, json, name } => goroutines::run(&file, json, name.as_deref(), out),
        Cmd::Perfetto { file, output } => {
            with_output(output.as_deref(), out, |w| analyses::perfetto(&file, w))
        }
        Cmd::Json { file, output } => analyses::json(&file, output.as_deref(), out),
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "gort-trace", out);
            Ok(())
        }
    }
}

/// Runs `f` on the file `path` (created or truncated), or on `stdout` when
/// there is none or it is `-`.
fn with_output(
    path: Option<&Path>,
    stdout: &mut dyn Write,
    f: impl FnOnce(&mut dyn Write) -> CmdResult,
) -> CmdResult {
    match path {
        Some(p) if p != Path::new("-") => {
            let mut w = create_output(p)?;
            f(&mut w)?;
            w.flush().map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(())
        }
        _ => f(stdout),
    }
}

/// Creates (or truncates) the output file `path`, buffered; the error names it.
pub(crate) fn create_output(path: &Path) -> Result<io::BufWriter<File>, String> {
    let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(io::BufWriter::with_capacity(1 << 16, file))
}

/// Opens a trace file, with Go's message when it cannot.
pub(crate) fn open_trace(path: &Path) -> Result<File, Box<dyn std::error::Error>> {
    File::open(path)
        .map_err(|e| format!("failed to read trace file: open {}: {e}", path.display()).into())
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
