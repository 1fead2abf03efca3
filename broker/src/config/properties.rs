//! Java `.properties` text, as `java.util.Properties.load` reads it and `store` writes it.
//!
//! Reading follows the JDK's rules rather than a simplified `key=value` split, because RocketMQ
//! users write `brokerName = broker-a`, `brokerName: broker-a` and `brokerName broker-a`, continue
//! long `namesrvAddr` lists with a trailing backslash, and copy files the JDK wrote (with `\:` and
//! `\uXXXX` escapes). Each key keeps the line it started on so errors can say `broker.conf:12`.
//!
//! Writing escapes everything the reader would otherwise change and emits pure ASCII (other
//! characters as `\uXXXX`), so the JDK — which reads these files as ISO-8859-1 — and this reader
//! see the same text.

use super::error::{ConfigError, Location};

/// One key and its value, with the (1-based) line its logical line starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The unescaped key.
    pub key: String,
    /// The unescaped value, exactly as written (trailing whitespace included, as the JDK keeps it).
    pub value: String,
    /// First line of the logical line holding the entry.
    pub line: usize,
}

/// Parsed properties: one entry per distinct key, in the order of the lines that set them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<Entry>,
}

/// Characters the JDK treats as whitespace in properties text.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

impl Properties {
    /// Parses properties text. `file` names the source in errors. A key set twice keeps the last
    /// value (and its line), as `Properties.load` does.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        // A UTF-8 byte order mark would otherwise become an invisible part of the first key.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut properties = Self::default();
        let mut pending: Option<(usize, String)> = None;
        for (index, natural) in natural_lines(text).enumerate() {
            let line_number = index + 1;
            let content = natural.trim_start_matches(is_blank);
            let (start, mut logical) = match pending.take() {
                Some(open) => open,
                // Comments are recognised only at the start of a logical line, never on a
                // continuation line, and a comment never continues onto the next line.
                None if content.is_empty() || content.starts_with(['#', '!']) => continue,
                None => (line_number, String::new()),
            };
            logical.push_str(content);
            let trailing_backslashes = logical.chars().rev().take_while(|c| *c == '\\').count();
            if trailing_backslashes % 2 == 1 {
                logical.pop();
                pending = Some((start, logical));
            } else {
                properties.insert(split_entry(&logical, start, file)?);
            }
        }
        // The JDK drops a backslash that continues into the end of the file.
        if let Some((start, logical)) = pending {
            properties.insert(split_entry(&logical, start, file)?);
        }
        Ok(properties)
    }

    fn insert(&mut self, entry: Entry) {
        self.entries.retain(|e| e.key != entry.key);
        self.entries.push(entry);
    }

    /// The entry for `key`, if set.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// All entries, ordered by the line that set them.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// `(key, value)` pairs, ordered by the line that set them.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|e| (e.key.as_str(), e.value.as_str()))
    }
}

/// Splits text at `\n`, `\r\n` and lone `\r`, the three line ends the JDK accepts.
fn natural_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\n', '\r']) {
            Some(end) => {
                let skip = if current[end..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&current[end + skip..]);
                Some(&current[..end])
            }
            None => {
                rest = None;
                // Text ending in a line break has no further (empty) line.
                (!current.is_empty()).then_some(current)
            }
        }
    })
}

/// Splits a logical line into key and value: the key ends at the first unescaped `=`, `:` or
/// whitespace; then whitespace, at most one `=`/`:`, and whitespace again separate it from the
/// value.
fn split_entry(logical: &str, line: usize, file: &str) -> Result<Entry, ConfigError> {
    let mut key_end = logical.len();
    let mut value_start = logical.len();
    let mut has_separator = false;
    let mut escaped = false;
    for (i, c) in logical.char_indices() {
        if !escaped && (c == '=' || c == ':' || is_blank(c)) {
            key_end = i;
            value_start = i + c.len_utf8();
            has_separator = c == '=' || c == ':';
            break;
        }
        escaped = c == '\\' && !escaped;
    }
    let mut value = &logical[value_start..];
    loop {
        value = value.trim_start_matches(is_blank);
        match value.strip_prefix(['=', ':']) {
            Some(after) if !has_separator => {
                has_separator = true;
                value = after;
            }
            _ => break,
        }
    }
    let at = || Location::Line {
        file: file.to_owned(),
        line,
    };
    Ok(Entry {
        key: unescape(&logical[..key_end]).map_err(|reason| ConfigError::Syntax { at: at(), reason })?,
        value: unescape(value).map_err(|reason| ConfigError::Syntax { at: at(), reason })?,
        line,
    })
}

