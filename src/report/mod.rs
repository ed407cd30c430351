//! `wgf report`: one static page, report/index.html, for reviewing every figure (Snakemake's `--report`): figures
//! grouped by stage with their captions, the stage's keys and parameters, links to its Parquet tables and to the
//! executed notebook of its family, the findings tables of the summary stages, and figures drawn from tables that
//! have changed since marked stale. No JavaScript, no CDN, relative links only, no timestamps: regenerating with
//! nothing changed gives the same bytes.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use polars::prelude::{AnyValue, DataFrame};
use serde_json::Value;

use crate::experiments::find_kind;
use crate::figures::{self, Stamp, FIGURES_REVISION};
use crate::pipeline::store::{write_atomic, Store};
use crate::results::{Results, StageInfo};

pub mod explain;
mod html;

use html::{esc, number};

/// Where the report reads from and writes to.
pub struct ReportPaths<'a> {
    pub results: &'a Path,
    pub figures: &'a Path,
    /// Executed notebooks (`make notebooks` writes them); linked when present.
    pub notebooks: &'a Path,
    /// The report directory; the page is `<out>/index.html`.
    pub out: &'a Path,
}

#[derive(Debug, Default)]
pub struct ReportSummary {
    pub page: PathBuf,
    pub figures: usize,
    pub stale: Vec<String>,
}

/// Rows of a findings table shown in the page; longer tables are cut (the Parquet files are linked).
const MAX_ROWS: usize = 200;

/// Writes `<out>/index.html`.
pub fn write(paths: &ReportPaths) -> anyhow::Result<ReportSummary> {
    let results = Results::open(paths.results)?;
    std::fs::create_dir_all(paths.out).with_context(|| format!("creating {}", paths.out.display()))?;
    let links = Links::new(paths)?;
    let stamps = figures::read_stamps(paths.figures);
    let stages = results.stages()?;
    let mut summary = ReportSummary { page: paths.out.join("index.html"), ..Default::default() };
    let mut body = String::new();
    let summaries: Vec<&StageInfo> = stages.iter().filter(|s| find_kind(&s.kind).is_some_and(|k| k.summary)).collect();
    if !summaries.is_empty() {
        body.push_str("<h2 id=\"findings\">Findings tables</h2>\n");
        for info in &summaries {
            findings_section(&mut body, &results, info, &links)?;
        }
    }
    for info in &stages {
        if let Some(stamp) = stamps.get(&info.name) {
            figures_section(&mut body, &results, info, stamp, (&links, paths.figures), &mut summary)?;
        }
    }
    let page = html::page(&stages, &summaries, &stamps, &summary, &body);
    write_atomic(&summary.page, page.as_bytes())?;
    Ok(summary)
}

/// Why a stage's figures are not current, or `None` when they are.
pub fn staleness(results: &Results, info: &StageInfo, stamp: &Stamp, figures_dir: &Path) -> Option<String> {
    if stamp.stage_key != info.key {
        return Some(format!("its tables changed since it was drawn (drawn from key {})", stamp.stage_key.short()));
    }
    if let Some(why) = inputs_changed(results, info) {
        return Some(why);
    }
    if stamp.revision != FIGURES_REVISION {
        return Some(format!("drawn by older figure code (revision {})", stamp.revision));
    }
    let missing = stamp.files.iter().find(|f| !figures_dir.join(f.file_name().unwrap_or_default()).exists());
    missing.map(|f| format!("file {} is missing", f.display()))
}

/// An input stage whose cached run is not the one `info` was computed from (it was rerun alone, e.g. `wgf run
/// prox_sweep`): then figures drawn from `info`'s tables show old inputs, though their own key is unchanged.
fn inputs_changed(results: &Results, info: &StageInfo) -> Option<String> {
    for (input, key) in &info.record.inputs {
        let now = match results.stage(input) {
            Ok(up) if up.key == *key => continue,
            Ok(up) => format!("key {} now", up.key.short()),
            Err(_) => "no cached run now".to_string(),
        };
        return Some(format!(
            "input stage `{input}` changed since this stage ran (computed from key {}, {now}; `wgf run {}` first)",
            key.short(),
            info.name
        ));
    }
    None
}

/// Relative links from the report directory to the results, figures and notebooks.
struct Links {
    results: String,
    figures: String,
    notebooks: Option<(String, PathBuf)>,
}

