//! Figures of the weight-decay stage `prox_decay` (issue 20, item 4; docs/METHODS.md "Weight decay"): the norms of
//! the neurons that activate no data at W⁰ (b ≤ −|w|, the notes' "bottom quadrants") against the prox step, per γ
//! and distance, with decay (`prox_decay`) and without (`prox_decay_off`, drawn when it has results), beside the
//! closed form (1 + 2γmλ)^(−t) of a Frobenius step; and their norm after the last step against γ.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::prox_sweep::{gamma_label, quantile, DISTANCES};
use super::style::{self, label_font, log_axis, plot_err, tick_font, Figure};
use crate::results::{Results, StageInfo};
use crate::tables::{column_f64, column_str};

/// The stage this module draws, and its reference without decay.
pub const STAGE: &str = "prox_decay";
const STAGE_OFF: &str = "prox_decay_off";
/// Relative norms at or below this are drawn at it (Frobenius at γ = 1 reaches 2^−100 ≈ 8e-31).
const FLOOR: f64 = 1e-32;

/// (10 %, 50 %, 90 %) of ‖w_i^t‖/‖w_i^0‖ over the inactive neurons of all seeds, per (distance, γ bits, step).
type Bands = BTreeMap<(String, u64, u32), (f64, f64, f64)>;

/// The relative norms of the neurons inactive at W⁰ (data on [−1, 1]: inactive iff b ≤ −|w|), from `particles`.
fn inactive_bands(results: &Results, stage: &str) -> anyhow::Result<Bands> {
    let t = results.table(stage, "particles")?;
    let (seed, distance, gamma) = (column_f64(&t, "seed")?, column_str(&t, "distance")?, column_f64(&t, "gamma")?);
    let (step, particle) = (column_f64(&t, "step")?, column_f64(&t, "particle")?);
    let (w, b) = (column_f64(&t, "w")?, column_f64(&t, "b")?);
    let id = |r: usize| (seed[r].to_bits(), distance[r].clone(), gamma[r].to_bits(), particle[r] as u32);
    let start: BTreeMap<_, f64> =
        (0..step.len()).filter(|&r| step[r] == 0.0 && b[r] <= -w[r].abs()).map(|r| (id(r), w[r].hypot(b[r]))).collect();
    let mut groups: BTreeMap<(String, u64, u32), Vec<f64>> = BTreeMap::new();
    for r in 0..step.len() {
        if let Some(n0) = start.get(&id(r)) {
            let key = (distance[r].clone(), gamma[r].to_bits(), step[r] as u32);
            groups.entry(key).or_default().push((w[r].hypot(b[r]) / n0).max(FLOOR));
        }
    }
    Ok(groups
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            (k, (quantile(&v, 0.1), quantile(&v, 0.5), quantile(&v, 0.9)))
        })
        .collect())
}

/// A log range around the values (floored), padded by 5 % of its decades, at least ×1.002: at γ ≤ 1e-4 the
/// whole action is the closed form's 1 % (γ = 1e-4) or 0.1 % (1e-5) over 100 steps, which a ×2 pad would flatten.
fn zoomed_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()).map(|v| v.max(FLOOR)) {
        (lo, hi) = (lo.min(v), hi.max(v));
    }
    if !lo.is_finite() {
        return (0.5, 2.0);
    }
    let pad = (hi / lo).powf(0.05).max(1.002);
    (lo / pad, hi * pad)
}

/// A legend line's three segments (relative to the legend point), gapless when solid, else dashed as the curve.
fn legend_segments(c: RGBColor, solid: bool) -> [PathElement<(i32, i32)>; 3] {
    let (len, style) = (if solid { 10 } else { 6 }, c.stroke_width(3));
    [0, 1, 2].map(|k| PathElement::new(vec![(10 * k - 10, 0), (10 * k - 10 + len, 0)], style))
}

