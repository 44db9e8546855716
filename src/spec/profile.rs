//! `switch:` on a variable (SPEC §18.1): the experiment's profile, checked at load.

use super::experiment::{Experiment, Profile, SwitchEntry, Tpl};
use super::raw::{RawVar, RawVariables};
use super::validate::{role_sel, Ctx, DEFAULT_SETUP_TIMEOUT};
use crate::error::Result;

/// The variable with `switch:` and its entries; `None` when no variable has one. One variable
/// per experiment may have it: blocks of two switched variables would have to nest.
pub(super) fn profile(cx: &Ctx, raw: &RawVariables, exp: &Experiment) -> Result<Option<Profile>> {
    let mut out: Option<Profile> = None;
    for (name, var) in &raw.vars {
        let RawVar::Map(m) = &var.value else { continue };
        let Some(switch) = m.switch.as_deref() else {
            continue;
        };
        let n = name.value.as_str();
        if let Some(p) = &out {
            return Err(cx.err(
                switch,
                format!(
                    "variable '{n}': only one variable may have switch: ('{}' has one already)",
                    exp.variables[p.variable].name
                ),
            ));
        }
        let Some(index) = exp.variables.iter().position(|v| v.name == n) else {
            continue;
        };
        if m.when.is_some() {
            return Err(cx.err(
                switch,
                format!("variable '{n}': a variable with switch: cannot have when: (every run needs one of its values)"),
            ));
        }
        if let Some(s) = &exp.search {
            if s.variable == index {
                return Err(cx.err(
                    switch,
                    format!("variable '{n}' is searched: its probes cannot be blocks of switch:"),
                ));
            }
            if s.monotonic.contains(&index) {
                return Err(cx.err(
                    switch,
                    format!("variable '{n}' has switch: and is monotonic in the search: a search along it would need its blocks in turn; drop it from monotonic:"),
                ));
            }
        }
        if switch.value.is_empty() {
            return Err(cx.err(switch, format!("variable '{n}': switch: has no entries")));
        }
        let used: Vec<String> = exp.possible_roles();
        let mut entries = Vec::new();
        for e in &switch.value {
            let r = &e.value;
            if r.run.is_none() && r.revert.is_none() {
                return Err(cx.err(e, "a switch entry needs run, revert or both"));
            }
            let role = role_sel(cx, r.role.as_ref(), &e.referenced)?;
            if let Some(bad) = role.names.iter().find(|x| {
                !x.contains("{{") && !x.contains("{%") && *x != "all" && !used.contains(x)
            }) {
                return Err(cx.err(
                    e,
                    format!(
                        "switch: role '{bad}' is not a role of any step, setup or cleanup entry (roles: {})",
                        used.join(", ")
                    ),
                ));
            }
            let tpl = |s: &serde_saphyr::Spanned<String>| Tpl {
                text: s.value.clone(),
                loc: cx.loc(s),
            };
            entries.push(SwitchEntry {
                role,
                run: r.run.as_ref().map(tpl),
                revert: r.revert.as_ref().map(tpl),
                timeout: r.timeout.map(|d| d.0).unwrap_or(DEFAULT_SETUP_TIMEOUT),
                loc: cx.loc(e),
            });
        }
        out = Some(Profile {
            variable: index,
            switch: entries,
        });
    }
    Ok(out)
}