impl Links {
    fn new(paths: &ReportPaths) -> anyhow::Result<Links> {
        let rel = |to: &Path| relative(paths.out, to);
        let notebooks = match paths.notebooks.is_dir() {
            true => Some((rel(paths.notebooks)?, paths.notebooks.to_path_buf())),
            false => None,
        };
        Ok(Links { results: rel(paths.results)?, figures: rel(paths.figures)?, notebooks })
    }

    fn figure(&self, file: &str) -> String {
        format!("{}/{file}", self.figures)
    }

    /// The executed notebook of a kind's family, `.html` preferred.
    fn notebook(&self, kind: &str) -> Option<String> {
        let (href, dir) = self.notebooks.as_ref()?;
        let family = figures::notebook_family(kind)?;
        ["html", "ipynb"]
            .iter()
            .map(|ext| format!("{family}.{ext}"))
            .find(|f| dir.join(f).is_file())
            .map(|f| format!("{href}/{f}"))
    }
}

/// `to` relative to directory `from` (both made absolute first), with `/` separators.
fn relative(from: &Path, to: &Path) -> anyhow::Result<String> {
    let abs = |p: &Path| -> anyhow::Result<PathBuf> {
        let p = if p.exists() { p.canonicalize()? } else { std::env::current_dir()?.join(p) };
        Ok(p.components().filter(|c| *c != Component::CurDir).collect())
    };
    let (from, to) = (abs(from)?, abs(to)?);
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); f.len() - common];
    parts.extend(t[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    Ok(if parts.is_empty() { ".".into() } else { parts.join("/") })
}

fn findings_section(body: &mut String, results: &Results, info: &StageInfo, links: &Links) -> anyhow::Result<()> {
    let about = find_kind(&info.kind).map_or("", |k| k.about);
    let _ = writeln!(body, "<section id=\"{0}\">\n<h3>{0} <small>({1})</small></h3>", esc(&info.name), esc(&info.kind));
    let _ = writeln!(body, "<p>{}</p>", esc(about));
    sources(body, results.store(), info, links)?;
    for (name, frame) in results.tables(&info.name)? {
        let _ = writeln!(body, "<h4>table <code>{}</code></h4>", esc(&name));
        table_html(body, &frame);
    }
    body.push_str("</section>\n");
    Ok(())
}

fn figures_section(
    body: &mut String,
    results: &Results,
    info: &StageInfo,
    stamp: &Stamp,
    (links, figures_dir): (&Links, &Path),
    summary: &mut ReportSummary,
) -> anyhow::Result<()> {
    let kind = find_kind(&info.kind);
    let _ = writeln!(body, "<section id=\"{0}\">\n<h2>{0} <small>({1})</small></h2>", esc(&info.name), esc(&info.kind));
    let _ = writeln!(body, "<p>{}</p>", esc(kind.map_or("", |k| k.about)));
    let stale = staleness(results, info, stamp, figures_dir);
    if let Some(why) = &stale {
        let _ = writeln!(body, "<p class=\"stale\">STALE: {}; run <code>wgf figures</code>.</p>", esc(why));
        summary.stale.push(info.name.clone());
    }
    sources(body, results.store(), info, links)?;
    for (name, caption) in &stamp.figures {
        let (png, svg) = (links.figure(&format!("{name}.png")), links.figure(&format!("{name}.svg")));
        let class = if stale.is_some() { " class=\"stale\"" } else { "" };
        let _ = writeln!(
            body,
            "<figure id=\"{n}\"{class}><a href=\"{svg}\"><img src=\"{png}\" alt=\"{c}\"></a>\n<figcaption><b>{n}</b>{s}: \
             {c} <a href=\"{png}\">PNG</a> · <a href=\"{svg}\">SVG</a></figcaption></figure>",
            n = esc(name),
            c = esc(caption),
            png = esc(&png),
            svg = esc(&svg),
            s = if stale.is_some() { " <span class=\"stale\">(stale)</span>" } else { "" },
        );
        summary.figures += 1;
    }
    body.push_str("</section>\n");
    Ok(())
}

/// The stage key, its inputs, the notebook, and per point: coordinates, key, Parquet links; parameters shared by
/// every point once.
fn sources(body: &mut String, store: &Store, info: &StageInfo, links: &Links) -> anyhow::Result<()> {
    let _ = write!(body, "<p class=\"src\">stage key <code>{}</code>", esc(info.key.short()));
    for (input, key) in &info.record.inputs {
        let _ = write!(body, " · input <a href=\"#{0}\">{0}</a> <code>{1}</code>", esc(input), esc(key.short()));
    }
    if let Some(nb) = links.notebook(&info.kind) {
        let _ = write!(body, " · notebook <a href=\"{0}\">{0}</a>", esc(&nb));
    }
    body.push_str("</p>\n");
    let points = &info.record.points;
    let shared = shared_params(points.iter().map(|p| &p.params));
    if !shared.is_empty() {
        let text: Vec<String> = shared.iter().map(|(k, v)| format!("{k} = {}", compact(v))).collect();
        let _ = writeln!(body, "<p class=\"params\">parameters: {}</p>", esc(&text.join(", ")));
    }
    let _ = writeln!(body, "<details><summary>{} point(s): keys, swept values, Parquet tables</summary>", points.len());
    body.push_str("<table><tr><th>point</th><th>key</th><th>other parameters</th><th>tables</th></tr>\n");
    for p in points {
        let label = if p.coords.is_empty() { "(single point)".to_string() } else { coords(&p.coords) };
        let others = own_params(&p.params, &shared, &p.coords);
        let dir = format!("{}/{}/{}", links.results, info.name, p.key.as_str());
        let manifest = store.read_entry(&info.name, &p.key)?;
        let tables: Vec<String> = manifest
            .iter()
            .flat_map(|m| m.tables.iter())
            .map(|(t, rec)| format!("<a href=\"{}\">{}</a>", esc(&format!("{dir}/{}", rec.file)), esc(t)))
            .collect();
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&label),
            esc(p.key.short()),
            esc(&others),
            tables.join(" ")
        );
    }
    body.push_str("</table></details>\n");
    Ok(())
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn coords(c: &std::collections::BTreeMap<String, Value>) -> String {
    c.iter().map(|(k, v)| format!("{k}={}", compact(v))).collect::<Vec<_>>().join(" ")
}

