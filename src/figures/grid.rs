//! Figures of E5: the grid JKO flow (`grid_jko`) and its comparison with mean-field particle GD (`grid_vs_gd`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{self, colour, label_font, log_floor, plot_err, tick_font, title_font, Figure, BLUE, RED};
use crate::results::{Results, StageInfo};
use crate::tables::{column_f64, grid_spacing, StageTables};

/// Rows of a table grouped by the value of `key`, in first-appearance order.
fn groups(keys: &[f64]) -> Vec<(f64, Vec<usize>)> {
    let mut out: Vec<(f64, Vec<usize>)> = Vec::new();
    for (r, &k) in keys.iter().enumerate() {
        match out.iter_mut().find(|(v, _)| *v == k) {
            Some((_, rows)) => rows.push(r),
            None => out.push((k, vec![r])),
        }
    }
    out
}

fn pick(values: &[f64], rows: &[usize]) -> Vec<f64> {
    rows.iter().map(|&r| values[r]).collect()
}

/// A named curve: label, x values, y values.
struct Curve {
    label: String,
    x: Vec<f64>,
    y: Vec<f64>,
    dashed: bool,
}

/// JKO loss curves, one per ε.
fn jko_curves(steps: &polars::prelude::DataFrame) -> anyhow::Result<Vec<Curve>> {
    let (eps, time, loss) = (column_f64(steps, "eps")?, column_f64(steps, "time")?, column_f64(steps, "loss")?);
    Ok(groups(&eps)
        .into_iter()
        .map(|(e, rows)| Curve {
            label: format!("grid JKO, ε = {e}"),
            x: pick(&time, &rows),
            y: pick(&loss, &rows),
            dashed: false,
        })
        .collect())
}

struct LossVsTime<'a> {
    name: String,
    title: &'a str,
    curves: Vec<Curve>,
}

impl Figure for LossVsTime<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let t_max = self.curves.iter().flat_map(|c| c.x.iter().copied()).fold(0.0, f64::max).max(1e-9);
        // Linear axis: these losses span well under a decade, where a log axis shows no labels.
        let (lo, hi) = self
            .curves
            .iter()
            .flat_map(|c| c.y.iter().copied())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let pad = ((hi - lo) * 0.05).max(1e-12);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, title_font())
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..t_max, (lo - pad).max(0.0)..(hi + pad))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("time t (gradient-flow time; one JKO step = τ/2)")
            .y_desc("loss f = (1/n) Σ (output − y)²")
            .y_label_formatter(&|v| format!("{v:.3}"))
            .label_style(tick_font())
            .axis_desc_style(label_font())
            .draw()
            .map_err(plot_err)?;
        for (i, c) in self.curves.iter().enumerate() {
            let col = colour(i);
            let pts: Vec<(f64, f64)> = c.x.iter().copied().zip(c.y.iter().copied()).collect();
            let style = col.stroke_width(3);
            let series = if c.dashed {
                chart.draw_series(DashedLineSeries::new(pts, 10, 6, style)).map_err(plot_err)?
            } else {
                chart.draw_series(LineSeries::new(pts, style)).map_err(plot_err)?
            };
            let dashed = c.dashed;
            series.label(&c.label).legend(move |(x, y)| {
                let end = if dashed { x + 10 } else { x + 22 };
                PathElement::new(vec![(x, y), (end, y)], col.stroke_width(3))
            });
        }
        style::legend(&mut chart, SeriesLabelPosition::UpperRight, label_font())
    }
}

/// Diagnostics of the Dykstra solves per JKO step: energy, marginal errors, iterations.
struct Diagnostics<'a> {
    stage: &'a str,
    steps: &'a polars::prelude::DataFrame,
}

