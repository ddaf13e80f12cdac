//! Where in a text a user wrote (a config file, keymap, theme or scenario) a parser stopped: the
//! 1-based line and column of a byte offset, as error messages name them. An offset past the
//! last newline of a text that ends in one (a string or table left open until the end of the
//! file) is placed at the end of the last line, which is where an editor shows the file's end.

/// The 1-based (line, column) of byte `offset` in `text` (an offset past the end counts as
/// the end); the column counts bytes, as the parsers' spans do.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    if offset == text.len() && text.ends_with('\n') {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// The 1-based line of byte `offset` in `text` (see [`line_and_column`]).
pub fn line_at(text: &str, offset: usize) -> usize {
    line_and_column(text, offset).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let text = "a = 1\nbb = '''\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 4), (1, 5));
        assert_eq!(line_and_column(text, 6), (2, 1));
        assert_eq!(line_and_column(text, 11), (2, 6));
        // The end of a text ending in a newline is the end of its last line, not a line after.
        assert_eq!(line_and_column(text, text.len()), (2, 9));
        assert_eq!(line_and_column(text, 1000), (2, 9));
        assert_eq!(line_and_column("x", 1), (1, 2));
        assert_eq!(line_and_column("", 0), (1, 1));
        assert_eq!(line_and_column("\n", 1), (1, 1));
        assert_eq!(line_at("é\n", 1), 1, "inside a character");
    }
}