/// The parameters with the same value at every point.
fn shared_params<'a>(mut params: impl Iterator<Item = &'a Value>) -> Vec<(String, Value)> {
    let Some(Value::Object(first)) = params.next() else { return Vec::new() };
    let mut shared: Vec<(String, Value)> = first.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for p in params {
        shared.retain(|(k, v)| p.get(k) == Some(v));
    }
    shared
}

/// A point's parameters that are neither shared nor swept.
fn own_params(
    params: &Value,
    shared: &[(String, Value)],
    coords: &std::collections::BTreeMap<String, Value>,
) -> String {
    let Value::Object(map) = params else { return String::new() };
    let own = map.iter().filter(|(k, _)| !shared.iter().any(|(s, _)| s == *k) && !coords.contains_key(*k));
    own.map(|(k, v)| format!("{k}={}", compact(v))).collect::<Vec<_>>().join(" ")
}

fn table_html(body: &mut String, frame: &DataFrame) {
    body.push_str("<table class=\"findings\"><tr>");
    for c in frame.columns() {
        let _ = write!(body, "<th>{}</th>", esc(c.name()));
    }
    body.push_str("</tr>\n");
    for r in 0..frame.height().min(MAX_ROWS) {
        body.push_str("<tr>");
        for c in frame.columns() {
            let cell = c.get(r).map(|v| cell(&v)).unwrap_or_default();
            let _ = write!(body, "<td>{}</td>", esc(&cell));
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</table>\n");
    if frame.height() > MAX_ROWS {
        let _ = writeln!(body, "<p>… {} more rows in the Parquet files.</p>", frame.height() - MAX_ROWS);
    }
}

fn cell(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::Float64(x) => number(*x),
        AnyValue::Float32(x) => number(f64::from(*x)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{plan, runner, spec};

    fn run(dir: &Path, steps: u32) {
        let yaml = format!(
            "stages:\n  - name: e2\n    kind: three_point\n    params: {{steps: {steps}}}\n    sweep: {{lambda: [1.0, 0.1]}}\n  \
             - name: e2_summary\n    kind: three_point_summary\n    inputs: [e2]\n    params: {{source: e2}}\n"
        );
        let plan = plan::plan(&spec::parse("pipeline.yaml".as_ref(), &yaml).unwrap()).unwrap();
        let opts = runner::RunOptions { jobs: 1, quiet: true, ..Default::default() };
        assert!(runner::run(&plan, &Store::new(dir.join("results")), &opts).unwrap().ok());
    }

    #[test]
    fn the_page_is_byte_identical_when_regenerated_and_marks_figures_of_changed_tables() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        run(d, 4);
        let results = Results::open(d.join("results")).unwrap();
        figures::draw_all(&results, &d.join("figures"), &[], false).unwrap();
        let (out, notebooks) = (d.join("report"), d.join("notebooks"));
        let paths =
            ReportPaths { results: &d.join("results"), figures: &d.join("figures"), notebooks: &notebooks, out: &out };
        let first = write(&paths).unwrap();
        let page = std::fs::read(&first.page).unwrap();
        assert_eq!((first.figures, first.stale.len()), (2, 0));
        assert_eq!(std::fs::read(write(&paths).unwrap().page).unwrap(), page, "regenerated page differs");

        let text = String::from_utf8(page).unwrap();
        assert!(text.contains("<img src=\"../figures/e2_loss.png\""), "figures linked relative to report/");
        assert!(text.contains("<th>final_loss</th>"), "the summary stage's table is rendered");
        assert!(!text.contains("STALE"));
        let loss = d.join("figures/e2_loss.png");
        assert!(explain::explain(&loss, &d.join("results")).unwrap().1, "freshly drawn figure is current");

        // New tables for e2 (one more step), figures not redrawn: both the page and `explain` say stale.
        run(d, 5);
        let second = write(&paths).unwrap();
        assert_eq!(second.stale, ["e2"]);
        assert_eq!(std::fs::read_to_string(&second.page).unwrap().matches("(stale)").count(), 2);
        let (text, current) = explain::explain(&loss, &d.join("results")).unwrap();
        assert!(!current && text.contains("STALE: the stage's tables changed since"), "{text}");
    }

    /// Two tiny prox_sweep stages (gd, exact local) and the prox_compare stage reading them; `gd_steps` sets the
    /// gd stage's steps, `only` limits the run to some stages.
    fn run_compare(dir: &Path, gd_steps: u32, only: &[&str]) {
        let sweep = "sweep: {gamma: [0.1], distance: [frobenius, wasserstein], seed: [0, 1]}";
        let yaml = format!(
            "stages:\n  - name: gd\n    kind: prox_sweep\n    params: {{m: 4, steps: {gd_steps}, inner_iterations: 50}}\n    \
             {sweep}\n  - name: exact\n    kind: prox_sweep\n    params: {{m: 4, steps: 2, inner_solver: exact_local}}\n    \
             {sweep}\n  - name: cmp\n    kind: prox_compare\n    inputs: [gd, exact]\n    params: {{sources: [gd, exact]}}\n"
        );
        let plan = plan::plan(&spec::parse("pipeline.yaml".as_ref(), &yaml).unwrap()).unwrap();
        let stages = only.iter().map(|s| s.to_string()).collect();
        let opts = runner::RunOptions { jobs: 1, quiet: true, stages, ..Default::default() };
        assert!(runner::run(&plan, &Store::new(dir.join("results")), &opts).unwrap().ok());
    }

    #[test]
    fn comparison_figures_go_stale_when_an_input_stage_changes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (results_dir, figures_dir, out) = (d.join("results"), d.join("figures"), d.join("report"));
        let paths = ReportPaths { results: &results_dir, figures: &figures_dir, notebooks: d, out: &out };
        let draw = || figures::draw_all(&Results::open(&results_dir).unwrap(), &figures_dir, &[], false).unwrap();
        run_compare(d, 2, &[]);
        draw();
        let fresh = write(&paths).unwrap();
        assert!(fresh.stale.is_empty(), "{:?}", fresh.stale);
        let page = std::fs::read_to_string(&fresh.page).unwrap();
        assert!(page.contains("cmp_loss_panels.png") && page.contains("cmp_final_loss.png"), "drawn under cmp");

        // The gd stage alone is rerun with one more step: cmp's tables (and figures) now show old inputs.
        run_compare(d, 3, &["gd"]);
        let report = write(&paths).unwrap();
        assert_eq!(report.stale, ["cmp", "gd"], "the comparison figures and gd's own");
        let page = std::fs::read_to_string(&report.page).unwrap();
        assert!(page.contains("STALE: input stage `gd` changed since this stage ran"), "the reason is named");

        // cmp recomputed from the new gd (a new key): stale until redrawn, current after.
        run_compare(d, 3, &[]);
        assert_eq!(write(&paths).unwrap().stale, ["cmp", "gd"]);
        draw();
        assert!(write(&paths).unwrap().stale.is_empty());
    }

    #[test]
    fn relative_links_climb_out_of_the_report_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("report"), dir.path().join("x/figures"));
        assert_eq!(relative(&a, &b).unwrap(), "../x/figures");
        assert_eq!(relative(&a, &a).unwrap(), ".");
    }
}
