//! Fitting text into narrow panes without cutting it off silently: groups of spans that wrap
//! as whole units, text shortened with an ellipsis, and lists that give up rows by ending in
//! "… N more" when the pane is short.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Lays `groups` out left to right, one space before each, starting a new line (indented by
/// `indent` spaces) when the next group would not fit in `width`. A group wider than a whole
/// line is shortened with `ellipsis`.
pub fn flow<'a>(
    groups: Vec<Vec<Span<'a>>>,
    width: usize,
    indent: usize,
    ellipsis: &str,
) -> Vec<Line<'a>> {
    let mut lines: Vec<Line> = Vec::new();
    let mut current: Vec<Span> = Vec::new();
    let mut used = 0;
    for group in groups {
        let group_width: usize = group.iter().map(Span::width).sum();
        if !current.is_empty() && used + 1 + group_width > width {
            lines.push(Line::from(std::mem::take(&mut current)));
            used = 0;
        }
        let lead = if lines.is_empty() || used > 0 {
            1
        } else {
            indent.max(1)
        };
        current.push(Span::raw(" ".repeat(lead)));
        used += lead;
        let room = width.saturating_sub(used);
        let group = if group_width > room {
            shorten(group, room, ellipsis)
        } else {
            group
        };
        used += group.iter().map(Span::width).sum::<usize>();
        current.extend(group);
    }
    if !current.is_empty() {
        lines.push(Line::from(current));
    }
    lines
}

/// The spans cut to at most `width` columns, ending in `ellipsis` when anything was cut.
pub fn shorten<'a>(spans: Vec<Span<'a>>, width: usize, ellipsis: &str) -> Vec<Span<'a>> {
    let total: usize = spans.iter().map(Span::width).sum();
    if total <= width {
        return spans;
    }
    let mark = Span::raw(ellipsis.to_string()).width();
    let mut room = width.saturating_sub(mark);
    let mut out = Vec::new();
    let mut last_style = Style::default();
    for span in spans {
        last_style = span.style;
        let text = cut(&span.content, room);
        room -= Span::raw(text.as_str()).width();
        let whole = text.len() == span.content.len();
        out.push(Span::styled(text, span.style));
        if !whole {
            break;
        }
    }
    if width >= mark {
        out.push(Span::styled(ellipsis.to_string(), last_style));
    }
    out
}

/// The line as it is when it fits in `width`, else shortened with `ellipsis` (style kept).
pub fn fit_line<'a>(line: Line<'a>, width: usize, ellipsis: &str) -> Line<'a> {
    if line.width() <= width {
        return line;
    }
    let style = line.style;
    Line::from(shorten(line.spans, width, ellipsis)).style(style)
}

