//! Figures: cached tables in, `figures/<name>.png` and `.svg` out. A stage's figures are redrawn only when its
//! tables' key (or the figure code's revision) changed since they were last drawn.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::pipeline::key::Key;
use crate::pipeline::store::{remove_dead_leftovers, write_atomic};
use crate::results::{Results, StageInfo};

pub mod grid;
pub mod init_scale;
pub mod provenance;
pub mod prox_decay;
pub mod prox_exact;
pub mod prox_paths;
pub mod prox_sweep;
pub mod style;
pub mod three_point;
pub mod toys;
pub mod williams;

use provenance::Provenance;
pub use style::{svg_plot, Svg};
use style::{Output, Target};

/// Bump when any figure's drawing code changes, so existing figures are redrawn.
pub const FIGURES_REVISION: u32 = 7;
/// The figures record: per stage, the key its figures were drawn from and what was drawn.
pub const STAMPS: &str = ".wgf-figures.json";

/// Draws the figures of one stage from its (and its inputs') tables; returns the files written.
type DrawStage = fn(&Results, &StageInfo, &Output) -> anyhow::Result<Vec<PathBuf>>;

fn drawer(kind: &str) -> Option<DrawStage> {
    match kind {
        "three_point" => Some(three_point::draw),
        "two_point" => Some(toys::draw_two_point),
        "inner_iterations" => Some(toys::draw_inner),
        "prox_sweep" => Some(prox_sweep::draw),
        "grid_jko" => Some(grid::draw_jko),
        "grid_vs_gd" => Some(grid::draw_vs_gd),
        "init_scale" => Some(init_scale::draw),
        "prox_compare" => Some(prox_exact::draw_compare),
        "williams" => Some(williams::draw),
        _ => None,
    }
}

/// The executed notebook (under notebooks/, without extension) that explores a stage kind's tables.
pub fn notebook_family(kind: &str) -> Option<&'static str> {
    match kind {
        "two_point" | "inner_iterations" | "three_point" | "three_point_summary" => Some("01_toys"),
        "prox_sweep" | "prox_claims" => Some("02_prox_sweep"),
        "grid_jko" | "grid_vs_gd" => Some("03_grid_jko"),
        "init_scale" => Some("05_init_scale"),
        "prox_compare" => Some("02_prox_sweep"),
        "williams" => Some("04_williams"),
        _ => None,
    }
}

/// One stage's entry in the figures record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    /// The stage key the figures were drawn from (it covers the input stages' keys).
    pub stage_key: Key,
    pub revision: u32,
    pub files: Vec<PathBuf>,
    /// (name, caption) of each figure, in drawing order.
    #[serde(default)]
    pub figures: Vec<(String, String)>,
}

