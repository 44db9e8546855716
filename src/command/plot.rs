//! `mpf plot`: one set's graphs, several sets overlaid (one series per set), or one run's
//! monitoring samples; to one file or into the set's `plots/`.

use std::path::{Path, PathBuf};

use crate::error::{exit, Error, Result};
use crate::report::plot::figure::{needs_records, GraphSource};
use crate::report::plot::output::{file_stem, Graphed};
use crate::report::plot::{overlay, plot_all, plot_one, timeseries, PlotSpec};
use crate::store::compact::CompactSet;
use crate::store::layout::RunId;
use crate::store::{self, ResultSet};

/// `--run N --metric M [--role R]`: one run's monitoring samples instead of the results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Samples {
    /// The run's index, as `mpf show` lists it.
    pub run: usize,
    /// A full metric name, or what comes before a dot.
    pub metric: String,
    /// Only this role's samples (or its machines', `role.host`).
    pub role: Option<String>,
}

/// What `mpf plot` is asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The directory holding result sets.
    pub root: PathBuf,
    /// One set, or several of one experiment to overlay.
    pub ids: Vec<String>,
    /// With several sets: their labels, comma-separated.
    pub labels: Option<String>,
    /// The hints the flags give; they override the set's `plot:`.
    pub hints: PlotSpec,
    /// One graph to this file (.svg, .png or .pdf) instead of every graph into `plots/`.
    pub output: Option<PathBuf>,
    pub samples: Option<Samples>,
}

/// The files drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drawn {
    /// The one file asked for, and what it shows.
    One { path: PathBuf, what: String },
    /// Every file written into a directory.
    Files(Vec<PathBuf>),
}

/// What `mpf plot` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub drawn: Drawn,
    /// What the user should know (a set with nothing to draw).
    pub notes: Vec<String>,
    /// The graphs that could not be drawn, with why; the others are drawn all the same.
    pub failures: Option<String>,
}

impl Outcome {
    /// 1 when a graph could not be drawn, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.failures.is_some() {
            exit::FAILURE
        } else {
            exit::OK
        }
    }
}

/// Runs `mpf plot`.
pub fn plot(req: &Request) -> Result<Outcome> {
    if req.ids.len() > 1 {
        return plot_overlay(req);
    }
    if req.labels.is_some() {
        return Err(Error::Usage(
            "--label names the sets of an overlay: give two sets or more".into(),
        ));
    }
    let id = req
        .ids
        .first()
        .ok_or_else(|| Error::Usage("give a result set to plot".into()))?;
    if let Some(samples) = &req.samples {
        let set = store::open(&req.root, id)?;
        return plot_samples(&set, samples, req.output.as_deref());
    }
    let set = Graphed::load(&store::resolve(&req.root, id)?)?;
    let hints = PlotSpec::from_manifest(set.source().manifest())
        .unwrap_or_default()
        .overridden_by(&req.hints);
    let plots = set.dir().join("plots");
    draw(set.source(), &hints, req.output.as_deref(), &plots)
}

/// `mpf plot A B [C...]`: the sets merged, one series per set; every result's graph goes into
/// the last set's `plots/overlay/` (or one graph to the output file).
fn plot_overlay(req: &Request) -> Result<Outcome> {
    if req.samples.is_some() {
        return Err(Error::Usage(
            "--run draws one run of one set: give one set".into(),
        ));
    }
    if req.hints.series.is_some() {
        return Err(Error::Usage(
            "with several sets the series are the sets: leave out --series (--x chooses the x axis)"
                .into(),
        ));
    }
    if req.ids.len() > overlay::MAX_SETS {
        return Err(Error::Usage(format!(
            "an overlay draws at most {} sets, not {}",
            overlay::MAX_SETS,
            req.ids.len()
        )));
    }
    // The sets' compact forms, merged without their records unless their graphs need them.
    let sets = req
        .ids
        .iter()
        .map(|id| store::compact::open(&req.root, id))
        .collect::<Result<Vec<CompactSet>>>()?;
    let labels = overlay::labels(
        &sets.iter().map(|s| &s.manifest).collect::<Vec<_>>(),
        req.labels.as_deref(),
    )?;
    let out_dir = sets[sets.len() - 1].dir.join("plots").join("overlay");
    let merged = overlay::CompactOverlay::merge(sets.iter().collect(), &labels)?;
    let mut hints = PlotSpec::from_manifest(&merged.manifest)
        .unwrap_or_default()
        .overridden_by(&req.hints);
    hints.series = Some(merged.variable.clone());
    if hints.x.as_deref() == Some(merged.variable.as_str()) {
        hints.x = None;
    }
    if !needs_records(&merged.manifest) {
        return draw(&merged, &hints, req.output.as_deref(), &out_dir);
    }
    drop(merged);
    drop(sets);
    let sets = req
        .ids
        .iter()
        .map(|id| store::open(&req.root, id))
        .collect::<Result<Vec<ResultSet>>>()?;
    let merged = overlay::merge(sets, &labels)?;
    draw(&merged.set, &hints, req.output.as_deref(), &out_dir)
}

