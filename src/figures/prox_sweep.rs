//! Figures of E4 `prox_sweep` (seed 001 §3): per γ, the prox-step diagnostics and the neuron trajectories of the
//! first seed; a panel of the diagnostics for all γ; and the final loss against γ over all seeds.

use std::path::PathBuf;

use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::Shift;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use anyhow::Context;

use super::prox_paths::Trajectories;
use super::style::{self, label_font, plot_err, tick_font, Figure};
use crate::numerics::model::Data;
use crate::results::{Results, StageInfo};
use crate::tables::{column_f64, column_str};

/// Per-γ figures are drawn only for sweeps with at most this many γ (the fine grid gets the summary only).
const MAX_GAMMAS_FOR_DETAIL: usize = 8;
pub(super) const DISTANCES: [(&str, RGBColor); 2] =
    [("frobenius", RGBColor(0x1f, 0x77, 0xb4)), ("wasserstein", RGBColor(0xff, 0x7f, 0x0e))];

/// The `steps` table as columns.
struct Steps {
    seed: Vec<f64>,
    distance: Vec<String>,
    gamma: Vec<f64>,
    step: Vec<f64>,
    loss: Vec<f64>,
    dist_frob: Vec<f64>,
    dist_w2: Vec<f64>,
    frac: Vec<f64>,
}

impl Steps {
    fn read(t: &DataFrame) -> anyhow::Result<Steps> {
        Ok(Steps {
            seed: column_f64(t, "seed")?,
            distance: column_str(t, "distance")?,
            gamma: column_f64(t, "gamma")?,
            step: column_f64(t, "step")?,
            loss: column_f64(t, "loss")?,
            dist_frob: column_f64(t, "dist_frob")?,
            dist_w2: column_f64(t, "dist_w2")?,
            frac: column_f64(t, "frac_permuted")?,
        })
    }

    fn rows(&self, seed: f64, distance: &str, gamma: f64) -> Vec<usize> {
        (0..self.step.len())
            .filter(|&r| self.seed[r] == seed && self.distance[r] == distance && self.gamma[r] == gamma)
            .collect()
    }

    fn gammas(&self) -> Vec<f64> {
        let mut g = self.gamma.clone();
        g.sort_by(|a, b| b.total_cmp(a));
        g.dedup();
        g
    }
}

pub(super) fn gamma_label(g: f64) -> String {
    let a = g.log10();
    if (a - a.round()).abs() < 1e-9 {
        format!("1e{}", a.round() as i32)
    } else {
        format!("{g:.3e}")
    }
}

pub fn draw(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let table = results.table(&info.name, "steps")?;
    let steps = Steps::read(&table)?;
    let gammas = steps.gammas();
    let seed0 = steps.seed.iter().copied().fold(f64::INFINITY, f64::min);
    let stage = info.name.as_str();
    if let Some(files) = super::prox_decay::draw_instead(results, info, out)? {
        return Ok(files);
    }
    let mut files = super::prox_exact::draw(info, &super::prox_exact::Rows::read(&table)?, out)?;
    if gammas.len() >= 2 {
        files.extend(style::render(&Summary { stage, steps: &steps, gammas: &gammas }, out)?);
    }
    if gammas.len() > MAX_GAMMAS_FOR_DETAIL {
        return Ok(files);
    }
    let particles = results.table(stage, "particles")?;
    for &g in &gammas {
        files.extend(style::render(&StepsFigure { stage, steps: &steps, gammas: vec![g], seed: seed0 }, out)?);
        let xs = data_inputs(info, seed0, g)?;
        let paths = Trajectories { stage, particles: &particles, gamma: g, seed: seed0, xs };
        files.extend(style::render(&paths, out)?);
    }
    files.extend(style::render(&StepsFigure { stage, steps: &steps, gammas: gammas.clone(), seed: seed0 }, out)?);
    Ok(files)
}

/// The data inputs x_j of the point (seed, γ): the sine points of its `n_data`.
fn data_inputs(info: &StageInfo, seed: f64, gamma: f64) -> anyhow::Result<Vec<f64>> {
    let point = info.record.points.iter().find(|p| {
        p.params.get("seed").and_then(|v| v.as_f64()) == Some(seed)
            && p.params.get("gamma").and_then(|v| v.as_f64()) == Some(gamma)
    });
    let n = point.and_then(|p| p.params.get("n_data")?.as_u64());
    let n = n.with_context(|| format!("stage `{}`: no point with seed {seed}, γ = {gamma} and n_data", info.name))?;
    Ok(Data::sine(n as usize).x.column(0).to_vec())
}

/// (a) one γ, or (d) a panel of all γ: loss, d_F, d_W (log scale) and the permuted fraction against the step.
struct StepsFigure<'a> {
    stage: &'a str,
    steps: &'a Steps,
    gammas: Vec<f64>,
    seed: f64,
}