/// The line broken at spaces into lines of at most `width` columns (styles kept), so a dialog
/// can size itself to what it shows; a word longer than a whole line is split.
pub fn wrap_line(line: Line<'_>, width: usize) -> Vec<Line<'_>> {
    let width = width.max(1);
    if line.width() <= width {
        return vec![line];
    }
    let style = line.style;
    let mut lines: Vec<Line> = Vec::new();
    let mut current: Vec<Span> = Vec::new();
    let mut used = 0;
    for span in line.spans {
        for word in span.content.split_inclusive(' ') {
            let mut word = word.to_string();
            let w = |t: &str| Span::raw(t).width();
            // Trailing spaces may hang past the edge; only the visible part must fit.
            if used > 0 && used + w(word.trim_end()) > width {
                lines.push(Line::from(std::mem::take(&mut current)).style(style));
                used = 0;
            }
            while w(&word) > width && used == 0 && w(word.trim_end()) > width {
                let head = cut(&word, width);
                word = word[head.len()..].to_string();
                lines.push(Line::from(Span::styled(head, span.style)).style(style));
            }
            used += w(&word);
            current.push(Span::styled(word, span.style));
        }
    }
    if !current.is_empty() {
        lines.push(Line::from(current).style(style));
    }
    lines
}

/// `text` cut to the widest prefix of at most `width` columns.
pub fn cut(text: &str, width: usize) -> String {
    let mut used = 0;
    text.chars()
        .take_while(|c| {
            used += c.width().unwrap_or(0);
            used <= width
        })
        .collect()
}

/// `text` padded or shortened (with `ellipsis`) to exactly `width` columns.
pub fn column(text: &str, width: usize, ellipsis: &str) -> String {
    let shown = Span::raw(text).width();
    if shown <= width {
        return format!("{text}{}", " ".repeat(width - shown));
    }
    let mark = Span::raw(ellipsis).width();
    let kept = cut(text, width.saturating_sub(mark));
    let pad = width.saturating_sub(Span::raw(kept.as_str()).width() + mark);
    format!("{kept}{ellipsis}{}", " ".repeat(pad))
}

/// `text` in at most `width` columns, cut in the middle (`newsl…ter-b1`): ids that differ
/// only at the end stay distinguishable.
pub fn middle(text: &str, width: usize, ellipsis: &str) -> String {
    if Span::raw(text).width() <= width {
        return text.to_string();
    }
    let room = width.saturating_sub(Span::raw(ellipsis).width());
    let head = cut(text, room / 2);
    let reversed: String = text.chars().rev().collect();
    let tail: String = cut(&reversed, room - room / 2).chars().rev().collect();
    format!("{head}{ellipsis}{tail}")
}

/// `text` in at most `width` columns, keeping what tells it apart from `others` (ids with a
/// long shared start such as `newsletter-batch-…-0001-…`): the shared start is cut to a few
/// characters and an ellipsis, and a too long rest ends in one.
pub fn distinct(text: &str, others: &[&str], width: usize, ellipsis: &str) -> String {
    if Span::raw(text).width() <= width {
        return text.to_string();
    }
    let shared = others
        .iter()
        .filter(|o| **o != text)
        .map(|o| {
            text.chars()
                .zip(o.chars())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0);
    if shared < width / 2 {
        return middle(text, width, ellipsis);
    }
    let rest: String = text.chars().skip(shared.saturating_sub(1)).collect();
    let (rest_width, mark) = (
        Span::raw(rest.as_str()).width(),
        Span::raw(ellipsis).width(),
    );
    if rest_width + mark + 3 <= width {
        // The whole distinguishing rest fits: the start fills the columns left.
        let head = cut(text, width - mark - rest_width);
        return format!("{head}{ellipsis}{rest}");
    }
    let head = cut(text, 3);
    let room = width.saturating_sub(Span::raw(head.as_str()).width() + mark);
    let rest = column(&rest, room, ellipsis);
    format!("{head}{ellipsis}{}", rest.trim_end())
}

/// Shares `room` rows between lists that need `needs` rows each: short lists get all they
/// need, the rest split what is left evenly (earlier lists get the odd rows).
pub fn share_rows(needs: &[usize], room: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..needs.len()).collect();
    order.sort_by_key(|&i| needs[i]);
    let mut shares = vec![0; needs.len()];
    let mut left = room;
    for (done, &i) in order.iter().enumerate() {
        let lists_left = needs.len() - done;
        let fair = left.div_ceil(lists_left);
        shares[i] = needs[i].min(fair);
        left -= shares[i];
    }
    shares
}

/// The noun (`(one, many)`) for `n` items: `queue` for 1, `queues` otherwise.
pub fn noun_for<'a>(n: usize, (one, many): (&'a str, &'a str)) -> &'a str {
    if n == 1 { one } else { many }
}

/// The items (each one or more lines) that fit in `rows`; when some do not, the last row says
/// how many were left out ("… 3 more policies").
pub fn elide<'a>(
    items: Vec<Vec<Line<'a>>>,
    rows: usize,
    noun: (&str, &str),
    ellipsis: &str,
    style: Style,
) -> Vec<Line<'a>> {
    let needed: usize = items.iter().map(Vec::len).sum();
    if needed <= rows {
        return items.into_iter().flatten().collect();
    }
    if rows == 0 {
        return Vec::new();
    }
    let total = items.len();
    let mut out = Vec::new();
    let mut shown = 0;
    for item in items {
        if out.len() + item.len() > rows - 1 {
            break;
        }
        out.extend(item);
        shown += 1;
    }
    out.push(Line::styled(
        format!(
            " {ellipsis} {left} more {}",
            noun_for(total - shown, noun),
            left = total - shown
        ),
        style,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_breaks_at_spaces_and_splits_only_overlong_words() {
        let line = Line::from(vec![
            Span::raw("kill 412 jobs "),
            Span::raw("matching queue:w?"),
        ]);
        let text: Vec<String> = wrap_line(line, 14)
            .iter()
            .map(|l| l.to_string().trim_end().to_string())
            .collect();
        assert_eq!(text, ["kill 412 jobs", "matching", "queue:w?"]);
        let long: Vec<String> = wrap_line(Line::raw("abcdefghij"), 4)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(long, ["abcd", "efgh", "ij"]);
    }

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(ToString::to_string).collect()
    }

    fn groups(words: &[&'static str]) -> Vec<Vec<Span<'static>>> {
        words.iter().map(|w| vec![Span::raw(*w)]).collect()
    }

    #[test]
    fn groups_wrap_whole_and_long_ones_are_shortened() {
        let lines = flow(
            groups(&["active default", "tier bayesian", "ML off"]),
            20,
            2,
            "…",
        );
        assert_eq!(
            text(&lines),
            [" active default", "  tier bayesian", "  ML off"]
        );
        let lines = flow(groups(&["a", "service_unavailable"]), 12, 1, "…");
        assert_eq!(text(&lines), [" a", " service_un…"]);
        assert!(lines.iter().all(|l| l.width() <= 12));
    }

    #[test]
    fn a_line_too_wide_ends_in_an_ellipsis_and_keeps_its_style() {
        let line = Line::from(vec![
            Span::raw(" sync/"),
            Span::raw("service_unavailable OPEN"),
        ])
        .style(Style::new().bold());
        let fitted = fit_line(line.clone(), 16, "…");
        assert_eq!(fitted.to_string(), " sync/service_u…");
        assert_eq!(fitted.style, line.style);
        assert_eq!(fit_line(line.clone(), 40, "…"), line);
    }

    #[test]
    fn columns_pad_or_end_in_an_ellipsis() {
        assert_eq!(column("timeout", 9, "…"), "timeout  ");
        assert_eq!(column("service_unavailable", 9, "…"), "service_…");
        assert_eq!(column("service_unavailable", 9, "..."), "servic...");
        assert_eq!(column("éééé", 3, "…"), "éé…");
        assert_eq!(middle("newsletter-b17", 12, "…"), "newsl…er-b17");
        assert_eq!(middle("short", 12, "…"), "short");
        let ids = ["newsletter-batch-0001-shard", "newsletter-batch-0002-shard"];
        assert_eq!(distinct(ids[0], &ids, 12, "…"), "new…01-shard");
        assert_eq!(distinct("pay-1201-long-id", &ids, 12, "…"), "pay-1…ong-id");
        // A short distinguishing rest: the shared start fills the width.
        let ids = ["payments-3", "payments-37", "payments-1"];
        assert_eq!(distinct(ids[1], &ids, 10, "…"), "payment…37");
        assert_eq!(distinct("payments-55", &ids, 10, "…"), "paymen…-55");
    }

    #[test]
    fn rows_go_to_short_lists_first_then_evenly() {
        assert_eq!(share_rows(&[3, 4, 4], 20), [3, 4, 4]);
        assert_eq!(share_rows(&[3, 4, 4], 9), [3, 3, 3]);
        assert_eq!(share_rows(&[1, 10, 10], 9), [1, 4, 4]);
        assert_eq!(share_rows(&[2, 2], 0), [0, 0]);
        assert_eq!(share_rows(&[], 5), Vec::<usize>::new());
    }

    #[test]
    fn a_list_that_does_not_fit_ends_with_a_count() {
        let items: Vec<Vec<Line>> = (0..5).map(|i| vec![Line::from(format!("p{i}"))]).collect();
        let style = Style::default();
        let lines = elide(items.clone(), 3, ("policy", "policies"), "…", style);
        assert_eq!(text(&lines), ["p0", "p1", " … 3 more policies"]);
        assert_eq!(
            elide(items.clone(), 5, ("policy", "policies"), "…", style).len(),
            5
        );
        assert!(elide(items.clone(), 0, ("policy", "policies"), "…", style).is_empty());
        // One left out: its noun in the singular.
        let mut two_lines = items[..3].to_vec();
        two_lines[2].push(Line::from("p2, second line"));
        let lines = elide(two_lines, 3, ("policy", "policies"), "…", style);
        assert_eq!(text(&lines), ["p0", "p1", " … 1 more policy"]);
    }
}
