//! Counted nouns in the lines people read: "1 run", "2 runs".

/// `n` and `noun`, the noun in the plural unless `n` is 1 (`count(1, "run")` is "1 run").
/// The plural adds an `s`: every noun passed here takes one.
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {}", plural(n, noun))
}

/// `noun` as it reads after the number `n`: `runs` unless `n` is 1.
pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        noun.to_string()
    } else {
        format!("{noun}s")
    }
}

/// Names as a sentence lists them: `a`, `a or b`, `a, b and c` (`word` is `and` or `or`).
pub(crate) fn list(names: &[&str], word: &str) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [head @ .., last] => format!("{} {word} {last}", head.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1, "run"), "1 run");
        assert_eq!(count(0, "run"), "0 runs");
        assert_eq!(count(2, "point"), "2 points");
        assert_eq!(plural(1, "set"), "set");
        assert_eq!(plural(7, "set"), "sets");
    }

    #[test]
    fn lists_read_as_sentences() {
        assert_eq!(list(&[], "and"), "");
        assert_eq!(list(&["csv"], "or"), "csv");
        assert_eq!(list(&["csv", "parquet"], "or"), "csv or parquet");
        assert_eq!(list(&["a", "b", "c"], "and"), "a, b and c");
    }
}
