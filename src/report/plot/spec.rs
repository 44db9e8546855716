//! Plot hints: the experiment file's `plot:` and the flags of `mpf plot`.

/// `plot: {x: parallel, y: goodput, series: zerocopy}`: which variable goes on the x axis,
/// which result is the main graph (`mpf plot -o`), and which variable makes the series.
/// Every field is optional; the automatic choice fills in the rest. The experiment file's
/// parser produces the same type.
pub use crate::model::PlotHints as PlotSpec;

impl PlotSpec {
    /// `self` with every field that `over` sets replaced (flags override the file's hints).
    /// A file hint that names the variable a flag moves elsewhere is dropped: `--x zerocopy`
    /// over `plot: {series: zerocopy}` puts zerocopy on the x axis and lets the series be chosen.
    pub fn overridden_by(&self, over: &PlotSpec) -> PlotSpec {
        let moved = |v: &Option<String>| v.is_some() && (*v == over.x || *v == over.series);
        PlotSpec {
            x: over
                .x
                .clone()
                .or_else(|| self.x.clone().filter(|_| !moved(&self.x))),
            y: over.y.clone().or_else(|| self.y.clone()),
            series: over
                .series
                .clone()
                .or_else(|| self.series.clone().filter(|_| !moved(&self.series))),
            y_scale: over.y_scale.or(self.y_scale),
            stat: over.stat.or(self.stat),
            durations: over.durations.or(self.durations),
            results: over.results.clone().or_else(|| self.results.clone()),
        }
    }

    /// The hints of a result set's automatic graphs, from the `plot:` its manifest recorded.
    pub fn from_result_set(set: &crate::store::ResultSet) -> Option<PlotSpec> {
        PlotSpec::from_manifest(&set.manifest)
    }

    /// The hints of the automatic graphs, from the `plot:` a manifest recorded.
    pub fn from_manifest(m: &crate::store::record::Manifest) -> Option<PlotSpec> {
        let is_variable = |n: &str| m.variables.iter().any(|v| v.name == n);
        m.plot.as_ref().map(|p| p.hints(&is_variable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_hints() {
        let p = PlotSpec {
            x: Some("a".into()),
            series: Some("b".into()),
            ..Default::default()
        };
        let flags = PlotSpec {
            series: Some("c".into()),
            ..Default::default()
        };
        assert_eq!(p.overridden_by(&flags).series.as_deref(), Some("c"));
        assert_eq!(p.overridden_by(&flags).x.as_deref(), Some("a"));
        let swap = PlotSpec {
            x: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(p.overridden_by(&swap).x.as_deref(), Some("b"));
        assert_eq!(p.overridden_by(&swap).series, None);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = serde_saphyr::from_str::<PlotSpec>("{x: a, z: b}\n");
        assert!(e.is_err());
    }
}
