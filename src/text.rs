//! Small text helpers shared by the HTML and Markdown outputs.

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for inline Markdown (a table cell, a heading, a list item, a quote): every
/// character CommonMark/GFM could read as inline markup gets a backslash (`\\`, `|`, `` ` ``,
/// `*`, `_`, `[`, `]`, `<`, `>`, `~`, `&`), so does what would start a block at the start of the
/// text (`#`, a `-` or `+` before a space), and line breaks become spaces, since they would end
/// a table row or a heading. The one Markdown escaper of mpf.
pub(crate) fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let lead = s.len() - s.trim_start_matches([' ', '\t']).len();
    let (indent, text) = s.split_at(lead);
    out.push_str(indent);
    let mut first = text.chars();
    if matches!(
        (first.next(), first.next()),
        (Some('#'), _) | (Some('-' | '+'), None | Some(' ' | '\t'))
    ) {
        out.push('\\');
    }
    for c in text.chars() {
        match c {
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markdown_escapes_every_character_the_old_escapers_disagreed_on() {
        let e = super::escape_markdown;
        // Backslashes and pipes: one escaper left backslashes alone, so `a\|b` ended the cell.
        assert_eq!(e(r"a\|b"), r"a\\\|b");
        assert_eq!(e("x|y"), r"x\|y");
        // Line breaks, `\r` included (only one of them handled it), end neither row nor heading.
        assert_eq!(e("one\ntwo\r\nthree"), "one two  three");
        // Emphasis, code, links, HTML, strikethrough, entities, headings: none of them escaped it.
        assert_eq!(e("*bold* _it_ `code`"), r"\*bold\* \_it\_ \`code\`");
        assert_eq!(e("[x](y) <b>"), r"\[x\](y) \<b\>");
        assert_eq!(e("~~s~~ &amp; #1"), r"\~\~s\~\~ \&amp; #1");
        // What would start a heading or a list item at the start, and only there.
        assert_eq!(e("# h"), r"\# h");
        assert_eq!(e("  - item"), r"  \- item");
        assert_eq!(e("+"), r"\+");
        assert_eq!(e("-10.2%, a - b + c"), "-10.2%, a - b + c");
        // Plain text, numbers and non-ASCII pass through.
        assert_eq!(e("cores=4, 1.5 GB/s ± 2%"), "cores=4, 1.5 GB/s ± 2%");
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            super::escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
