//! Typed errors and the exit codes they map to (SPEC §4, §20).

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit codes, in one place.
pub mod exit {
    pub const OK: i32 = 0;
    /// The experiment ran but some runs failed, or an operational error.
    pub const FAILURE: i32 = 1;
    /// Invalid input: files, flags.
    pub const INVALID: i32 = 2;
    /// `compare` found a regression.
    pub const REGRESSION: i32 = 3;
    /// A machine could not be reached, or stopped answering.
    pub const UNREACHABLE: i32 = 4;
    /// The allocation's time is (nearly) over: `mpf run` stopped before the end of its
    /// allocation (the set `incomplete`), or the allocation ended under it (EX_TEMPFAIL);
    /// `--resume` in the next allocation completes the set.
    pub const TEMPFAIL: i32 = 75;
    /// Interrupted by a signal.
    pub const INTERRUPTED: i32 = 130;
}

/// A position in an input file (1-based line and column; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl Location {
    pub fn new(file: &Path, line: u64, column: u64) -> Self {
        Location {
            file: file.to_path_buf(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}", self.file.display()),
            (l, 0) => write!(f, "{}:{}", self.file.display(), l),
            (l, c) => write!(f, "{}:{}:{}", self.file.display(), l, c),
        }
    }
}

/// Everything that can go wrong, split by who has to act.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input is wrong: a file, a flag, an id. Exit 2.
    #[error("{location}: {message}")]
    Input { location: Location, message: String },
    /// A command-line usage error that belongs to no file. Exit 2.
    #[error("{0}")]
    Usage(String),
    /// Something failed while operating (I/O, a machine, a process). Exit 1.
    #[error("{0}")]
    Runtime(String),
    /// A machine could not be reached (ssh cannot connect) or stopped answering. Exit 4.
    #[error("{0}")]
    Unreachable(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The allocation that held the machines ended (a Slurm job cancelled or over its time):
    /// the set is left to `--resume` in another. Exit 75.
    #[error("{0}")]
    AllocationEnded(String),
    /// Interrupted by SIGINT/SIGTERM. Exit 130.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub fn input(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        Error::Input {
            location: Location::new(file, line, column),
            message: message.into(),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::Usage(_) => exit::INVALID,
            Error::Runtime(_) | Error::Io { .. } => exit::FAILURE,
            Error::Unreachable(_) => exit::UNREACHABLE,
            Error::AllocationEnded(_) => exit::TEMPFAIL,
            Error::Interrupted => exit::INTERRUPTED,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a context string to I/O results.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}