/// One graph to `output`, or every result's graph into `dir`.
fn draw<S: GraphSource + ?Sized>(
    set: &S,
    hints: &PlotSpec,
    output: Option<&Path>,
    dir: &Path,
) -> Result<Outcome> {
    Ok(match output {
        Some(path) => {
            let fig = plot_one(set, path, hints)?;
            Outcome {
                drawn: Drawn::One {
                    path: path.to_path_buf(),
                    what: fig.choice.result,
                },
                notes: Vec::new(),
                failures: None,
            }
        }
        None => {
            let plotted = plot_all(set, dir, Some(hints))?;
            let mut notes = Vec::new();
            if plotted.written.is_empty() && plotted.failed.is_empty() {
                notes.push(format!(
                    "{} has no numeric result to plot",
                    set.manifest().id
                ));
            }
            let failures = plotted.failures();
            Outcome {
                drawn: Drawn::Files(plotted.written),
                notes,
                failures,
            }
        }
    })
}

/// The files one run's samples go to: the output, else an SVG and a PNG in `dir` named after
/// the run and the metric.
fn sample_paths(dir: &Path, run: usize, metric: &str) -> Vec<PathBuf> {
    let stem = format!("run-{}-{}", RunId(run), file_stem(metric));
    ["svg", "png"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .collect()
}

/// `--run N --metric M`: one run's samples, to the output or as SVG and PNG into `plots/`.
fn plot_samples(set: &ResultSet, s: &Samples, output: Option<&Path>) -> Result<Outcome> {
    let paths = match output {
        Some(p) => vec![p.to_path_buf()],
        None => {
            let dir = set.dir.join("plots");
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("failed to create {}", dir.display()), e))?;
            sample_paths(&dir, s.run, &s.metric)
        }
    };
    let fig = timeseries::plot_run(set, s.run, &s.metric, s.role.as_deref(), &paths)?;
    let drawn = match output {
        Some(p) => Drawn::One {
            path: p.to_path_buf(),
            what: fig.title,
        },
        None => Drawn::Files(paths),
    };
    Ok(Outcome {
        drawn,
        notes: Vec::new(),
        failures: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ids: &[&str]) -> Request {
        Request {
            root: PathBuf::from("/nonexistent/mpf"),
            ids: ids.iter().map(|s| s.to_string()).collect(),
            labels: None,
            hints: PlotSpec::default(),
            output: None,
            samples: None,
        }
    }

    fn usage(req: &Request) -> String {
        match plot(req) {
            Err(e @ Error::Usage(_)) => e.to_string(),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn an_overlay_refuses_what_only_one_set_can_have() {
        let mut req = request(&["a", "b"]);
        req.samples = Some(Samples {
            run: 0,
            metric: "cpu".into(),
            role: None,
        });
        assert!(usage(&req).contains("--run draws one run of one set"));
        req.samples = None;
        req.hints.series = Some("v".into());
        assert!(usage(&req).contains("the series are the sets"));
        let many: Vec<String> = (0..=overlay::MAX_SETS).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        assert!(usage(&request(&refs)).contains("at most 12 sets, not 13"));
    }

    #[test]
    fn labels_need_an_overlay() {
        let mut req = request(&["a"]);
        req.labels = Some("x".into());
        assert!(usage(&req).contains("--label names the sets of an overlay"));
        assert!(usage(&request(&[])).contains("give a result set"));
    }

    #[test]
    fn a_runs_samples_are_named_after_run_and_metric() {
        let paths = sample_paths(Path::new("p"), 7, "net.eth0.rx");
        assert_eq!(paths.len(), 2);
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names[0].starts_with("run-0007-") && names[0].ends_with(".svg"));
        assert!(names[1].ends_with(".png"));
    }

    #[test]
    fn failed_graphs_exit_1() {
        let o = Outcome {
            drawn: Drawn::Files(vec![]),
            notes: vec![],
            failures: Some("1 of 2 graphs not drawn".into()),
        };
        assert_eq!(o.exit_code(), exit::FAILURE);
    }
}