impl Figure for Diagnostics<'_> {
    fn name(&self) -> String {
        format!("{}_diagnostics", self.stage)
    }

    fn size(&self) -> (u32, u32) {
        (1500, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(50);
        top.titled("Grid JKO (E5): per-step energy, Dykstra marginal errors and iterations", title_font())
            .map_err(plot_err)?;
        let panels = body.split_evenly((1, 3));
        let s = self.steps;
        let (eps, step) = (column_f64(s, "eps")?, column_f64(s, "step")?);
        let rows: Vec<(f64, Vec<usize>)> =
            groups(&eps).into_iter().map(|(e, r)| (e, r.into_iter().filter(|&i| step[i] > 0.0).collect())).collect();
        let energy = column_f64(s, "energy")?;
        let errs = [column_f64(s, "marginal_err_q")?, column_f64(s, "marginal_err_p")?];
        let iters = column_f64(s, "iterations")?;
        let series = |v: &[f64]| -> Vec<(String, Vec<(f64, f64)>)> {
            rows.iter().map(|(e, r)| (format!("ε = {e}"), r.iter().map(|&i| (step[i], v[i])).collect())).collect()
        };
        panel(&panels[0], "JKO energy W_ε(p_t+1, p_t) + τ f(p_t+1)", "energy", &series(&energy), false)?;
        let mut err_series = series(&errs[0]);
        err_series.iter_mut().for_each(|s| s.0 = format!("{}, first marginal (q)", s.0));
        let mut p_series = series(&errs[1]);
        p_series.iter_mut().for_each(|s| s.0 = format!("{}, second marginal (p)", s.0));
        err_series.extend(p_series);
        panel(&panels[1], "final marginal errors (relative)", "error, log scale", &err_series, true)?;
        panel(&panels[2], "Dykstra iterations per step", "iterations", &series(&iters), false)
    }
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    log: bool,
) -> anyhow::Result<()> {
    let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let x_max = xs.fold(1.0, f64::max);
    let ys: Vec<f64> = series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).filter(|v| v.is_finite()).collect();
    let mut builder = ChartBuilder::on(area);
    builder.caption(caption, label_font()).margin(12).x_label_area_size(45).y_label_area_size(75);
    if log {
        let (lo, hi) = log_floor(ys.iter().copied(), 1e-300);
        let mut chart = builder.build_cartesian_2d(0.0..x_max, style::log_axis(lo, hi)).map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("JKO step")
            .y_desc(y_desc)
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .label_style(tick_font())
            .axis_desc_style(tick_font())
            .draw()
            .map_err(plot_err)?;
        return draw_labelled_lines(&mut chart, series, 1e-300);
    }
    let (lo, hi) = ys.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let pad = ((hi - lo) * 0.05).max(1e-12);
    let mut chart = builder.build_cartesian_2d(0.0..x_max, (lo - pad)..(hi + pad)).map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("JKO step")
        .y_desc(y_desc)
        .label_style(tick_font())
        .axis_desc_style(tick_font())
        .draw()
        .map_err(plot_err)?;
    draw_labelled_lines(&mut chart, series, f64::NEG_INFINITY)
}

/// One coloured line per series, values raised to `floor` (for log axes), and the legend.
fn draw_labelled_lines<'a, DB: DrawingBackend + 'a, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, DB, CT>,
    series: &[(String, Vec<(f64, f64)>)],
    floor: f64,
) -> anyhow::Result<()> {
    for (i, (label, pts)) in series.iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(pts.iter().map(|&(x, y)| (x, y.max(floor))), c.stroke_width(2)))
            .map_err(plot_err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    style::legend(chart, SeriesLabelPosition::UpperRight, tick_font())
}

/// One grid density snapshot: cells (w, b, mass) per sign.
struct Snapshot {
    time: f64,
    cells: [Vec<(f64, f64, f64)>; 2],
    particles: Vec<(f64, f64, f64)>,
}

/// Density snapshots of the smallest ε, keyed by step.
fn snapshots(tables: &StageTables, tau: f64) -> anyhow::Result<(f64, BTreeMap<u32, Snapshot>)> {
    let d = tables.get("density").context("missing table `density`")?;
    let (eps, step, sign) = (column_f64(d, "eps")?, column_f64(d, "step")?, column_f64(d, "sign")?);
    let (w, b, p) = (column_f64(d, "w")?, column_f64(d, "b")?, column_f64(d, "p")?);
    let e0 = eps.iter().copied().fold(f64::INFINITY, f64::min);
    let mut out: BTreeMap<u32, Snapshot> = BTreeMap::new();
    for r in (0..eps.len()).filter(|&r| eps[r] == e0) {
        let t = step[r] as u32;
        let snap = out.entry(t).or_insert_with(|| Snapshot {
            time: f64::from(t) * tau / 2.0,
            cells: [vec![], vec![]],
            particles: vec![],
        });
        snap.cells[usize::from(sign[r] < 0.0)].push((w[r], b[r], p[r]));
    }
    Ok((e0, out))
}