/// A log axis over [lo, hi]: decades (`log_axis`) when it spans ≥ 10×, else 5 geometric marks to 4 digits, so the
/// zoomed panels (a 0.1 % change at γ = 1e-5) keep their labels.
fn axis(lo: f64, hi: f64) -> plotters::coord::combinators::WithKeyPoints<LogCoord<f64>> {
    if hi / lo >= 10.0 {
        return log_axis(lo, hi);
    }
    let marks: Vec<f64> = (1..=5)
        .map(|k| lo * (hi / lo).powf(f64::from(k) / 6.0))
        .map(|v| {
            let scale = 10f64.powi(3 - v.log10().floor() as i32);
            (v * scale).round() / scale
        })
        .collect();
    LogCoord::from((lo..hi).log_scale()).with_key_points(marks)
}

/// Tick text: 4 significant digits on a zoomed axis, else powers of ten.
fn tick(v: f64, zoomed: bool) -> String {
    if zoomed {
        format!("{v:.4}")
    } else {
        format!("{v:.0e}")
    }
}

/// Frobenius drawn wider, under Wasserstein, so where the two coincide (γ ≤ 1e-4) both stay visible.
fn width(d: &str) -> u32 {
    if d == DISTANCES[0].0 {
        6
    } else {
        3
    }
}

/// λ, m, the γ grid (largest first), the last step and the number of seeds of the stage.
struct Setting {
    lambda: f64,
    m: f64,
    gammas: Vec<f64>,
    steps: u32,
    seeds: usize,
}

impl Setting {
    fn of(info: &StageInfo, bands: &Bands) -> Setting {
        let param = |name: &str| info.record.points.first().and_then(|p| p.params.get(name)).and_then(|v| v.as_f64());
        let mut gammas: Vec<f64> = bands.keys().map(|k| f64::from_bits(k.1)).collect();
        gammas.sort_by(|a, b| b.total_cmp(a));
        gammas.dedup();
        let mut seeds: Vec<String> = info
            .record
            .points
            .iter()
            .map(|p| p.coords.get("seed").map(|s| s.to_string()).unwrap_or_default())
            .collect();
        seeds.sort();
        seeds.dedup();
        Setting {
            lambda: param("weight_decay").unwrap_or(0.0),
            m: param("m").unwrap_or(50.0),
            gammas,
            steps: bands.keys().map(|k| k.2).max().unwrap_or(0),
            seeds: seeds.len(),
        }
    }

    /// The Frobenius closed form for a neuron with no active data: ‖w^t‖/‖w^0‖ = (1 + 2γmλ)^(−t).
    fn closed_form(&self, gamma: f64, t: u32) -> f64 {
        (1.0 + 2.0 * gamma * self.m * self.lambda).powi(-(t as i32)).max(FLOOR)
    }
}

/// The weight-decay stages draw these figures instead of the E4 ones (`prox_decay_off` none: it is drawn with
/// `prox_decay`); None for every other `prox_sweep` stage.
pub fn draw_instead(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Option<Vec<PathBuf>>> {
    match info.name.as_str() {
        STAGE => draw(results, info, out).map(Some),
        STAGE_OFF => Ok(Some(Vec::new())),
        _ => Ok(None),
    }
}

fn draw(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let on = inactive_bands(results, &info.name)?;
    let has_off = results.stages()?.iter().any(|s| s.name == STAGE_OFF);
    let off = if has_off { inactive_bands(results, STAGE_OFF)? } else { Bands::new() };
    let setting = Setting::of(info, &on);
    let fig = NormsFigure { stage: &info.name, on: &on, off: &off, setting: &setting };
    let mut files = style::render(&fig, out)?;
    files.extend(style::render(&FinalNorms(fig), out)?);
    Ok(files)
}

/// Norms of the inactive neurons against the prox step, one panel per γ.
struct NormsFigure<'a> {
    stage: &'a str,
    on: &'a Bands,
    off: &'a Bands,
    setting: &'a Setting,
}

/// (distance, with decay?) curves: colour per distance, solid with decay, dashed without.
fn curves<'a>(fig: &'a NormsFigure) -> impl Iterator<Item = (&'static str, RGBColor, bool, &'a Bands)> + 'a {
    DISTANCES.into_iter().flat_map(move |(d, c)| [(d, c, true, fig.on), (d, c, false, fig.off)])
}

