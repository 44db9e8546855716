//! Profiles (SPEC §18.1): the switched variable's blocks. Before a block its `run` entries
//! switch the machines to the block's value and the machines' facts are gathered again; after
//! it (also after an interruption) its `revert` entries switch them back. `enter_block` and
//! `leave_block` are the hook: anything that must change per value of a variable (a
//! container's image: `Machines::enter_value`) runs there.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::machines::Machines;
use crate::plan::Plan;
use crate::runner::events::{Control, Event, Phase};
use crate::spec::{Cluster, Experiment, SetupStep, Tpl};
use crate::store::writer::SetWriter;
use crate::store::{now_rfc3339, BlockInfo};

/// One block: a value of the switched variable.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Block {
    /// The value's index in the variable's values.
    pub cell: u32,
    pub value: Value,
    pub label: String,
    /// 1-based place in the block order, and the number of blocks.
    pub number: usize,
    pub of: usize,
}

/// The blocks in the order they run; empty without a profile.
pub(crate) fn blocks(exp: &Experiment) -> Vec<Block> {
    let Some(p) = &exp.profile else {
        return Vec::new();
    };
    let var = &exp.variables[p.variable];
    let order = crate::plan::blocks::block_order(exp);
    let of = order.len();
    order
        .into_iter()
        .enumerate()
        .map(|(i, cell)| Block {
            cell,
            value: var.values.get(cell as usize).unwrap_or(Value::Null),
            label: var
                .labels
                .get(cell as usize)
                .unwrap_or_default()
                .to_string(),
            number: i + 1,
            of,
        })
        .collect()
}

/// The cluster with each container image that names the profile's variable rendered for the
/// first block: the containers start from it, and `enter_block` switches them.
pub(crate) fn first_images(cluster: &Cluster, exp: &Experiment) -> Cluster {
    let mut cluster = cluster.clone();
    let first = blocks(exp).into_iter().next();
    for m in &mut cluster.machines {
        if let (Some(c), Some(b)) = (m.container.as_mut(), &first) {
            if let Some(Ok(image)) = c.template.as_ref().map(|t| t.render(&b.value)) {
                c.image = image;
            }
        }
    }
    cluster
}

/// Whether `point` of `plan` belongs to `block` (of the experiment's profile).
pub(crate) fn in_block(exp: &Experiment, block: &Block, plan: &Plan, point: usize) -> bool {
    exp.profile
        .as_ref()
        .is_some_and(|p| plan.point_cells(point)[p.variable] == block.cell)
}

/// The switch entries' `run` (or `revert`) parts, as setup entries.
fn entries(exp: &Experiment, revert: bool) -> Vec<SetupStep> {
    let Some(p) = &exp.profile else {
        return Vec::new();
    };
    p.switch
        .iter()
        .filter_map(|e| {
            let run = if revert { &e.revert } else { &e.run };
            run.as_ref().map(|run| SetupStep {
                role: e.role.clone(),
                sync: None,
                packages: None,
                run: Some(run.clone()),
                timeout: e.timeout,
                loc: e.loc.clone(),
            })
        })
        .collect()
}

fn variable_name(exp: &Experiment) -> &str {
    exp.profile
        .as_ref()
        .map_or("", |p| exp.variables[p.variable].name.as_str())
}

/// Runs the `run` entries (`Phase::Switch`) or the `revert` entries (`Phase::Revert`) with
/// the switched variable at `block`'s value; logs in `switch/<machine>.log`.
async fn run_phase(
    exp: &Experiment,
    machines: &Machines,
    writer: &SetWriter,
    control: &Control,
    block: &Block,
    phase: Phase,
) -> Result<()> {
    crate::runner::setup::run_entries(
        exp,
        &entries(exp, phase == Phase::Revert),
        phase,
        machines,
        &writer.manifest.id,
        &writer.dir().join("switch"),
        control,
        Some((variable_name(exp), &block.value)),
    )
    .await
    .map(drop)
}

