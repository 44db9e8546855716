//! `switch:` on a variable (SPEC §18.1): the experiment's profile, checked at load.

use super::experiment::{Experiment, Profile, SwitchEntry, Tpl, DEFAULT_ROLE};
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
        let mut used: Vec<String> = exp.possible_roles();
        if !used.iter().any(|r| r == DEFAULT_ROLE) {
            used.push(DEFAULT_ROLE.to_string());
        }
        let mut entries = Vec::new();
        for e in &switch.value {
            let r = &e.value;
            if r.run.is_none() && r.revert.is_none() {
                return Err(cx.err(e, "a switch entry needs run, revert or both"));
            }
            let role = role_sel(cx, r.role.as_ref(), &e.referenced)?;
            if let Some(bad) = role
                .names
                .iter()
                .find(|x| !crate::template::is_template(x) && *x != "all" && !used.contains(x))
            {
                return Err(cx.err(
                    e,
                    format!(
                        "switch: role '{bad}' is not a role of any step, setup or cleanup entry, nor local (roles: {})",
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

#[cfg(test)]
mod tests {
    use crate::spec::parse_experiment;
    use std::path::Path;

    fn parse(text: &str) -> crate::error::Result<crate::spec::Experiment> {
        parse_experiment(Path::new("e.yaml"), text)
    }

    #[test]
    fn switch_entries_with_roles_templates_and_timeouts() {
        let e = parse(
            "variables:\n  size: [1, 2]\n  profile:\n    values: [a, b]\n    switch:\n      - role: server\n        run: tuned-adm profile {{ profile }}\n        revert: tuned-adm profile default\n        timeout: 2min\n      - revert: echo back\nsteps:\n  - role: server\n    run: echo {{ size }}\n",
        )
        .unwrap();
        let p = e.profile.unwrap();
        assert_eq!(e.variables[p.variable].name, "profile");
        assert_eq!(p.switch.len(), 2);
        assert_eq!(p.switch[0].role.names, ["server"]);
        assert_eq!(
            p.switch[0].run.as_ref().unwrap().text,
            "tuned-adm profile {{ profile }}"
        );
        assert_eq!(p.switch[0].timeout, std::time::Duration::from_secs(120));
        assert!(p.switch[1].run.is_none());
        assert_eq!(p.switch[1].role.names, ["local"]);
        assert_eq!(p.switch[1].loc.line, 10);
        assert!(parse("steps:\n  - run: 'true'\n")
            .unwrap()
            .profile
            .is_none());
    }

    #[test]
    fn a_searched_or_monotonic_switch_variable_is_refused() {
        let base = "variables:\n  cores: [1, 2]\n  rate: {range: [1, 100]}\n  profile:\n    values: [a, b]\n    switch: [{run: x}]\nsteps:\n  - run: echo loss=0\n    results:\n      loss: 'loss=(\\S+)'\n";
        let ok = format!("{base}search: {{variable: rate, condition: loss == 0}}\n");
        assert!(parse(&ok).unwrap().profile.is_some());
        let mono = format!(
            "{base}search: {{variable: rate, condition: loss == 0, monotonic: [profile]}}\n"
        );
        let err = parse(&mono).unwrap_err().to_string();
        assert!(
            err.contains("e.yaml:6") && err.contains("monotonic"),
            "{err}"
        );
        let searched = base
            .replace("  rate: {range: [1, 100]}\n", "")
            .replace("values: [a, b]", "range: [1, 100]")
            + "search: {variable: profile, condition: loss == 0}\n";
        let err = parse(&searched).unwrap_err().to_string();
        assert!(err.contains("is searched"), "{err}");
    }
}
