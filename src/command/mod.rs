//! One request and one outcome per command that reads result sets, as `run` has
//! (`runner::session::RunRequest`): the binary turns its flags into a `Request` (plain data:
//! paths, ids, options as library enums), calls the command, prints the `Outcome` and exits with
//! the code it implies. What a command decides (which sets, in which groups, which output goes
//! where) lives here and is unit-tested here; the binary only parses arguments and prints.

pub mod compare;
pub mod history;
pub mod plot;
pub mod report;
pub mod run;

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Where one output of a command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Standard output (`-` on the command line), in place of the command's usual text.
    Stdout,
    /// A file, written whole.
    File(PathBuf),
}

impl Target {
    /// `-` is standard output, anything else a file.
    pub fn from_flag(path: &Path) -> Target {
        if path == Path::new("-") {
            Target::Stdout
        } else {
            Target::File(path.to_path_buf())
        }
    }
}

/// `5%` -> 0.05, `0.05` -> 0.05. A bare number above 1 is refused rather than read as a
/// fraction (`--tolerance 5` would otherwise mean 500%).
pub fn parse_tolerance(text: &str) -> Result<f64> {
    let t = text.trim();
    let bad = || {
        Error::Usage(format!("invalid --tolerance '{text}': expected a percentage such as 5% or a fraction such as 0.05"))
    };
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => {
            let v: f64 = t.parse().map_err(|_| bad())?;
            if v > 1.0 {
                return Err(Error::Usage(format!(
                    "invalid --tolerance '{text}': a bare number is a fraction; did you mean {text}%?"
                )));
            }
            v
        }
    };
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Ok(value)
}

/// `--alpha`: a probability strictly between 0 and 1.
fn check_alpha(alpha: f64) -> Result<()> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid --alpha {alpha}: expected a probability between 0 and 1"
        )))
    }
}

/// Writes `text` to `path` whole.
fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).ctx(|| format!("failed to write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_forms() {
        assert_eq!(parse_tolerance("5%").unwrap(), 0.05);
        assert_eq!(parse_tolerance("0.05").unwrap(), 0.05);
        assert_eq!(parse_tolerance("0%").unwrap(), 0.0);
        assert_eq!(parse_tolerance(" 2.5 % ").unwrap(), 0.025);
        assert!(parse_tolerance("5")
            .unwrap_err()
            .to_string()
            .contains("did you mean 5%?"));
        assert!(parse_tolerance("-1%").is_err());
        assert!(parse_tolerance("abc").is_err());
        assert!(parse_tolerance("inf%").is_err());
    }

    #[test]
    fn alpha_is_a_probability() {
        assert!(check_alpha(0.05).is_ok());
        for bad in [0.0, 1.0, -0.1, f64::NAN] {
            let e = check_alpha(bad).unwrap_err().to_string();
            assert!(e.contains("invalid --alpha"), "{e}");
        }
    }

    #[test]
    fn dash_is_stdout() {
        assert_eq!(Target::from_flag(Path::new("-")), Target::Stdout);
        assert_eq!(
            Target::from_flag(Path::new("out.md")),
            Target::File(PathBuf::from("out.md"))
        );
    }
}