/// Switches the machines to `block`'s value: its `run` entries (logs in `switch/`), then the
/// machines' facts, recorded as a new block of the manifest. `Ok(Err(message))` when the
/// switch failed (the block's runs fail with `message`); `Err(Interrupted)` on a cancel.
pub(crate) async fn enter_block(
    exp: &Experiment,
    machines: &Machines,
    writer: &mut SetWriter,
    control: &Control,
    block: &Block,
) -> Result<std::result::Result<(), String>> {
    let name = variable_name(exp);
    control.emit(Event::Block {
        variable: name.to_string(),
        value: block.value.clone(),
        label: block.label.clone(),
        number: block.number,
        of: block.of,
    });
    // A container whose image names the variable is restarted from its image first: the
    // switch's entries then run in the new container.
    let switched = match machines.enter_value(name, &block.value).await {
        Ok(()) => run_phase(exp, machines, writer, control, block, Phase::Switch).await,
        Err(e) => Err(e),
    };
    let (error, interrupted) = match switched {
        Ok(()) => (None, false),
        Err(Error::Interrupted) => (Some("interrupted while switching".to_string()), true),
        Err(e @ Error::Input { .. }) => return Err(e),
        Err(e) => (Some(e.to_string()), false),
    };
    let facts = match error {
        None => crate::runner::experiment::host_facts(machines).await,
        Some(_) => Vec::new(),
    };
    writer.manifest.blocks.push(BlockInfo {
        variable: name.to_string(),
        value: block.value.clone(),
        label: block.label.clone(),
        switched_at: now_rfc3339(),
        error: error.clone(),
        facts,
        runs: Vec::new(),
        reverted_at: None,
        revert_error: None,
    });
    writer.write_manifest()?;
    if interrupted {
        return Err(Error::Interrupted);
    }
    Ok(match error {
        None => Ok(()),
        Some(e) => {
            control.emit(Event::Warning(format!(
                "{name} = {}: the switch failed; the block's runs fail with it:\n{e}",
                block.label
            )));
            Err(e)
        }
    })
}

/// Switches the machines back after `block`: its `revert` entries (logs in `switch/`), run to
/// their end even after a cancel, like cleanup. A failure is warned about and recorded.
pub(crate) async fn leave_block(
    exp: &Experiment,
    machines: &Machines,
    writer: &mut SetWriter,
    control: &Control,
    block: &Block,
) -> Result<()> {
    let name = variable_name(exp);
    let reverted = run_phase(exp, machines, writer, control, block, Phase::Revert).await;
    let error = reverted.err().map(|e| e.to_string());
    if let Some(e) = &error {
        control.emit(Event::Warning(format!(
            "{name} = {}: the revert failed: {e}",
            block.label
        )));
    }
    if let Some(b) = writer.manifest.blocks.last_mut() {
        b.reverted_at = Some(now_rfc3339());
        b.revert_error = error;
    }
    writer.write_manifest()
}

/// The blocks for `--dry-run`: per block its value, its runs (or a search's combinations)
/// and the switch's commands.
pub(crate) fn describe(exp: &Experiment, plan: &Plan) -> String {
    let Some(p) = &exp.profile else {
        return String::new();
    };
    let name = &exp.variables[p.variable].name;
    let mut s = format!(
        "blocks of {name} (switched before each block, reverted after it, also after an interruption):\n"
    );
    for b in blocks(exp) {
        let amount = if exp.search.is_some() {
            let n = (0..plan.groups)
                .filter(|&g| in_block(exp, &b, plan, g))
                .count();
            crate::words::count(n, "combination")
        } else {
            let n = plan
                .runs()
                .filter(|r| in_block(exp, &b, plan, r.point))
                .count();
            if exp.adaptive.is_some() {
                format!("{} in the first round", crate::words::count(n, "run"))
            } else {
                crate::words::count(n, "run")
            }
        };
        s.push_str(&format!(
            "  block {}: {name} = {}, {amount}\n",
            b.number, b.label
        ));
        for e in &p.switch {
            let roles = e.role.names.join(", ");
            for (what, tpl) in [("switch", &e.run), ("revert", &e.revert)] {
                if let Some(t) = tpl {
                    s.push_str(&format!(
                        "    {what} on {roles}: {}\n",
                        shown(exp, t, name, &b.value)
                    ));
                }
            }
        }
    }
    s
}

/// A switch command with the block's value (and the first value of every other variable), as
/// far as it renders without machines; as written otherwise.
fn shown(exp: &Experiment, t: &Tpl, name: &str, value: &Value) -> String {
    let mut ctx = Map::new();
    for v in &exp.variables {
        ctx.insert(v.name.clone(), v.values.get(0).unwrap_or(Value::Null));
    }
    ctx.insert(name.to_string(), value.clone());
    let text = crate::template::render(&t.text, &minijinja::Value::from_serialize(&ctx))
        .unwrap_or_else(|_| t.text.clone());
    let one_line: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    one_line.join("; ")
}
