//! How a command reports and ends: standard output that ends the command quietly when its
//! reader goes away, one-line failures, and the exit codes scripts tell outcomes apart by.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use avm_runtime::Error;

/// How `avm` exits (listed in `avm --help` and the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The command ran as asked. For `run` and `resume`: the machine halted, blocked or
    /// reached a bound.
    Success,
    /// The tool failed: a missing or malformed input, a store error, standard output lost.
    Failed,
    /// The command line is malformed (clap reports it).
    Usage,
    /// The machine error-stopped; the report is printed as for any other end.
    ErrorStop,
    /// A check failed: a proof was rejected.
    Rejected,
    /// SIGINT (Ctrl-C) stopped the run at a step boundary; the report (and, when
    /// checkpointing, a checkpoint) was written first.
    Interrupted,
    /// SIGTERM stopped the run, as SIGINT does.
    Terminated,
}

impl Exit {
    /// Every exit, in code order.
    pub const ALL: [Exit; 7] = [
        Exit::Success,
        Exit::Failed,
        Exit::Usage,
        Exit::ErrorStop,
        Exit::Rejected,
        Exit::Interrupted,
        Exit::Terminated,
    ];

    /// The process exit status.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::ErrorStop => 3,
            Exit::Rejected => 4,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }

    /// What the code means, in a few words.
    pub const fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "ran as asked (a run halted, blocked or reached a bound)",
            Exit::Failed => "the tool failed (bad input, missing file, store error)",
            Exit::Usage => "the command line is malformed",
            Exit::ErrorStop => "the machine error-stopped (the report is printed)",
            Exit::Rejected => "a check failed (a proof was rejected, a run differs from --expect)",
            Exit::Interrupted => "SIGINT stopped the run (report and checkpoint written)",
            Exit::Terminated => "SIGTERM stopped the run (report and checkpoint written)",
        }
    }

    /// The exit codes as `avm --help` lists them.
    pub fn help() -> String {
        let mut text = String::from("Exit status:\n");
        for exit in Exit::ALL {
            text.push_str(&format!("  {:>3}  {}\n", exit.code(), exit.meaning()));
        }
        text
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// Why a command did not finish as asked.
#[derive(Debug)]
pub enum Failure {
    /// The tool failed: worth one line on stderr, naming what it concerns and why.
    Tool {
        /// What the failure concerns: a file, `jit`, `checkpoints`, …
        subject: String,
        /// Why.
        error: Error,
    },
    /// A check failed: one line on stderr and [`Exit::Rejected`].
    Rejected {
        /// What was checked.
        subject: String,
        /// Why it failed.
        reason: String,
    },
    /// Writing to standard output failed.
    Output(io::Error),
}

impl Failure {
    /// A tool failure whose reason is a message.
    pub fn engine(subject: impl Into<String>, message: impl fmt::Display) -> Failure {
        Failure::Tool {
            subject: subject.into(),
            error: Error::Engine(message.to_string()),
        }
    }

    /// A failure to read or write `path`.
    pub fn io(path: &Path, source: io::Error) -> Failure {
        Failure::Tool {
            subject: "file".into(),
            error: Error::Io {
                path: path.to_path_buf(),
                source,
            },
        }
    }

    /// A library error about `subject` (a file's name, usually).
    pub fn about(subject: impl fmt::Display, error: Error) -> Failure {
        Failure::Tool {
            subject: subject.to_string(),
            error,
        }
    }

    /// Reports the failure on stderr (nothing when standard output's reader went away, which
    /// is not a failure) and returns how the process exits.
    pub fn report(self) -> Exit {
        let (exit, line) = match self {
            Failure::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => return Exit::Success,
            Failure::Output(e) => (Exit::Failed, format!("standard output: {e}")),
            Failure::Tool { subject, error } => (Exit::Failed, format!("{subject}: {error}")),
            Failure::Rejected { subject, reason } => {
                (Exit::Rejected, format!("{subject}: {reason}"))
            }
        };
        let _ = writeln!(io::stderr(), "avm: {}", printable(&line));
        exit
    }
}

/// `text` with its control characters escaped (`\u{1b}`, `\n`): a message quoting an input
/// file stays one line and cannot drive the terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().collect(),
            false => c.to_string(),
        })
        .collect()
}

/// Standard output for reports: line-buffered on a terminal, block-buffered otherwise (a large
/// disassembly is one write per block, not per line). Its `write_fmt` returns a [`Failure`],
/// so `writeln!(out, …)?` works in any command.
pub struct Out {
    inner: Box<dyn Write>,
}

impl Out {
    /// Standard output.
    pub fn stdout() -> Out {
        let stdout = io::stdout();
        let inner: Box<dyn Write> = if stdout.is_terminal() {
            Box::new(stdout)
        } else {
            Box::new(io::BufWriter::with_capacity(1 << 16, stdout))
        };
        Out { inner }
    }

    /// Writes formatted text (what `write!` and `writeln!` call).
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), Failure> {
        self.inner.write_fmt(args).map_err(Failure::Output)
    }

    /// Writes text as it is.
    pub fn write_str(&mut self, text: &str) -> Result<(), Failure> {
        self.inner
            .write_all(text.as_bytes())
            .map_err(Failure::Output)
    }

    /// Writes what is buffered.
    pub fn flush(&mut self) -> Result<(), Failure> {
        self.inner.flush().map_err(Failure::Output)
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Out")
    }
}

/// Tells the user something worth knowing that is not a failure, in one line on stderr.
pub fn note(text: &str) {
    let _ = writeln!(io::stderr(), "avm: note: {}", printable(text));
}

/// A progress line on stderr (an `indicatif` spinner with the elapsed time), drawn only when
/// stderr is a terminal, never into a file or a pipe, and cleared when dropped. Updates are
/// throttled: callers may set the message as often as they like.
#[derive(Debug)]
pub struct Progress {
    bar: indicatif::ProgressBar,
    /// When the message last changed.
    last: Option<Instant>,
}

/// How often a progress line changes.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

impl Progress {
    /// A new progress line, empty until the first message.
    pub fn new() -> Progress {
        let bar = indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr_with_hz(4),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
                .expect("a valid template"),
        );
        Progress { bar, last: None }
    }

    /// Whether anything is drawn (stderr is a terminal): callers skip working out messages
    /// nobody sees.
    pub fn shown(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Shows `message` (built only when the line is due to change).
    pub fn set(&mut self, message: impl FnOnce() -> String) {
        let due = self
            .last
            .is_none_or(|last| last.elapsed() >= PROGRESS_EVERY);
        if due && self.shown() {
            self.bar.set_message(message());
            self.bar.tick();
            self.last = Some(Instant::now());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