/// Resolves `\t \n \r \f \uXXXX` and `\<any>` (= that character), as `Properties.loadConvert`.
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let unit = hex_unit(&mut chars)?;
                let decoded = if (0xD800..0xDC00).contains(&unit) {
                    // Java strings are UTF-16: characters beyond U+FFFF arrive as two escapes.
                    let low = match (chars.next(), chars.next()) {
                        (Some('\\'), Some('u')) => hex_unit(&mut chars)?,
                        _ => return Err(format!("\\u{unit:04X} is a lone high surrogate")),
                    };
                    char::decode_utf16([unit, low]).next().and_then(Result::ok)
                } else {
                    char::from_u32(u32::from(unit))
                };
                let Some(decoded) = decoded else {
                    return Err(format!("\\u{unit:04X} is an unpaired surrogate"));
                };
                out.push(decoded);
            }
            Some(other) => out.push(other),
            // Only reachable for a key or value ending in a lone backslash, which the line
            // splitting already treats as a continuation; dropping it matches the JDK.
            None => {}
        }
    }
    Ok(out)
}

/// Reads the four hex digits after `\u`.
fn hex_unit(chars: &mut std::str::Chars<'_>) -> Result<u16, String> {
    let digits: String = chars.by_ref().take(4).collect();
    match u16::from_str_radix(&digits, 16) {
        Ok(unit) if digits.len() == 4 && digits.chars().all(|c| c.is_ascii_hexdigit()) => Ok(unit),
        _ => Err(format!("malformed \\uxxxx escape `\\u{digits}`")),
    }
}

/// A properties file's text: UTF-8, else ISO-8859-1 (what the JDK assumes for every properties
/// file, so a file RocketMQ reads correctly reads the same here).
pub fn read_text(path: &std::path::Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(String::from_utf8(bytes).unwrap_or_else(|err| err.into_bytes().into_iter().map(char::from).collect()))
}

/// Writes `key=value` lines that [`Properties::parse`] (and the JDK) read back unchanged.
/// A key given twice reads back with its last value, as any properties file would.
pub fn write<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        escape_into(&mut out, key, true);
        out.push('=');
        escape_into(&mut out, value, false);
        out.push('\n');
    }
    out
}