/// The figures record of a figures directory (empty when there is none or it is unreadable: all is redrawn).
pub fn read_stamps(out: &Path) -> BTreeMap<String, Stamp> {
    std::fs::read(out.join(STAMPS)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

#[derive(Debug, Default)]
pub struct FiguresSummary {
    pub drawn: Vec<PathBuf>,
    pub up_to_date: usize,
}

/// Draws the figures of every stage with results (or only `only`), skipping those already current.
pub fn draw_all(results: &Results, out: &Path, only: &[String], force: bool) -> anyhow::Result<FiguresSummary> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    remove_dead_leftovers(out);
    let stamp_path = out.join(STAMPS);
    let mut stamps = read_stamps(out);
    let mut summary = FiguresSummary::default();
    for info in results.stages()? {
        if !only.is_empty() && !only.contains(&info.name) {
            continue;
        }
        let Some(draw) = drawer(&info.kind) else { continue };
        let current = stamps.get(&info.name).is_some_and(|s| {
            s.stage_key == info.key && s.revision == FIGURES_REVISION && s.files.iter().all(|f| f.exists())
        });
        if current && !force {
            summary.up_to_date += 1;
            continue;
        }
        let source = Provenance::of_stage(results, &info)?;
        let output = Output::new(Target::Dir(out), &source);
        let files = draw(results, &info, &output).with_context(|| format!("figures of stage `{}`", info.name))?;
        summary.drawn.extend(files.iter().cloned());
        let figures = output.drawn.into_inner();
        let stamp = Stamp { stage_key: info.key.clone(), revision: FIGURES_REVISION, files, figures };
        stamps.insert(info.name.clone(), stamp);
        write_atomic(&stamp_path, &serde_json::to_vec_pretty(&stamps)?)?;
    }
    Ok(summary)
}

/// The figures `wgf figures` draws for `stage`, rendered by the same code as SVG text (nothing is written), for
/// notebooks: an [`Svg`] shows itself inline in evcxr. Stages whose kind has no figures give an empty list.
pub fn stage_svgs(results: &Results, stage: &str) -> anyhow::Result<Vec<Svg>> {
    let info = results.stage(stage)?;
    let Some(draw) = drawer(&info.kind) else { return Ok(Vec::new()) };
    let list = Default::default();
    let source = Provenance::of_stage(results, &info)?;
    draw(results, &info, &Output::new(Target::Memory(&list), &source))
        .with_context(|| format!("figures of stage `{stage}`"))?;
    Ok(list.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{plan, runner, spec, store::Store};

    #[test]
    fn stage_svgs_are_the_files_wgf_figures_writes() {
        let dir = tempfile::tempdir().unwrap();
        let yaml =
            "stages:\n  - name: e2\n    kind: three_point\n    params: {steps: 5}\n    sweep: {lambda: [1.0, 0.1]}\n";
        let plan = plan::plan(&spec::parse("pipeline.yaml".as_ref(), yaml).unwrap()).unwrap();
        let opts = runner::RunOptions { jobs: 1, quiet: true, ..Default::default() };
        assert!(runner::run(&plan, &Store::new(dir.path().join("results")), &opts).unwrap().ok());
        let results = Results::open(dir.path().join("results")).unwrap();
        let figures = dir.path().join("figures");
        draw_all(&results, &figures, &[], false).unwrap();

        let svgs = stage_svgs(&results, "e2").unwrap();
        let names: Vec<&str> = svgs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["e2_fits", "e2_loss"]);
        for svg in &svgs {
            assert_eq!(std::fs::read_to_string(figures.join(format!("{}.svg", svg.name))).unwrap(), svg.svg);
        }
    }

    #[test]
    fn every_figure_file_carries_its_provenance_and_redraws_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let yaml =
            "stages:\n  - name: e2\n    kind: three_point\n    params: {steps: 4}\n    sweep: {lambda: [1.0, 0.1]}\n";
        let plan = plan::plan(&spec::parse("pipeline.yaml".as_ref(), yaml).unwrap()).unwrap();
        let opts = runner::RunOptions { jobs: 1, quiet: true, ..Default::default() };
        assert!(runner::run(&plan, &Store::new(dir.path().join("results")), &opts).unwrap().ok());
        let results = Results::open(dir.path().join("results")).unwrap();
        let figures = dir.path().join("figures");
        let drawn = draw_all(&results, &figures, &[], false).unwrap().drawn;
        assert_eq!(drawn.len(), 4);

        let info = results.stage("e2").unwrap();
        let points: Vec<Key> = plan.stages[0].points.iter().map(|p| p.key.clone()).collect();
        for file in &drawn {
            let prov = provenance::read(file).unwrap();
            assert_eq!(file.file_stem().unwrap().to_str().unwrap(), prov.figure);
            assert_eq!(
                (prov.wgf_version.as_str(), prov.commit.clone()),
                (env!("CARGO_PKG_VERSION"), provenance::git_commit())
            );
            assert_eq!(prov.stages.len(), 1);
            let st = &prov.stages[0];
            assert_eq!(
                (st.stage.as_str(), st.kind.as_str(), &st.stage_key),
                ("e2", "three_point", &plan.stages[0].key)
            );
            assert_eq!((&st.stage_key, &st.points), (&info.key, &points));
            assert!(prov.caption.split_whitespace().count() >= 8, "{}", prov.caption);
        }
        // The PNG's own text chunk: a standard `Software` entry beside the JSON.
        let png = std::fs::read(figures.join("e2_loss.png")).unwrap();
        let software = provenance::png_text(&png, "Software").unwrap().unwrap();
        assert_eq!(software, format!("wgf {} (commit {})", env!("CARGO_PKG_VERSION"), provenance::git_commit()));

        let before: Vec<Vec<u8>> = drawn.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let again = draw_all(&results, &figures, &[], true).unwrap().drawn;
        assert_eq!(again, drawn);
        let after: Vec<Vec<u8>> = drawn.iter().map(|f| std::fs::read(f).unwrap()).collect();
        assert!(before == after, "a redraw with nothing changed changed the bytes");
    }
}
