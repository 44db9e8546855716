//! `mpf pack ID... -o FILE.tar.gz` and `mpf verify FILE.tar.gz` (SPEC 19, docs/artifact.md).

use std::path::PathBuf;

use mpf::error::{Error, Result};
use mpf::pack;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result-set ids, unique prefixes, paths, `latest` or `latest~N`: each set is packed whole
    #[arg(required = true, num_args = 1..)]
    pub ids: Vec<String>,
    /// The pack to write (a .tar.gz)
    #[arg(short, long, value_name = "FILE.tar.gz")]
    pub output: PathBuf,
    #[command(flatten)]
    pub results: super::ResultsDir,
}

pub fn run(args: Args) -> Result<i32> {
    let root = args.results.root();
    let dirs = args
        .ids
        .iter()
        .map(|id| mpf::resolve(&root, id))
        .collect::<Result<Vec<_>>>()?;
    let name = args
        .output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Usage(format!("-o {}: not a file name", args.output.display())))?;
    let mut notes = Vec::new();
    mpf::write_atomic_with(&args.output, |w| {
        let report = |set: &mpf::ResultSet, out: &std::path::Path| {
            let hints = mpf::PlotSpec::from_result_set(set);
            mpf::write_report(set, out, hints.as_ref())
        };
        notes = pack::write_pack(&dirs, &name, w, &report)?;
        Ok(())
    })?;
    for n in notes {
        super::console::err(&format!("warning: {n}"));
    }
    super::console::err(&format!(
        "wrote {} ({} set{})",
        args.output.display(),
        dirs.len(),
        if dirs.len() == 1 { "" } else { "s" }
    ));
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The pack to check (written by `mpf pack`)
    #[arg(value_name = "FILE.tar.gz")]
    pub pack: PathBuf,
}

/// Exit 0 when every sum and every set's results match, 1 with each difference otherwise.
pub fn verify(args: VerifyArgs) -> Result<i32> {
    if !args.pack.is_file() {
        return Err(Error::Usage(format!(
            "{}: no such file",
            args.pack.display()
        )));
    }
    let v = pack::verify(&args.pack)?;
    if v.problems.is_empty() {
        super::console::out(&format!(
            "{}: ok, {} files match SHA256SUMS; the results of {} rebuilt from {} journal{} match\n",
            args.pack.display(),
            v.files,
            v.sets.join(", "),
            if v.sets.len() == 1 { "its" } else { "their" },
            if v.sets.len() == 1 { "" } else { "s" }
        ));
        return Ok(0);
    }
    let mut text = format!("{}: does NOT verify\n", args.pack.display());
    for p in &v.problems {
        text.push_str(&format!("  {p}\n"));
    }
    super::console::out(&text);
    Ok(mpf::error::exit::FAILURE)
}