/// Heat maps of p_t per sign copy (rows) at the stored steps (columns), optionally with GD particles below.
struct Densities<'a> {
    name: String,
    title: String,
    snaps: Vec<&'a Snapshot>,
    half_width: f64,
    with_particles: bool,
}

impl Figure for Densities<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn size(&self) -> (u32, u32) {
        let rows = if self.with_particles { 3 } else { 2 };
        (330 * self.snaps.len().max(1) as u32, 60 + 330 * rows)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(60);
        top.titled(&self.title, title_font()).map_err(plot_err)?;
        let rows = if self.with_particles { 3 } else { 2 };
        let cells = body.split_evenly((rows, self.snaps.len().max(1)));
        let n = self.snaps.len();
        for (j, snap) in self.snaps.iter().enumerate() {
            for (c, (label, col)) in [("α = +1", RED), ("α = −1", BLUE)].into_iter().enumerate() {
                let caption = format!("p_t, {label}, t = {:.2}", snap.time);
                self.heat(&cells[c * n + j], &caption, &snap.cells[c], col)?;
            }
            if self.with_particles {
                self.scatter(&cells[2 * n + j], &format!("GD particles, t = {:.2}", snap.time), &snap.particles)?;
            }
        }
        Ok(())
    }
}

impl Densities<'_> {
    fn axes<'b, DB: DrawingBackend>(
        &self,
        area: &'b DrawingArea<DB, Shift>,
        caption: &str,
    ) -> anyhow::Result<
        ChartContext<
            'b,
            DB,
            Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
        >,
    > {
        let r = self.half_width;
        let mut chart = ChartBuilder::on(area)
            .caption(caption, tick_font())
            .margin(6)
            .x_label_area_size(35)
            .y_label_area_size(40)
            .build_cartesian_2d(-r..r, -r..r)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("w (slope)")
            .y_desc("b (bias)")
            .x_labels(5)
            .y_labels(5)
            .label_style((style::FONT, 12))
            .axis_desc_style((style::FONT, 13))
            .draw()
            .map_err(plot_err)?;
        Ok(chart)
    }

    fn heat<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        cells: &[(f64, f64, f64)],
        col: RGBColor,
    ) -> anyhow::Result<()> {
        let mut chart = self.axes(area, caption)?;
        let max = cells.iter().map(|c| c.2).fold(0.0, f64::max);
        let h = cell_size(cells);
        // Cells below 1e-3 of the peak are left white: they are invisible anyway and would bloat the SVG.
        let shown = cells.iter().filter(|c| max > 0.0 && c.2 > 1e-3 * max);
        chart
            .draw_series(shown.map(|&(w, b, p)| {
                let t = (p / max).sqrt();
                let mix = |c: u8| (255.0 - t * (255.0 - f64::from(c))) as u8;
                Rectangle::new(
                    [(w - h.0 / 2.0, b - h.1 / 2.0), (w + h.0 / 2.0, b + h.1 / 2.0)],
                    RGBColor(mix(col.0), mix(col.1), mix(col.2)).filled(),
                )
            }))
            .map_err(plot_err)?;
        Ok(())
    }

    fn scatter<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        particles: &[(f64, f64, f64)],
    ) -> anyhow::Result<()> {
        let mut chart = self.axes(area, caption)?;
        let r = self.half_width;
        let inside = particles.iter().filter(|p| p.1.abs() <= r && p.2.abs() <= r);
        chart
            .draw_series(inside.map(|&(a, w, b)| {
                Circle::new((w, b), 2, if a > 0.0 { RED.mix(0.5).filled() } else { BLUE.mix(0.5).filled() })
            }))
            .map_err(plot_err)?;
        Ok(())
    }
}

