use std::path::PathBuf;

use mpf::error::Result;
use mpf::{prepare, RunRequest};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The experiment file (YAML)
    pub experiment: PathBuf,
    /// --set VAR=V1,V2 as for `mpf run`
    #[arg(long = "set", value_name = "VAR=V1,V2")]
    pub sets: Vec<String>,
    /// Runs per point, as for `mpf run`
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    #[command(flatten)]
    pub cluster: super::ClusterArg,
}

pub fn run(args: Args) -> Result<i32> {
    let req = RunRequest {
        experiment: Some(args.experiment.clone()),
        runs: args.runs,
        sets: args.sets,
        cluster: args.cluster.file.clone(),
        allow_unresolved: true,
        ..Default::default()
    };
    let prepared = prepare(&req)?;
    super::console::out(&prepared.describe(20));
    if let Some(r) = &prepared.resolved {
        super::console::out(&mpf::machines_table(r));
    }
    if let (Some(c), Some(why)) = (&prepared.cluster, &prepared.unresolved) {
        // Checked as far as the file goes: the roles of roles:, the machines of machines:.
        super::console::out(&format!(
            "hosts: not resolved here, so their machines are not contacted: {why}\n{}\n",
            match c.hosts.as_ref().map(|h| h.kind) {
                Some(kind) if kind.groups => {
                    "(the experiment's roles are checked once the inventory's groups are read)"
                        .to_string()
                }
                _ => format!(
                    "(the roles of roles: are checked against the experiment: {})",
                    c.roles
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        ));
    }
    if let Some(c) = &prepared.cluster {
        super::console::out(&c.binding_text());
    }
    let status = mpf::check_machines(&prepared.exp, prepared.cluster.as_ref())?;
    super::console::out(&status);
    if !prepared.exp.require.is_empty() {
        let machines = prepared.machines()?;
        let (table, met) = prepared.requirements_table(&machines)?;
        super::console::out(&format!("requirements:\n{table}"));
        if !met {
            return Err(mpf::Error::Usage(format!(
                "{}: a machine does not meet the experiment's require:",
                args.experiment.display()
            )));
        }
    }
    super::console::out(&format!("{}: ok\n", args.experiment.display()));
    Ok(0)
}
