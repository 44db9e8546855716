//! Errors that many machines share, printed once (SPEC §14.4): `node[03-60]: exit 1: ...`.
//! Two machines' errors are the same when their texts are, once each machine's own names (its
//! host name, its address) are taken out of its text; a folded text says `<host>` where each
//! machine's text named it.

/// What a folded text says where each machine's text named the machine.
pub(crate) const HOST: &str = "<host>";

/// One machine's error: the names the machine goes by in it (its host name first, then its
/// address or ssh destination), and the text.
#[derive(Debug, Clone)]
pub(crate) struct MachineError {
    pub names: Vec<String>,
    pub text: String,
}

impl MachineError {
    pub(crate) fn new(machine: &str, text: impl Into<String>) -> MachineError {
        MachineError {
            names: vec![machine.to_string()],
            text: text.into(),
        }
    }

    /// Another name the machine goes by in the text (its address, `user@address`).
    pub(crate) fn alias(mut self, name: &str) -> MachineError {
        if !name.is_empty() && !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_string());
        }
        self
    }

    fn machine(&self) -> &str {
        self.names.first().map_or("", String::as_str)
    }

    /// The text with each of the machine's names as `<host>`, and without a leading
    /// `<host>: ` (the folded line starts with the machines).
    fn shape(&self) -> String {
        let mut names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        // `root@10.0.0.1` before `10.0.0.1`: the longer name is replaced whole.
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        let mut text = self.text.clone();
        for n in names.into_iter().filter(|n| !n.is_empty()) {
            text = replace_word(&text, n, HOST);
        }
        match text.strip_prefix(&format!("{HOST}: ")) {
            Some(rest) => rest.to_string(),
            None => text,
        }
    }
}

/// Machines that share one error.
#[derive(Debug, PartialEq)]
pub(crate) struct Folded {
    pub machines: Vec<String>,
    /// The error as the one machine said it, or with `<host>` for each machine's names.
    pub text: String,
}

impl Folded {
    /// `node[03-60]: text`; one machine's error as it was (it names its machine).
    pub(crate) fn line(&self) -> String {
        match self.machines.as_slice() {
            [one] if self.text.contains(one.as_str()) => self.text.clone(),
            machines => format!("{}: {}", hostlist(machines), self.text),
        }
    }
}

/// The machines as a hostlist (`node[03-60]`).
pub(crate) fn hostlist(machines: &[String]) -> String {
    crate::spec::hostlist::compress(machines)
}

/// Errors grouped by their shape, groups in the order of their first machine, each group's
/// machines in the order given.
pub(crate) fn fold(errors: &[MachineError]) -> Vec<Folded> {
    let mut groups: Vec<(String, Vec<&MachineError>)> = Vec::new();
    for e in errors {
        let shape = e.shape();
        match groups.iter_mut().find(|(s, _)| *s == shape) {
            Some((_, es)) => es.push(e),
            None => groups.push((shape, vec![e])),
        }
    }
    groups
        .into_iter()
        .map(|(shape, es)| Folded {
            machines: es.iter().map(|e| e.machine().to_string()).collect(),
            text: match es.as_slice() {
                [one] => one.text.clone(),
                _ => shape,
            },
        })
        .collect()
}

/// Every folded line, one per group.
pub(crate) fn fold_lines(errors: &[MachineError]) -> String {
    fold(errors)
        .iter()
        .map(Folded::line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with every whole occurrence of `word` replaced: not where it is part of a longer
/// name (`n1` in `n10`, `10.0.0.1` in `10.0.0.12`).
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let name_char = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back();
        let after_text = &rest[i + word.len()..];
        let after = after_text.chars().next();
        // A dot ends a sentence as often as it joins a name: a name followed by a dot and
        // then no name character is a whole word.
        let after_is_name = match after {
            Some('.') => after_text[1..].chars().next().is_some_and(name_char),
            Some(c) => name_char(c),
            None => false,
        };
        out.push_str(&rest[..i]);
        if before.is_some_and(name_char) || after_is_name {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = after_text;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: std::ops::RangeInclusive<u32>) -> Vec<String> {
        n.map(|i| format!("node{i:02}")).collect()
    }

    #[test]
    fn errors_that_differ_only_by_the_machine_are_folded() {
        let mut errors: Vec<MachineError> = names(3..=60)
            .iter()
            .map(|m| MachineError::new(m, format!("{m}: exit 1: mkdir: /scratch/{m}: No space")))
            .collect();
        errors.insert(
            0,
            MachineError::new("node01", "node01: timed out after 10s"),
        );
        errors.push(MachineError::new("node61", "node61: exit 2: other"));
        errors.push(MachineError::new("node62", "node62: exit 2: other"));
        let folded = fold(&errors);
        assert_eq!(folded.len(), 3, "{folded:?}");
        assert_eq!(folded[0].line(), "node01: timed out after 10s");
        assert_eq!(
            folded[1].line(),
            "node[03-60]: exit 1: mkdir: /scratch/<host>: No space"
        );
        assert_eq!(folded[1].machines.len(), 58);
        assert_eq!(folded[2].line(), "node[61-62]: exit 2: other");
        assert_eq!(
            fold_lines(&errors).lines().count(),
            3,
            "{}",
            fold_lines(&errors)
        );
    }

    #[test]
    fn addresses_are_names_of_the_machine_too() {
        let e = |m: &str, addr: &str| {
            MachineError::new(
                m,
                format!("cannot connect to machine {m} (root@{addr}): ssh: connect to host {addr} port 22: Connection refused."),
            )
            .alias(addr)
            .alias(&format!("root@{addr}"))
        };
        let folded = fold(&[e("n1", "10.0.0.1"), e("n2", "10.0.0.2")]);
        assert_eq!(
            folded.iter().map(Folded::line).collect::<Vec<_>>(),
            ["n[1-2]: cannot connect to machine <host> (<host>): ssh: connect to host <host> port 22: Connection refused."]
        );
        // One machine: its error as it said it.
        let one = fold(&[e("n1", "10.0.0.1")]);
        assert_eq!(
            one[0].line(),
            "cannot connect to machine n1 (root@10.0.0.1): ssh: connect to host 10.0.0.1 port 22: Connection refused."
        );
        // A text that does not name its machine gets the name in front.
        assert_eq!(
            fold(&[MachineError::new("n1", "exit 1")])[0].line(),
            "n1: exit 1"
        );
    }

    #[test]
    fn a_name_inside_a_longer_name_is_not_the_machine() {
        assert_eq!(
            replace_word("n1 n10 xn1 n1-b n1. n1.x", "n1", "H"),
            "H n10 xn1 n1-b H. n1.x"
        );
        assert_eq!(
            replace_word("10.0.0.1 and 10.0.0.12", "10.0.0.1", "H"),
            "H and 10.0.0.12"
        );
        // Different texts on machines with overlapping names stay apart.
        let folded = fold(&[
            MachineError::new("n1", "n1: disk n10 full"),
            MachineError::new("n10", "n10: disk n10 full"),
        ]);
        assert_eq!(folded.len(), 2, "{folded:?}");
    }
}
