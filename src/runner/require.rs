//! `require:` (SPEC §12.1): the settings every machine must have, against the facts read on
//! each machine. A setting that cannot be read is `unknown`, and `unknown` meets nothing.

use crate::machines::fold::{fold, hostlist, MachineError};
use crate::spec::Requirement;
use crate::store::{HostFacts, Unmet};

/// Every (machine, requirement) pair that does not hold.
pub(crate) fn unmet(reqs: &[Requirement], hosts: &[HostFacts]) -> Vec<Unmet> {
    let mut out = Vec::new();
    for h in hosts {
        for r in reqs {
            let found = h.setting(&r.setting);
            if found == crate::facts::UNKNOWN || !found.trim().eq_ignore_ascii_case(r.value.trim())
            {
                out.push(Unmet {
                    machine: h.name.clone(),
                    setting: r.setting.clone(),
                    found: found.to_string(),
                    required: r.value.clone(),
                });
            }
        }
    }
    out
}

/// `machine n1: governor is powersave, performance required`, one line each; machines that
/// fall short alike on one line (`machines n[1-60]: governor is powersave, ...`).
pub(crate) fn describe(unmet: &[Unmet]) -> String {
    let errors: Vec<MachineError> = unmet
        .iter()
        .map(|u| {
            let text = format!("{} is {}, {} required", u.setting, u.found, u.required);
            MachineError::new(&u.machine, text)
        })
        .collect();
    fold(&errors)
        .iter()
        .map(|g| match g.machines.as_slice() {
            [one] => format!("machine {one}: {}", g.text),
            many => format!("machines {}: {}", hostlist(many), g.text),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The settings of each machine against the requirements, for `mpf check`.
pub(crate) fn table(reqs: &[Requirement], hosts: &[HostFacts]) -> String {
    let header: Vec<String> = ["machine", "setting", "found", "required", ""]
        .map(String::from)
        .to_vec();
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .flat_map(|h| {
            reqs.iter().map(move |r| {
                let found = h.setting(&r.setting).to_string();
                let ok = unmet(std::slice::from_ref(r), std::slice::from_ref(h)).is_empty();
                vec![
                    h.name.clone(),
                    r.setting.clone(),
                    found,
                    r.value.clone(),
                    if ok { "ok" } else { "NOT MET" }.to_string(),
                ]
            })
        })
        .collect();
    crate::report::table::text_table(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, settings: &[(&str, &str)]) -> HostFacts {
        HostFacts {
            name: name.into(),
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn req(setting: &str, value: &str) -> Requirement {
        Requirement {
            setting: setting.into(),
            value: value.into(),
            loc: Default::default(),
        }
    }

    #[test]
    fn unknown_meets_nothing_and_values_compare_as_written() {
        let hosts = [
            host("a", &[("governor", "performance"), ("turbo", "false")]),
            host("b", &[("governor", "powersave")]),
        ];
        let reqs = [req("governor", "performance"), req("turbo", "false")];
        let u = unmet(&reqs, &hosts);
        assert_eq!(u.len(), 2);
        assert_eq!(
            describe(&u),
            "machine b: governor is powersave, performance required\nmachine b: turbo is unknown, false required"
        );
        assert!(table(&reqs, &hosts).contains("NOT MET"));
    }

    #[test]
    fn machines_that_fall_short_alike_are_one_line() {
        let mut hosts: Vec<HostFacts> = (1..=40)
            .map(|i| host(&format!("n{i}"), &[("governor", "powersave")]))
            .collect();
        hosts[4] = host("n5", &[("governor", "schedutil")]);
        let text = describe(&unmet(&[req("governor", "performance")], &hosts));
        assert_eq!(
            text,
            "machines n[1-4,6-40]: governor is powersave, performance required\nmachine n5: governor is schedutil, performance required"
        );
    }
}