impl Figure for NormsFigure<'_> {
    fn name(&self) -> String {
        format!("{}_inactive_norms", self.stage)
    }

    fn caption(&self) -> String {
        format!(
            "Neurons that activate no data at W⁰ (b ≤ −|w|), exact local prox steps, weight decay λ = {} (solid) and \
             none (dashed, stage {STAGE_OFF}): their norm relative to W⁰ against the prox step, median and 10–90 % \
             band over those neurons of {} seeds, per γ; dotted black: the closed form (1 + 2γmλ)^(−t) of a Frobenius \
             step, which the Frobenius median follows (blue is drawn wider, under orange: at γ ≤ 1e-4 the distances \
             coincide).",
            self.setting.lambda, self.setting.seeds
        )
    }

    fn size(&self) -> (u32, u32) {
        (1800, 1150)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let (top, body) = root.split_vertically(70);
        legend_strip(&top, self.setting.lambda)?;
        let panels = body.split_evenly((2, 3));
        for (area, &g) in panels.iter().zip(&self.setting.gammas) {
            self.panel(area, g)?;
        }
        Ok(())
    }
}

impl NormsFigure<'_> {
    fn panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, g: f64) -> anyhow::Result<()> {
        let bits = g.to_bits();
        let values = curves(self)
            .flat_map(|(d, _, _, bands)| bands.iter().filter(move |(k, _)| k.0 == d && k.1 == bits))
            .flat_map(|(_, q)| [q.0, q.2]);
        let closed = (0..=self.setting.steps).map(|t| self.setting.closed_form(g, t));
        let (lo, hi) = zoomed_range(values.chain(closed));
        let steps = f64::from(self.setting.steps.max(1));
        let mut chart = ChartBuilder::on(area)
            .caption(format!("γ = {}", gamma_label(g)), label_font())
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(85)
            .build_cartesian_2d(0.0..steps, axis(lo, hi))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("prox step t")
            .y_desc("‖w_i^t‖ / ‖w_i^0‖")
            .label_style(tick_font())
            .axis_desc_style(tick_font())
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| tick(*v, hi / lo < 10.0))
            .draw()
            .map_err(plot_err)?;
        for (d, c, decay, bands) in curves(self) {
            let rows: Vec<(f64, (f64, f64, f64))> =
                bands.iter().filter(|(k, _)| k.0 == d && k.1 == bits).map(|(k, q)| (f64::from(k.2), *q)).collect();
            let area_pts: Vec<(f64, f64)> =
                rows.iter().map(|(t, q)| (*t, q.2)).chain(rows.iter().rev().map(|(t, q)| (*t, q.0))).collect();
            chart.draw_series([Polygon::new(area_pts, c.mix(0.10).filled())]).map_err(plot_err)?;
            let median = rows.iter().map(|(t, q)| (*t, q.1));
            if decay {
                chart.draw_series(LineSeries::new(median, c.stroke_width(width(d)))).map_err(plot_err)?;
            } else {
                chart.draw_series(DashedLineSeries::new(median, 10, 6, c.stroke_width(width(d)))).map_err(plot_err)?;
            }
        }
        let closed: Vec<(f64, f64)> =
            (0..=self.setting.steps).map(|t| (f64::from(t), self.setting.closed_form(g, t))).collect();
        chart.draw_series(DashedLineSeries::new(closed, 3, 5, BLACK.stroke_width(2))).map_err(plot_err)?;
        Ok(())
    }
}

/// One legend for all panels, above them, so no panel's data is covered.
fn legend_strip<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, lambda: f64) -> anyhow::Result<()> {
    let entries: Vec<(String, RGBColor, bool)> = DISTANCES
        .iter()
        .flat_map(|(d, c)| [(format!("{d}, λ = {lambda}"), *c, true), (format!("{d}, no decay"), *c, false)])
        .chain([("closed form (1 + 2γmλ)^(−t)".to_string(), BLACK, false)])
        .collect();
    let width = area.dim_in_pixel().0 as i32 / entries.len() as i32;
    for (k, (label, c, solid)) in entries.iter().enumerate() {
        let x = 20 + k as i32 * width;
        let (y, style) = (35, c.stroke_width(4));
        if *solid {
            area.draw(&PathElement::new(vec![(x, y), (x + 50, y)], style)).map_err(plot_err)?;
        } else {
            for s in 0..4 {
                let x0 = x + s * 14;
                area.draw(&PathElement::new(vec![(x0, y), (x0 + 8, y)], style)).map_err(plot_err)?;
            }
        }
        area.draw(&Text::new(label.clone(), (x + 60, y - 12), label_font())).map_err(plot_err)?;
    }
    Ok(())
}

