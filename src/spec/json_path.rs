//! What a result's name and a JSON path may be: checked here at load, used by `extract`.

/// Longest `mpf-result` name kept.
pub(crate) const MAX_RESULT_NAME: usize = 128;

/// Splits a JSON path into its keys: components separated by `.`, a component in double
/// quotes taken whole (`percentile."99.000000"`). Refuses empty components and unbalanced
/// quotes.
pub(crate) fn parse_json_path(p: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = p.trim().chars().peekable();
    if chars.peek().is_none() {
        return Err("the path is empty".into());
    }
    loop {
        let mut key = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => key.push(c),
                    None => return Err("a quote is not closed".into()),
                }
            }
            if !matches!(chars.peek(), None | Some('.')) {
                return Err(format!("'.' must follow the quoted key \"{key}\""));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if c == '"' {
                    return Err("a quote inside a key (quote the whole key)".into());
                }
                key.push(c);
                chars.next();
            }
        }
        if key.is_empty() {
            return Err("a component is empty".into());
        }
        out.push(key);
        match chars.next() {
            None => return Ok(out),
            Some(_) if chars.peek().is_none() => return Err("the path ends with '.'".into()),
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_that_cannot_work_are_refused() {
        assert_eq!(parse_json_path("a.\"b.c\".0").unwrap(), ["a", "b.c", "0"]);
        assert_eq!(parse_json_path("\"x\"").unwrap(), ["x"]);
        for (bad, why) in [
            ("", "empty"),
            ("a..b", "component is empty"),
            ("a.", "ends with '.'"),
            (".a", "component is empty"),
            ("a.\"b", "not closed"),
            ("a.\"b\"c", "must follow"),
            ("a.b\"c\"", "quote inside"),
            ("a.\"\"", "component is empty"),
        ] {
            let err = parse_json_path(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