fn cell_size(cells: &[(f64, f64, f64)]) -> (f64, f64) {
    let (hw, hb) = (grid_spacing(cells.iter().map(|c| c.0)), grid_spacing(cells.iter().map(|c| c.1)));
    (if hw.is_finite() { hw } else { 0.05 }, if hb.is_finite() { hb } else { 0.05 })
}

fn tau_of(steps: &polars::prelude::DataFrame) -> anyhow::Result<f64> {
    column_f64(steps, "tau")?.first().copied().ok_or_else(|| anyhow!("empty `steps` table"))
}

fn half_width(snaps: &BTreeMap<u32, Snapshot>) -> f64 {
    let m = snaps.values().flat_map(|s| s.cells.iter().flatten()).map(|c| c.0.abs().max(c.1.abs())).fold(0.0, f64::max);
    if m > 0.0 {
        m
    } else {
        1.0
    }
}

pub fn draw_jko(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let tables = results.tables(&info.name)?;
    let steps = tables.get("steps").context("missing table `steps`")?;
    let stage = info.name.as_str();
    let loss = LossVsTime {
        name: format!("{stage}_loss"),
        title: "Grid JKO (E5): loss along the entropic JKO flow",
        curves: jko_curves(steps)?,
    };
    let mut files = style::render(&loss, out)?;
    files.extend(style::render(&Diagnostics { stage, steps }, out)?);
    let (e0, snaps) = snapshots(&tables, tau_of(steps)?)?;
    let dens = Densities {
        name: format!("{stage}_density"),
        title: format!("Grid JKO (E5): density p_t on the (w, b) grid per sign copy, ε = {e0}"),
        snaps: snaps.values().collect(),
        half_width: half_width(&snaps),
        with_particles: false,
    };
    files.extend(style::render(&dens, out)?);
    Ok(files)
}

pub fn draw_vs_gd(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let source = info.record.inputs.keys().next().context("grid_vs_gd has no input stage")?;
    let jko = results.tables(source)?;
    let jko_steps = jko.get("steps").context("source has no `steps` table")?;
    let gd = results.tables(&info.name)?;
    let (loss, particles) =
        (gd.get("loss").context("missing `loss`")?, gd.get("particles").context("missing `particles`")?);
    let mut curves = jko_curves(jko_steps)?;
    let (m, seed, time, l) =
        (column_f64(loss, "m")?, column_f64(loss, "seed")?, column_f64(loss, "time")?, column_f64(loss, "loss")?);
    let first_seed = seed.first().copied().unwrap_or(0.0);
    for (mv, rows) in groups(&m) {
        let rows: Vec<usize> = rows.into_iter().filter(|&r| seed[r] == first_seed).collect();
        curves.push(Curve {
            label: format!("particle GD, m = {mv}"),
            x: pick(&time, &rows),
            y: pick(&l, &rows),
            dashed: true,
        });
    }
    let stage = info.name.as_str();
    let fig = LossVsTime {
        name: format!("{stage}_loss"),
        title: "E5: grid JKO flow (solid) vs mean-field particle GD (dashed)",
        curves,
    };
    let mut files = style::render(&fig, out)?;

    let (e0, mut snaps) = snapshots(&jko, tau_of(jko_steps)?)?;
    let (pm, ps, pstep) = (column_f64(particles, "m")?, column_f64(particles, "seed")?, column_f64(particles, "step")?);
    let (pa, pw, pb) = (column_f64(particles, "alpha")?, column_f64(particles, "w")?, column_f64(particles, "b")?);
    let m_max = pm.iter().copied().fold(0.0, f64::max);
    for r in (0..pm.len()).filter(|&r| pm[r] == m_max && ps[r] == first_seed) {
        if let Some(s) = snaps.get_mut(&(pstep[r] as u32)) {
            if s.particles.len() < 4000 {
                s.particles.push((pa[r], pw[r], pb[r]));
            }
        }
    }
    let dens = Densities {
        name: format!("{stage}_snapshots"),
        title: format!(
            "E5: JKO density (ε = {e0}) per sign copy vs GD particles (m = {m_max}, ≤ 4000 shown), same times"
        ),
        snaps: snaps.values().collect(),
        half_width: half_width(&snaps),
        with_particles: true,
    };
    files.extend(style::render(&dens, out)?);
    Ok(files)
}