/// The inactive neurons' relative norm after the last step against γ.
struct FinalNorms<'a>(NormsFigure<'a>);

impl Figure for FinalNorms<'_> {
    fn name(&self) -> String {
        format!("{}_inactive_final", self.0.stage)
    }

    fn caption(&self) -> String {
        let s = self.0.setting;
        format!(
            "Neurons that activate no data at W⁰: their norm after {} exact local prox steps relative to W⁰, against \
             γ, median and 10–90 % band over those neurons of {} seeds, with weight decay λ = {} (solid) and without \
             (dashed); dotted black: the Frobenius closed form (1 + 2γmλ)^(−{}).",
            s.steps, s.seeds, s.lambda, s.steps
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let (s, last) = (self.0.setting, self.0.setting.steps);
        let at_last = |d: &str, bands: &Bands| -> Vec<(f64, (f64, f64, f64))> {
            let mut v: Vec<_> =
                bands.iter().filter(|(k, _)| k.0 == d && k.2 == last).map(|(k, q)| (f64::from_bits(k.1), *q)).collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        };
        let closed: Vec<(f64, f64)> = s.gammas.iter().rev().map(|&g| (g, s.closed_form(g, last))).collect();
        let values = curves(&self.0).flat_map(|(d, _, _, b)| at_last(d, b)).flat_map(|(_, q)| [q.0, q.2]);
        let (lo, hi) = zoomed_range(values.chain(closed.iter().map(|c| c.1)));
        let (g_lo, g_hi) =
            (s.gammas.last().copied().unwrap_or(1e-5) / 2.0, s.gammas.first().copied().unwrap_or(1.0) * 2.0);
        let mut chart = ChartBuilder::on(root)
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(100)
            .build_cartesian_2d(log_axis(g_lo, g_hi), axis(lo, hi))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("prox step size γ")
            .y_desc(format!("‖w_i^{last}‖ / ‖w_i^0‖"))
            .label_style(tick_font())
            .axis_desc_style(label_font())
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(plot_err)?;
        for (d, c, decay, bands) in curves(&self.0) {
            let rows = at_last(d, bands);
            let area: Vec<(f64, f64)> =
                rows.iter().map(|(g, q)| (*g, q.2)).chain(rows.iter().rev().map(|(g, q)| (*g, q.0))).collect();
            chart.draw_series([Polygon::new(area, c.mix(0.10).filled())]).map_err(plot_err)?;
            let median: Vec<(f64, f64)> = rows.iter().map(|(g, q)| (*g, q.1)).collect();
            let marks = median.iter().map(|p| Circle::new(*p, 5, c.filled()));
            chart.draw_series(marks).map_err(plot_err)?;
            let label = if decay { format!("{d}, λ = {}", s.lambda) } else { format!("{d}, no decay") };
            let series = if decay {
                chart.draw_series(LineSeries::new(median, c.stroke_width(width(d))))
            } else {
                chart.draw_series(DashedLineSeries::new(median, 10, 6, c.stroke_width(width(d))))
            };
            series.map_err(plot_err)?.label(label).legend(move |(x, y)| {
                let [a, b, e] = legend_segments(c, decay);
                EmptyElement::at((x, y)) + a + b + e
            });
        }
        chart
            .draw_series(DashedLineSeries::new(closed, 3, 5, BLACK.stroke_width(2)))
            .map_err(plot_err)?
            .label("closed form (1 + 2γmλ)^(−T)")
            .legend(|(x, y)| {
                let [a, b, e] = legend_segments(BLACK, false);
                EmptyElement::at((x, y)) + a + b + e
            });
        style::legend(&mut chart, SeriesLabelPosition::LowerLeft, tick_font())
    }
}
