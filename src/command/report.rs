//! `mpf report`: one self-contained HTML page of a set, optionally drawn against a base set.

use std::path::PathBuf;

use crate::error::Result;
use crate::report::html::page::write_report_of;
use crate::report::plot::{overlay, PlotSpec};
use crate::store::{self, layout};

/// What `mpf report` is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The directory holding result sets.
    pub root: PathBuf,
    /// The set: id, unique prefix, path, `latest` or `latest~N`.
    pub id: String,
    /// Also draw this set against it (sets of one experiment).
    pub base: Option<String>,
    /// The page; `None`: the set's `report.html`.
    pub output: Option<PathBuf>,
}

/// What `mpf report` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The page written.
    pub written: PathBuf,
}

/// Runs `mpf report`.
pub fn report(req: &Request) -> Result<Outcome> {
    let dir = store::resolve(&req.root, &req.id)?;
    let manifest = store::resultset::read_manifest(&dir)?;
    let base = match &req.base {
        Some(id) => {
            let base = store::compact::open(&req.root, id)?;
            overlay::check_alike(&[&base.manifest, &manifest])?;
            Some(base)
        }
        None => None,
    };
    let hints = PlotSpec::from_manifest(&manifest);
    drop(manifest);
    let path = req
        .output
        .clone()
        .unwrap_or_else(|| dir.join(layout::REPORT));
    write_report_of(&dir, base.as_ref(), &path, hints.as_ref())?;
    Ok(Outcome { written: path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_set_is_named() {
        let root = tempfile::tempdir().unwrap();
        let e = report(&Request {
            root: root.path().to_path_buf(),
            id: "nosuch".into(),
            base: None,
            output: None,
        })
        .unwrap_err();
        assert!(e.to_string().contains("nosuch"), "{e}");
    }
}
