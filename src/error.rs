//! Errors a user can cause (bad files, flags, values) and how they are shown.
//!
//! Every input error names where it happened: a file with line and column, or
//! the command-line flag. The binary maps [`InputError`] to exit code 2.

use std::fmt;
use std::ops::Range;
use std::path::Path;

/// Where an input error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A position in a file (1-based line and column).
    File { path: String, line: usize, column: usize },
    /// A file as a whole (e.g. it could not be read).
    Path(String),
    /// A command-line flag such as `--set queue.visibility_timeout=45s`.
    Flag(String),
    /// No better location is known.
    None,
}

/// A problem with the user's input: exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub location: Location,
    pub message: String,
}

impl InputError {
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        InputError { location, message: message.into() }
    }

    /// An error at a byte span of a file's text.
    pub fn at_span(path: &Path, text: &str, span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        let location = match span {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                Location::File { path: path.display().to_string(), line, column }
            }
            None => Location::Path(path.display().to_string()),
        };
        InputError::new(location, message)
    }

    pub fn flag(flag: impl Into<String>, message: impl Into<String>) -> Self {
        InputError::new(Location::Flag(flag.into()), message)
    }

    pub fn path(path: &Path, message: impl Into<String>) -> Self {
        InputError::new(Location::Path(path.display().to_string()), message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::File { path, line, column } => write!(f, "{path}:{line}:{column}: {}", self.message),
            Location::Path(path) => write!(f, "{path}: {}", self.message),
            Location::Flag(flag) => write!(f, "{flag}: {}", self.message),
            Location::None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for InputError {}

/// Any failure of a command, with the exit code it maps to.
#[derive(Debug)]
pub enum Error {
    /// Bad input: exit 2.
    Input(InputError),
    /// A run hit a limit (events, simulated time, live messages): exit 2,
    /// as the scenario asked for more than its limits allow.
    Limit(String),
    /// Writing an output failed: exit 2.
    Io(String),
    /// An invariant broke: a bug in dupsim. Exit 70.
    Bug(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::Limit(_) | Error::Io(_) => 2,
            Error::Bug(_) => 70,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(e) => write!(f, "{e}"),
            Error::Limit(m) => write!(f, "run stopped: {m}"),
            Error::Io(m) => write!(f, "{m}"),
            Error::Bug(m) => write!(f, "internal error (a bug in dupsim, please report it): {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::Input(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 4));
        assert_eq!(line_column(text, 1000), (3, 1));
    }
}