impl Figure for StepsFigure<'_> {
    fn name(&self) -> String {
        match self.gammas.as_slice() {
            [g] => format!("{}_steps_gamma_{}", self.stage, gamma_label(*g)),
            _ => format!("{}_steps_panel", self.stage),
        }
    }

    fn caption(&self) -> String {
        match self.gammas.as_slice() {
            [g] => format!(
                "Loss, step distances d_F and d_W and the permuted fraction against the prox step, Frobenius \
                 against Wasserstein, at γ = {} (seed {}).",
                gamma_label(*g),
                self.seed
            ),
            _ => format!(
                "Loss, step distances and permuted fraction against the prox step for every γ of the sweep, \
                 Frobenius against Wasserstein (seed {}).",
                self.seed
            ),
        }
    }

    fn size(&self) -> (u32, u32) {
        let k = self.gammas.len() as u32;
        if k == 1 {
            (1250, 830)
        } else {
            (3 * 620, 150 + k.div_ceil(3) * 480)
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(140);
        let (title, legend) = top.split_vertically(60);
        let title_text = format!(
            "Prox sweep (E4), seed {}: loss, distances d_F, d_W to the previous iterate (log), fraction permuted",
            self.seed
        );
        title.titled(&title_text, (style::FONT, if self.gammas.len() == 1 { 19 } else { 24 })).map_err(plot_err)?;
        // One legend for every panel, outside them: inside, it covered the permuted-fraction lines.
        steps_legend(&legend, if self.gammas.len() == 1 { [0, 230, 530, 830] } else { [0, 420, 840, 1260] })?;
        let cols = self.gammas.len().min(3);
        let areas = body.split_evenly((self.gammas.len().div_ceil(3), cols));
        for (area, &g) in areas.iter().zip(&self.gammas) {
            steps_panel(area, self.steps, g, self.seed)?;
        }
        Ok(())
    }
}

fn steps_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Steps,
    gamma: f64,
    seed: f64,
) -> anyhow::Result<()> {
    let mut values = Vec::new();
    let mut last_step = 1.0f64;
    for (d, _) in DISTANCES {
        for r in s.rows(seed, d, gamma) {
            values.extend([s.loss[r], s.dist_frob[r], s.dist_w2[r]].into_iter().filter(|v| v.is_finite() && *v > 0.0));
            last_step = last_step.max(s.step[r]);
        }
    }
    let (lo, hi) = style::log_floor(values.into_iter(), 1e-30);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("γ = {}", gamma_label(gamma)), label_font())
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .right_y_label_area_size(55)
        .build_cartesian_2d(0.0..last_step, style::log_axis(lo, hi))
        .map_err(plot_err)?
        .set_secondary_coord(0.0..last_step, 0.0..1.05);
    chart
        .configure_mesh()
        .x_desc("prox step t")
        .y_desc("loss, distance (log)")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .label_style(tick_font())
        .axis_desc_style(tick_font())
        .draw()
        .map_err(plot_err)?;
    chart
        .configure_secondary_axes()
        .y_desc("fraction permuted")
        .label_style(tick_font())
        .axis_desc_style(tick_font())
        .draw()
        .map_err(plot_err)?;
    for (d, c) in DISTANCES {
        let rows = s.rows(seed, d, gamma);
        let pts = |v: &[f64]| -> Vec<(f64, f64)> {
            rows.iter().filter(|&&r| v[r].is_finite() && v[r] > 0.0).map(|&r| (s.step[r], v[r])).collect()
        };
        chart.draw_series(LineSeries::new(pts(&s.loss), c.stroke_width(3))).map_err(plot_err)?;
        chart.draw_series(DashedLineSeries::new(pts(&s.dist_frob), 8, 5, c.stroke_width(2))).map_err(plot_err)?;
        chart.draw_series(DashedLineSeries::new(pts(&s.dist_w2), 2, 4, c.stroke_width(2))).map_err(plot_err)?;
        let frac: Vec<(f64, f64)> =
            rows.iter().filter(|&&r| s.frac[r].is_finite()).map(|&r| (s.step[r], s.frac[r])).collect();
        chart.draw_secondary_series(LineSeries::new(frac, c.mix(0.45).stroke_width(7))).map_err(plot_err)?;
    }
    Ok(())
}