/// Escapes as `Properties.store` does: separators and comment characters anywhere, spaces in
/// keys and at the start of values (the reader would skip or split on them), control characters
/// by name, and everything outside printable ASCII as `\uXXXX`.
fn escape_into(out: &mut String, text: &str, is_key: bool) {
    for (i, c) in text.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' if is_key || i == 0 => out.push_str("\\ "),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(text: &str) -> Properties {
        Properties::parse(text, "test.conf").unwrap()
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .pairs()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn all_three_separators_and_surrounding_whitespace() {
        let text = "a=1\nb: 2\nc 3\n  d  =  4\ne\t:\t5\nf\ng=\nh = = x\ni::y\n";
        assert_eq!(
            pairs(text),
            owned(&[
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "4"),
                ("e", "5"),
                ("f", ""),
                ("g", ""),
                // Only one separator is consumed; the rest belongs to the value.
                ("h", "= x"),
                ("i", ":y"),
            ])
        );
    }

    #[test]
    fn trailing_whitespace_is_part_of_the_value() {
        assert_eq!(pairs("k=v  \n"), owned(&[("k", "v  ")]));
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_but_mid_line_hashes_are_values() {
        let text = "# comment\n! also a comment\n\n   \n  # indented comment\nk=v # not a comment\n";
        assert_eq!(pairs(text), owned(&[("k", "v # not a comment")]));
    }

    #[test]
    fn continuation_lines_join_and_skip_leading_whitespace() {
        let text = "namesrvAddr=a:9876;\\\n      b:9876;\\\n\tc:9876\nnext=1\n";
        let props = parse(text);
        assert_eq!(props.get("namesrvAddr").unwrap().value, "a:9876;b:9876;c:9876");
        assert_eq!(props.get("namesrvAddr").unwrap().line, 1);
        // Line numbers keep counting the physical lines the continuation used.
        assert_eq!(props.get("next").unwrap().line, 4);
    }

    #[test]
    fn continuation_line_starting_with_hash_is_not_a_comment() {
        assert_eq!(pairs("k=a\\\n#b\n"), owned(&[("k", "a#b")]));
    }

    #[test]
    fn comment_ending_in_backslash_does_not_continue() {
        assert_eq!(pairs("# note \\\nk=v\n"), owned(&[("k", "v")]));
    }

    #[test]
    fn even_backslashes_do_not_continue() {
        assert_eq!(pairs("k=a\\\\\nl=b\n"), owned(&[("k", "a\\"), ("l", "b")]));
    }

    #[test]
    fn backslash_at_end_of_file_is_dropped() {
        assert_eq!(pairs("k=v\\"), owned(&[("k", "v")]));
    }

    #[test]
    fn blank_continuation_line_ends_the_value() {
        assert_eq!(pairs("k=v\\\n\nl=w\n"), owned(&[("k", "v"), ("l", "w")]));
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        let props = parse("a=1\r\nb=2\rc=3\\\r\n  4\r\n");
        assert_eq!(
            props.pairs().collect::<Vec<_>>(),
            vec![("a", "1"), ("b", "2"), ("c", "34")]
        );
        assert_eq!(props.get("c").unwrap().line, 3);
    }

    #[test]
    fn escapes_resolve_in_keys_and_values() {
        let text = "a\\=b\\:c\\ d=x\\ty\\nz\\rw\\fv\\\\u\\=\\:\\#\\!\\q\n";
        assert_eq!(pairs(text), owned(&[("a=b:c d", "x\ty\nz\rw\x0cv\\u=:#!q")]));
    }

    #[test]
    fn escaped_leading_space_in_value_is_kept() {
        assert_eq!(pairs("k=\\  v\n"), owned(&[("k", "  v")]));
    }

    #[test]
    fn unicode_escapes_including_surrogate_pairs() {
        assert_eq!(
            pairs("k=\\u00e9t\\u00C9 \\uD83D\\uDE00\n"),
            owned(&[("k", "étÉ \u{1F600}")])
        );
    }

    #[test]
    fn malformed_unicode_escapes_name_file_and_line() {
        for text in [
            "a=1\nk=\\u12G4\n",
            "a=1\nk=\\u12\n",
            "a=1\nk=\\uD83Dx\n",
            "a=1\nk=\\uDE00\n",
        ] {
            let err = Properties::parse(text, "broker.conf").unwrap_err().to_string();
            assert!(
                err.starts_with("broker.conf:2: malformed properties"),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_and_its_line() {
        let props = parse("k=1\nother=x\nk=2\n");
        assert_eq!(props.get("k").unwrap().value, "2");
        assert_eq!(props.get("k").unwrap().line, 3);
        assert_eq!(props.entries().len(), 2);
        assert_eq!(props.entries()[1].key, "k");
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        assert_eq!(pairs("\u{feff}k=v\n"), owned(&[("k", "v")]));
    }

    #[test]
    fn writer_escapes_like_the_jdk() {
        let text = write([
            ("plain", "value with spaces"),
            ("key with space", " leading"),
            ("#hash", "a=b:c!d"),
            ("ctl", "\t\n\r\x0c\\"),
            ("uni", "é\u{1F600}"),
        ]);
        assert_eq!(
            text,
            "plain=value with spaces\n\
             key\\ with\\ space=\\ leading\n\
             \\#hash=a\\=b\\:c\\!d\n\
             ctl=\\t\\n\\r\\f\\\\\n\
             uni=\\u00E9\\uD83D\\uDE00\n"
        );
        assert!(text.is_ascii());
    }

    #[test]
    fn write_then_parse_keeps_empty_keys_and_values() {
        let list = [("", "v"), ("k", ""), ("", "")];
        // The empty key appears twice: the last one wins, as in any properties file.
        assert_eq!(pairs(&write(list)), owned(&[("k", ""), ("", "")]));
    }

    #[test]
    fn files_are_read_as_utf8_or_latin1() {
        let dir = tempfile::tempdir().unwrap();
        let utf8 = dir.path().join("utf8.conf");
        std::fs::write(&utf8, "k=é\n").unwrap();
        assert_eq!(read_text(&utf8).unwrap(), "k=é\n");
        let latin1 = dir.path().join("latin1.conf");
        std::fs::write(&latin1, b"k=\xe9\n").unwrap();
        assert_eq!(read_text(&latin1).unwrap(), "k=é\n");
        let err = read_text(&dir.path().join("missing.conf"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read ") && err.contains("missing.conf"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn parse_of_write_is_identity(
            map in proptest::collection::btree_map(any::<String>(), any::<String>(), 0..8)
        ) {
            let text = write(map.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let props = Properties::parse(&text, "t").unwrap();
            let back: std::collections::BTreeMap<String, String> =
                props.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            prop_assert_eq!(back, map);
        }
    }
}
