//! `regex: 'PATTERN'` (or the result as a plain string): the first capture group (or the group
//! named `value`) of the first match, or of every match with `all: true` (a series).

use std::sync::Arc;

use super::{too_long, Found, Kind, KindEntry, Options, Searched, Series, MAX_SERIES_VALUES};

pub(super) const KIND: KindEntry = KindEntry {
    name: "regex",
    parse,
};

#[derive(Debug, Clone)]
pub struct Regex {
    pub re: regex::Regex,
    /// Every match (a series) rather than the first.
    pub all: bool,
}

fn parse(o: &Options) -> Result<Arc<dyn Kind>, String> {
    // Line by line, as people read output: `^` and `$` anchor lines.
    let re = regex::RegexBuilder::new(o.value)
        .multi_line(true)
        .size_limit(1 << 22)
        .build()
        .map_err(|err| format!("invalid regex: {}", crate::spec::de::regex_message(&err)))?;
    let has_value = re.capture_names().flatten().any(|n| n == "value");
    if re.captures_len() < 2 && !has_value {
        return Err("the regex needs a capture group (or a group named 'value')".into());
    }
    Ok(Arc::new(Regex { re, all: o.all }))
}

impl Kind for Regex {
    fn series(&self) -> Series {
        if self.all {
            Series::Always
        } else {
            Series::Never
        }
    }

    fn apply(&self, t: &Searched) -> Result<Found, String> {
        let grab = |c: regex::Captures| -> Option<String> {
            c.name("value")
                .or_else(|| c.get(1))
                .map(|m| m.as_str().to_string())
        };
        let nothing = || {
            format!(
                "regex /{}/ matched nothing; {}",
                self.re.as_str(),
                t.first_lines()
            )
        };
        if !self.all {
            let text = self
                .re
                .captures(t.text)
                .and_then(grab)
                .ok_or_else(nothing)?;
            return t.convert(&text).map(Found::One);
        }
        let mut list = Vec::new();
        for c in self.re.captures_iter(t.text) {
            if list.len() >= MAX_SERIES_VALUES {
                return Err(too_long());
            }
            if let Some(text) = grab(c) {
                list.push(t.convert(&text)?);
            }
        }
        if list.is_empty() {
            return Err(nothing());
        }
        Ok(Found::Series(list))
    }
}
