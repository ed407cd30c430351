//! The page around the report's sections: head, inline style, contents; HTML escaping and number format.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::ReportSummary;
use crate::figures::Stamp;
use crate::results::StageInfo;

const STYLE: &str = "body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222}\
figure{display:inline-block;width:540px;vertical-align:top;margin:.5em}figure img{width:100%;border:1px solid #ccc}\
figcaption{font-size:.9em}table{border-collapse:collapse;font-size:.85em;margin:.3em 0}\
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f0f0f0}\
.stale{color:#b00;font-weight:bold}figure.stale img{border:3px solid #b00}.src,.params{font-size:.9em}\
code{font-size:.95em}section{border-top:1px solid #ddd;margin-top:1.5em}";

/// The whole page: head, contents (stages with figures, findings), then the sections.
pub fn page(
    stages: &[StageInfo],
    summaries: &[&StageInfo],
    stamps: &BTreeMap<String, Stamp>,
    summary: &ReportSummary,
    body: &str,
) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>wgf report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>wgf report</h1>");
    let _ = writeln!(
        out,
        "<p>{} figure(s) from {} stage(s); {} stage(s) with stale figures. Written by <code>wgf report</code> from the \
         cached tables and the figures record; click a figure for its SVG. <code>wgf explain FIGURE</code> prints \
         where a figure file came from.</p>",
        summary.figures,
        stages.iter().filter(|s| stamps.contains_key(&s.name)).count(),
        summary.stale.len()
    );
    out.push_str("<nav><ul>\n");
    if !summaries.is_empty() {
        let names: Vec<String> = summaries.iter().map(|s| format!("<a href=\"#{0}\">{0}</a>", esc(&s.name))).collect();
        let _ = writeln!(out, "<li><a href=\"#findings\">findings tables</a>: {}</li>", names.join(", "));
    }
    for s in stages.iter().filter(|s| stamps.contains_key(&s.name)) {
        let n = stamps[&s.name].figures.len();
        let mark = if summary.stale.contains(&s.name) { " <span class=\"stale\">stale</span>" } else { "" };
        let _ =
            writeln!(out, "<li><a href=\"#{0}\">{0}</a> ({1}, {n} figure(s)){mark}</li>", esc(&s.name), esc(&s.kind));
    }
    out.push_str("</ul></nav>\n");
    out.push_str(body);
    out.push_str("</body>\n</html>\n");
    out
}

/// Text made safe for HTML content and attribute values.
pub fn esc(s: &str) -> String {
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

/// A table value with 6 significant digits: plain between 1e-3 and 1e6, scientific outside (losses reach 1e-26).
pub fn number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    if (1e-3..1e6).contains(&x.abs()) {
        let decimals = (5 - x.abs().log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{x:.5e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_six_significant_digits() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1.0), "1");
        assert_eq!(number(0.123456789), "0.123457");
        assert_eq!(number(-2500.5), "-2500.5");
        assert_eq!(number(1.5e-26), "1.50000e-26");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