/// The shared legend of the steps figures: one row per distance, one column per series (at `columns` px).
fn steps_legend(area: &DrawingArea<impl DrawingBackend, Shift>, columns: [i32; 4]) -> anyhow::Result<()> {
    for (row, (d, c)) in DISTANCES.into_iter().enumerate() {
        let y = 18 + 34 * row as i32;
        for (k, series) in ["loss", "d_F (dashed)", "d_W (dotted)", "permuted (right axis)"].into_iter().enumerate() {
            let x = 30 + columns[k];
            let dashes: Vec<(i32, i32)> = match k {
                0 => vec![(0, 30)],
                1 => vec![(0, 8), (13, 21), (26, 30)],
                2 => vec![(0, 2), (6, 8), (12, 14), (18, 20), (24, 26)],
                _ => vec![(0, 30)],
            };
            let style = match k {
                0 => c.stroke_width(3),
                3 => c.mix(0.45).stroke_width(7),
                _ => c.stroke_width(2),
            };
            for (a, b) in dashes {
                area.draw(&PathElement::new(vec![(x + a, y), (x + b, y)], style)).map_err(plot_err)?;
            }
            area.draw(&Text::new(format!("{d}: {series}"), (x + 38, y - 9), tick_font())).map_err(plot_err)?;
        }
    }
    Ok(())
}

/// (c) final loss against γ: median over seeds and the 10–90 % band, per distance.
struct Summary<'a> {
    stage: &'a str,
    steps: &'a Steps,
    gammas: &'a [f64],
}

/// A chart with a log x axis and a log y axis labelled by [`style::log_axis`].
pub(super) type LogLogChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<LogCoord<f64>, WithKeyPoints<LogCoord<f64>>>>;

/// Log-log axes of the final loss against γ over [g0, g1] and [lo, hi], shared by the E4 and E4x summaries.
pub(super) fn final_loss_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: Option<&str>,
    (g0, g1): (f64, f64),
    (lo, hi): (f64, f64),
) -> anyhow::Result<LogLogChart<'a, DB>> {
    let mut builder = ChartBuilder::on(area);
    if let Some(caption) = caption {
        builder.caption(caption, (style::FONT, 21));
    }
    let mut chart = builder
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((g0 / 1.5..g1 * 1.5).log_scale(), style::log_axis(lo, hi))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("prox step γ (log scale)")
        .y_desc("final loss (log scale)")
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .label_style(tick_font())
        .axis_desc_style(label_font())
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// (γ, 10 %, 50 %, 90 %) of the final losses over seeds.
type Quantiles = (f64, f64, f64, f64);

pub(super) use crate::experiments::prox_compare::quantile;

impl Figure for Summary<'_> {
    fn name(&self) -> String {
        format!("{}_summary", self.stage)
    }

    fn caption(&self) -> String {
        "The final loss after the last prox step against γ, median and 10–90 % band over seeds, per distance.".into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let s = self.steps;
        let last = s.step.iter().copied().fold(0.0, f64::max);
        let mut bands: Vec<(&str, RGBColor, Vec<Quantiles>)> = Vec::new();
        for (d, c) in DISTANCES {
            let mut band = Vec::new();
            for &g in self.gammas {
                let mut finals: Vec<f64> = (0..s.step.len())
                    .filter(|&r| s.distance[r] == d && s.gamma[r] == g && s.step[r] == last)
                    .map(|r| s.loss[r].max(1e-30))
                    .collect();
                finals.sort_by(f64::total_cmp);
                if !finals.is_empty() {
                    band.push((g, quantile(&finals, 0.1), quantile(&finals, 0.5), quantile(&finals, 0.9)));
                }
            }
            band.sort_by(|a, b| a.0.total_cmp(&b.0));
            bands.push((d, c, band));
        }
        let seeds = {
            let mut v = s.seed.clone();
            v.sort_by(f64::total_cmp);
            v.dedup();
            v.len()
        };
        let (lo, hi) = style::log_floor(bands.iter().flat_map(|b| b.2.iter().flat_map(|q| [q.1, q.3])), 1e-30);
        let (g0, g1) = (
            self.gammas.iter().copied().fold(f64::INFINITY, f64::min),
            self.gammas.iter().copied().fold(0.0, f64::max),
        );
        let caption = format!(
            "Prox sweep (E4): final loss after {last} prox steps against γ, median and 10–90 % over {seeds} seeds"
        );
        let mut chart = final_loss_chart(root, Some(&caption), (g0, g1), (lo, hi))?;
        for (d, c, band) in &bands {
            let c = *c;
            let area: Vec<(f64, f64)> =
                band.iter().map(|q| (q.0, q.3)).chain(band.iter().rev().map(|q| (q.0, q.1))).collect();
            chart.draw_series([Polygon::new(area, c.mix(0.2).filled())]).map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(band.iter().map(|q| (q.0, q.2)), c.stroke_width(3)).point_size(4))
                .map_err(plot_err)?
                .label(format!("{d}: median (band: 10–90 %)"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        }
        style::legend(&mut chart, SeriesLabelPosition::LowerLeft, label_font())
    }
}
