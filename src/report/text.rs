//! Small text helpers shared by the HTML and Markdown outputs.

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
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
/// character CommonMark/GFM could read as markup gets a backslash (`\\`, `|`, `` ` ``, `*`, `_`,
/// `[`, `]`, `<`, `>`, `~`, `&`, `#`), and line breaks become spaces, since they would end a
/// table row or a heading. The one Markdown escaper of mpf.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '~' | '&' | '#' => {
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
        assert_eq!(e("~~s~~ &amp; #1"), r"\~\~s\~\~ \&amp; \#1");
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
