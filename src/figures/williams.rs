//! Figures of E7 `williams` (Williams et al. 2019; docs/METHODS.md "E7"): one drawer for the kind, the picture chosen
//! by the `figure` column of the `runs` table. Network functions with their knots (green circles at (e_i, f(e_i)))
//! and samples (blue crosses), uv particles (red r > 0, blue r < 0) with the sample lines v = −x_j u, particle
//! paths, the δ = +∞ direction field, tangent-kernel slices, fits against the natural cubic spline, δ drift vs η.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{self, colour, label_font, legend, plot_err, tick_font, title_font, Figure, BLUE, RED};
use crate::results::{Results, StageInfo};
use crate::tables::{column_f64, column_str, StageTables};

const GREEN: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);

/// A final or initial neuron as drawn: (knot, u, v, r).
type Drawn = (Option<f64>, f64, f64, f64);

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

pub fn draw(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let tables = results.tables(&info.name)?;
    let runs = tables.get("runs").context("missing table `runs`")?;
    let figure = column_str(runs, "figure")?.first().cloned().unwrap_or_default();
    let stage = info.name.as_str();
    let view = View::read(&tables)?;
    match figure.as_str() {
        "local_trajectories" => style::render(&Local { stage, view: &view }, out),
        "kernel_slices" => style::render(&Kernel { stage, tables: &tables }, out),
        "spline_width" => style::render(&Spline { stage, view: &view }, out),
        "delta_identity" => style::render(&Identity { stage, tables: &tables }, out),
        "" => Ok(Vec::new()),
        other => style::render(&Runs { stage, figure: other.to_string(), view: &view, tables: &tables }, out),
    }
}

/// A stage's tables grouped by run, in the order of the `runs` table.
struct View {
    runs: Vec<String>,
    function: BTreeMap<(String, String), Vec<(f64, f64)>>,
    /// (run, snapshot) → per neuron (knot, u, v, r).
    neurons: BTreeMap<(String, String), Vec<Drawn>>,
    trajectories: BTreeMap<String, BTreeMap<u32, Vec<(f64, f64)>>>,
    samples: BTreeMap<String, Vec<(f64, f64)>>,
}

impl View {
    fn read(t: &StageTables) -> anyhow::Result<View> {
        let get = |name: &str| t.get(name).with_context(|| format!("missing table `{name}`"));
        let mut runs = column_str(get("runs")?, "run")?;
        // Several seeds per setting (Fig. 8): the figure shows the first seed; the tables hold all.
        let seeds = column_f64(get("runs")?, "seed")?;
        if let Some(&first) = seeds.first() {
            runs = runs.into_iter().zip(&seeds).filter(|(_, &s)| s == first).map(|(r, _)| r).collect();
        }
        let mut view = View {
            runs,
            function: BTreeMap::new(),
            neurons: BTreeMap::new(),
            trajectories: BTreeMap::new(),
            samples: BTreeMap::new(),
        };
        let f = get("function")?;
        let (run, snap, x, y) =
            (column_str(f, "run")?, column_str(f, "snapshot")?, column_f64(f, "x")?, column_f64(f, "f")?);
        for i in 0..run.len() {
            view.function.entry((run[i].clone(), snap[i].clone())).or_default().push((x[i], y[i]));
        }
        let n = get("neurons")?;
        let (run, snap, knot) = (column_str(n, "run")?, column_str(n, "snapshot")?, column_f64(n, "knot")?);
        let (u, v, r) = (column_f64(n, "u")?, column_f64(n, "v")?, column_f64(n, "r")?);
        for i in 0..run.len() {
            let k = if knot[i].is_nan() { None } else { Some(knot[i]) };
            view.neurons.entry((run[i].clone(), snap[i].clone())).or_default().push((k, u[i], v[i], r[i]));
        }
        let tr = get("trajectories")?;
        let (run, neuron) = (column_str(tr, "run")?, column_f64(tr, "neuron")?);
        let (u, v) = (column_f64(tr, "u")?, column_f64(tr, "v")?);
        for i in 0..run.len() {
            view.trajectories
                .entry(run[i].clone())
                .or_default()
                .entry(neuron[i] as u32)
                .or_default()
                .push((u[i], v[i]));
        }
        let s = get("samples")?;
        let (run, x, y) = (column_str(s, "run")?, column_f64(s, "x")?, column_f64(s, "y")?);
        for i in 0..run.len() {
            view.samples.entry(run[i].clone()).or_default().push((x[i], y[i]));
        }
        Ok(view)
    }

    fn curve(&self, run: &str, snapshot: &str) -> &[(f64, f64)] {
        self.function.get(&(run.to_string(), snapshot.to_string())).map_or(&[], Vec::as_slice)
    }

    fn particles(&self, run: &str, snapshot: &str) -> &[Drawn] {
        self.neurons.get(&(run.to_string(), snapshot.to_string())).map_or(&[], Vec::as_slice)
    }
}

fn cartesian<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: String,
    (x0, x1, y0, y1): (f64, f64, f64, f64),
    (x_desc, y_desc): (&str, &str),
) -> anyhow::Result<Chart<'a, DB>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, label_font())
        .margin(10)
        .x_label_area_size(42)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    let (xs, ys) = (x1 - x0, y1 - y0);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(7)
        .y_labels(7)
        .x_label_formatter(&|&v| tick(v, xs))
        .y_label_formatter(&|&v| tick(v, ys))
        .label_style(tick_font())
        .axis_desc_style(label_font())
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// A tick label: plain decimals, or scientific notation on huge spans (a diverged run's weights reach 1e30).
fn tick(v: f64, span: f64) -> String {
    if span.abs() > 1e5 {
        format!("{v:.1e}")
    } else {
        style::plain_tick(v, span)
    }
}

/// Linear interpolation of a sorted curve at t (the knots are drawn on the curve).
fn interpolate(curve: &[(f64, f64)], t: f64) -> Option<f64> {
    let k = curve.partition_point(|p| p.0 < t);
    if k == 0 || k >= curve.len() {
        return None;
    }
    let ((x0, y0), (x1, y1)) = (curve[k - 1], curve[k]);
    Some(y0 + (y1 - y0) * (t - x0) / (x1 - x0))
}

/// The network function panel: init (grey, dashed) and final curves, samples, knots of the final neurons.
fn function_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, view: &View, run: &str) -> anyhow::Result<()> {
    let (init, fin) = (view.curve(run, "init"), view.curve(run, "final"));
    let samples = view.samples.get(run).map_or(&[][..], Vec::as_slice);
    let x_hi = fin.iter().map(|p| p.0.abs()).fold(1.0, f64::max);
    let ys = samples.iter().map(|p| p.1).chain(fin.iter().map(|p| p.1)).filter(|y| y.is_finite());
    let (lo, hi) = ys.fold((-1.0f64, 1.0f64), |(a, b), y| (a.min(y), b.max(y)));
    // Headroom above the data for the legend.
    let (lo, hi) = (lo.max(-4.0) - 0.15, hi.min(4.0) + 0.15);
    let hi = hi + 0.55 * (hi - lo);
    let mut chart = cartesian(area, format!("{run}: network function"), (-x_hi, x_hi, lo, hi), ("x", "f(x)"))?;
    let clip = |c: &[(f64, f64)]| c.iter().map(|&(x, y)| (x, y.clamp(lo, hi))).collect::<Vec<_>>();
    chart
        .draw_series(DashedLineSeries::new(clip(init), 8, 5, RGBColor(120, 120, 120).stroke_width(2)))
        .map_err(plot_err)?
        .label("initial f")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(120, 120, 120).stroke_width(2)));
    chart
        .draw_series(LineSeries::new(clip(fin), BLACK.stroke_width(2)))
        .map_err(plot_err)?
        .label("final f")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    // Knots of the neurons that carry the function (|r_i| ≥ 10 % of the largest): with m = 1000 the knots of
    // neurons left near the origin would cover the whole curve.
    let finals = view.particles(run, "final");
    let r_max = finals.iter().map(|n| n.3.abs()).filter(|r| r.is_finite()).fold(0.0, f64::max);
    let knots: Vec<(f64, f64)> = finals
        .iter()
        .filter(|n| n.3.abs() >= 0.1 * r_max)
        .filter_map(|n| n.0)
        .filter(|&e| e.abs() < x_hi)
        .filter_map(|e| interpolate(fin, e).map(|y| (e, y.clamp(lo, hi))))
        .collect();
    chart
        .draw_series(knots.iter().map(|&p| Circle::new(p, 5, GREEN.stroke_width(2))))
        .map_err(plot_err)?
        .label(format!("knots (e_i, f(e_i)), |r_i| ≥ 0.1 max|r|: {}", knots.len()))
        .legend(|(x, y)| Circle::new((x + 10, y), 5, GREEN.stroke_width(2)));
    chart
        .draw_series(samples.iter().map(|&p| Cross::new(p, 7, BLUE.stroke_width(3))))
        .map_err(plot_err)?
        .label("samples (x_j, y_j)")
        .legend(|(x, y)| Cross::new((x + 10, y), 6, BLUE.stroke_width(3)));
    legend(&mut chart, SeriesLabelPosition::UpperMiddle, tick_font())
}

/// Half-width of a square uv window holding every final particle (and the tracked paths).
fn uv_reach(view: &View, run: &str) -> f64 {
    let parts = view.particles(run, "final").iter().map(|p| p.1.abs().max(p.2.abs()));
    let paths =
        view.trajectories.get(run).into_iter().flat_map(|m| m.values().flatten()).map(|p| p.0.abs().max(p.1.abs()));
    parts.chain(paths).filter(|v| v.is_finite()).fold(0.0, f64::max).max(1e-9) * 1.08
}

/// The uv plane with the sample lines v = −x_j u; returns the chart for particles or paths on top.
fn uv_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: String,
    reach: f64,
    samples: &[(f64, f64)],
) -> anyhow::Result<Chart<'a, DB>> {
    let mut chart = cartesian(area, caption, (-reach, reach, -reach, reach), ("u = |r| cos θ", "v = |r| sin θ"))?;
    for &(x, _) in samples {
        let ends = if x.abs() <= 1.0 {
            [(-reach, x * reach), (reach, -x * reach)]
        } else {
            [(reach / x, -reach), (-reach / x, reach)]
        };
        chart.draw_series(LineSeries::new(ends, RGBColor(150, 150, 150).stroke_width(1))).map_err(plot_err)?;
    }
    Ok(chart)
}

fn uv_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, view: &View, run: &str) -> anyhow::Result<()> {
    let samples = view.samples.get(run).map_or(&[][..], Vec::as_slice);
    let reach = uv_reach(view, run);
    let mut chart = uv_chart(area, "particles (u, v) after training, sample lines grey".into(), reach, samples)?;
    for (sign, c, label) in [(1.0, RED, "r > 0"), (-1.0, BLUE, "r < 0")] {
        let pts = view.particles(run, "final").iter().filter(|p| p.3 * sign > 0.0).map(|p| (p.1, p.2));
        chart
            .draw_series(pts.map(|p| Circle::new(p, 3, c.mix(0.6).filled())))
            .map_err(plot_err)?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, tick_font())
}

fn paths_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, view: &View, run: &str) -> anyhow::Result<()> {
    let samples = view.samples.get(run).map_or(&[][..], Vec::as_slice);
    let reach = uv_reach(view, run);
    let mut chart = uv_chart(area, "paths of tracked neurons (dot: start)".into(), reach, samples)?;
    let finals = view.particles(run, "final");
    for (&i, path) in view.trajectories.get(run).into_iter().flatten() {
        let c = if finals.get(i as usize).is_some_and(|p| p.3 > 0.0) { RED } else { BLUE };
        chart.draw_series(LineSeries::new(path.iter().copied(), c.mix(0.7).stroke_width(1))).map_err(plot_err)?;
        chart.draw_series(path.first().map(|&p| Circle::new(p, 2, c.filled()))).map_err(plot_err)?;
    }
    Ok(())
}

/// The GD figures: one row per run (network function | uv particles | paths, where recorded | field for Fig. 9).
struct Runs<'a> {
    stage: &'a str,
    figure: String,
    view: &'a View,
    tables: &'a StageTables,
}

impl Runs<'_> {
    fn columns(&self) -> usize {
        2 + usize::from(!self.view.trajectories.is_empty()) + 2 * usize::from(self.figure == "attractor")
    }
}

impl Figure for Runs<'_> {
    fn name(&self) -> String {
        format!("{}_{}", self.stage, self.figure)
    }

    fn caption(&self) -> String {
        let what = match self.figure.as_str() {
            "knots_uv" => "Fig. 1: a network fitted by GD, its knots on the curve, and its neurons as particles in the uv plane",
            "delta_sweep" => "Fig. 5: one init rescaled to each δ and trained 10000 steps on the sine",
            "pm_inf" => "Fig. 6: δ = −∞ (train c only: particles move along rays) and δ = +∞ (train a, b only)",
            "same_init" => "Fig. 7: the same initial function (dashed) at δ = −10 and δ = +10 gives different fits",
            "width" => "Fig. 8: PyTorch-style init as drawn, 20 sine samples, widths 20, 200, 2000",
            "attractor" => "Fig. 9: δ = +∞ direction field of the final residuals per particle sign, A/R marking attractor and repulsor rays",
            _ => "GD runs of the Williams model",
        };
        format!(
            "{what}. Per run: f before (dashed) and after training with knots (green) and samples (blue), particles \
             (u, v) = |r|(cos θ, sin θ) (red r > 0, blue r < 0) with the sample lines u x_j + v = 0."
        )
    }

    fn size(&self) -> (u32, u32) {
        (480 * self.columns() as u32, 60 + 420 * self.view.runs.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(60);
        top.titled(&format!("Williams et al. 2019, {}: network functions and uv particles", self.figure), title_font())
            .map_err(plot_err)?;
        let rows = body.split_evenly((self.view.runs.len().max(1), 1));
        for (row, run) in rows.iter().zip(&self.view.runs) {
            let cells = row.split_evenly((1, self.columns()));
            function_panel(&cells[0], self.view, run)?;
            uv_panel(&cells[1], self.view, run)?;
            if !self.view.trajectories.is_empty() {
                paths_panel(&cells[2], self.view, run)?;
            }
            if self.figure == "attractor" {
                field_panel(&cells[2], self.view, self.tables, run, 1.0)?;
                field_panel(&cells[3], self.view, self.tables, run, -1.0)?;
            }
        }
        Ok(())
    }
}

/// Fig. 9 top: the direction field for particles of sign ε (arrows of equal length), the particles of that sign, and
/// "A" / "R" at the end of each attractor / repulsor ray.
fn field_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    view: &View,
    tables: &StageTables,
    run: &str,
    sign: f64,
) -> anyhow::Result<()> {
    let field = tables.get("field").context("missing table `field`")?;
    let (fr, fs) = (column_str(field, "run")?, column_f64(field, "sign")?);
    let (u, v, du, dv) =
        (column_f64(field, "u")?, column_f64(field, "v")?, column_f64(field, "du")?, column_f64(field, "dv")?);
    let samples = view.samples.get(run).map_or(&[][..], Vec::as_slice);
    let reach = u.iter().fold(1e-9, |a: f64, b| a.max(b.abs())) * 1.05;
    let (word, c) = if sign > 0.0 { ("r > 0", RED) } else { ("r < 0", BLUE) };
    let mut chart = uv_chart(area, format!("δ = +∞ field for {word} particles"), reach, samples)?;
    let spacing = 2.0 * reach / 30.0;
    for i in (0..fr.len()).filter(|&i| fr[i] == run && fs[i] == sign) {
        let norm = du[i].hypot(dv[i]);
        if norm == 0.0 {
            continue;
        }
        let (ex, ey) = (u[i] + 0.8 * spacing * du[i] / norm, v[i] + 0.8 * spacing * dv[i] / norm);
        chart
            .draw_series(LineSeries::new([(u[i], v[i]), (ex, ey)], BLACK.mix(0.6).stroke_width(1)))
            .map_err(plot_err)?;
        chart.draw_series([Circle::new((ex, ey), 2, BLACK.mix(0.6).filled())]).map_err(plot_err)?;
    }
    let pts = view.particles(run, "final").iter().filter(|p| p.3 * sign > 0.0).map(|p| (p.1, p.2));
    chart.draw_series(pts.map(|p| Circle::new(p, 3, c.mix(0.5).filled()))).map_err(plot_err)?;
    let lines = tables.get("lines").context("missing table `lines`")?;
    let (lr, ls, lx) = (column_str(lines, "run")?, column_f64(lines, "sign")?, column_f64(lines, "x")?);
    let (ray, behaviour) = (column_str(lines, "ray")?, column_str(lines, "behaviour")?);
    for i in (0..lr.len()).filter(|&i| lr[i] == run && ls[i] == sign && behaviour[i] != "crossing") {
        let t = if ray[i] == "a>0" { 0.85 * reach } else { -0.85 * reach };
        let scale = 1.0 / lx[i].abs().max(1.0);
        let mark = if behaviour[i] == "attractor" { "A" } else { "R" };
        let style = TextStyle::from((style::FONT, 20).into_font()).color(&GREEN);
        chart.draw_series([Text::new(mark.to_string(), (t * scale, -lx[i] * t * scale), style)]).map_err(plot_err)?;
    }
    Ok(())
}

/// Fig. 2: particle paths under a frozen gradient, one panel per δ.
struct Local<'a> {
    stage: &'a str,
    view: &'a View,
}

impl Figure for Local<'_> {
    fn name(&self) -> String {
        format!("{}_local_trajectories", self.stage)
    }

    fn caption(&self) -> String {
        "Fig. 2: particles started on the unit circle (dots) under a frozen reduced gradient (1, 0), α = m, one panel \
         per δ: radial motion for δ ≪ 0, motion along −gradient for δ ≫ 0."
            .into()
    }

    fn size(&self) -> (u32, u32) {
        (520 * self.view.runs.len().max(1) as u32, 580)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(60);
        top.titled("Williams et al. Fig. 2: local trajectories as δ varies (gradient (1, 0) frozen)", title_font())
            .map_err(plot_err)?;
        for (area, run) in body.split_evenly((1, self.view.runs.len().max(1))).iter().zip(&self.view.runs) {
            let reach = uv_reach(self.view, run);
            let mut chart = cartesian(area, run.clone(), (-reach, reach, -reach, reach), ("u", "v"))?;
            for path in self.view.trajectories.get(run).into_iter().flat_map(|m| m.values()) {
                chart.draw_series(LineSeries::new(path.iter().copied(), BLUE.stroke_width(2))).map_err(plot_err)?;
                chart.draw_series(path.first().map(|&p| Circle::new(p, 4, RED.filled()))).map_err(plot_err)?;
            }
        }
        Ok(())
    }
}

/// Fig. 3: the terms of the tangent kernel at x against x', one panel per feature law.
struct Kernel<'a> {
    stage: &'a str,
    tables: &'a StageTables,
}

impl Figure for Kernel<'_> {
    fn name(&self) -> String {
        format!("{}_kernel_slices", self.stage)
    }

    fn caption(&self) -> String {
        "Fig. 3: the tangent-kernel terms Θ(0.5, x') of eq. (27) for one network of m = 25000 neurons: rf (from c), \
         bias (from b), slope (from a), uniform and Gaussian (a, b); dashed: the Gaussian RF closed form."
            .into()
    }

    fn size(&self) -> (u32, u32) {
        (1300, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let k = self.tables.get("kernel").context("missing table `kernel`")?;
        let (law, term, xp, value) =
            (column_str(k, "run")?, column_str(k, "term")?, column_f64(k, "x_prime")?, column_f64(k, "value")?);
        let (top, body) = root.split_vertically(60);
        top.titled("Williams et al. Fig. 3: tangent-kernel terms at x = 0.5", title_font()).map_err(plot_err)?;
        for (area, which) in body.split_evenly((1, 2)).iter().zip(["uniform", "gaussian"]) {
            let rows: Vec<usize> = (0..law.len()).filter(|&i| law[i] == which).collect();
            let (lo, hi) = rows.iter().fold((0.0f64, 0.0f64), |(a, b), &i| (a.min(value[i]), b.max(value[i])));
            let x_hi = rows.iter().fold(0.0f64, |a, &i| a.max(xp[i].abs()));
            let caption = format!("(a, b) ~ {}", if which == "uniform" { "U(−1, 1)²" } else { "N(0, I₂)" });
            let mut chart = cartesian(
                area,
                caption,
                (-x_hi, x_hi, lo - 0.05 * (hi - lo), hi * 1.05),
                ("x'", "term of Θ(0.5, x')"),
            )?;
            for (n, name) in ["rf", "bias", "slope", "rf_limit"].iter().enumerate() {
                let pts: Vec<(f64, f64)> =
                    rows.iter().filter(|&&i| term[i] == *name).map(|&i| (xp[i], value[i])).collect();
                if pts.is_empty() {
                    continue;
                }
                let c = if *name == "rf_limit" { BLACK } else { colour(n) };
                let series = if *name == "rf_limit" {
                    chart.draw_series(DashedLineSeries::new(pts, 8, 6, c.stroke_width(2))).map_err(plot_err)?
                } else {
                    chart.draw_series(LineSeries::new(pts, c.stroke_width(3))).map_err(plot_err)?
                };
                let label =
                    if *name == "rf_limit" { "rf closed form (m → ∞)".to_string() } else { name.to_string() };
                series
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
            }
            legend(&mut chart, SeriesLabelPosition::UpperLeft, tick_font())?;
        }
        Ok(())
    }
}

/// Fig. 4: c-only min-norm fits per width against the natural cubic spline, full view and zoom between samples.
struct Spline<'a> {
    stage: &'a str,
    view: &'a View,
}

impl Figure for Spline<'_> {
    fn name(&self) -> String {
        format!("{}_spline_width", self.stage)
    }

    fn caption(&self) -> String {
        "Fig. 4: the kernel-regime (c-only, minimum-norm) fit of 10 square-wave samples for growing m against the \
         natural cubic spline (thick blue); right: the same near the samples x ∈ [0, 0.9]."
            .into()
    }

    fn size(&self) -> (u32, u32) {
        (1400, 640)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(60);
        top.titled("Williams et al. Fig. 4: kernel regime → natural cubic spline as m grows", title_font())
            .map_err(plot_err)?;
        let spline = self.view.curve("natural cubic spline", "spline");
        let samples = self.view.samples.get("data").map_or(&[][..], Vec::as_slice);
        let x_hi = spline.iter().fold(1.0f64, |a, p| a.max(p.0.abs()));
        let windows = [
            (-x_hi, x_hi, -2.0, 2.0, "full view", SeriesLabelPosition::LowerRight),
            (0.0, 0.95, 0.6, 1.5, "zoom", SeriesLabelPosition::UpperRight),
        ];
        for (area, (x0, x1, y0, y1, label, place)) in body.split_evenly((1, 2)).iter().zip(windows) {
            let mut chart = cartesian(area, label.into(), (x0, x1, y0, y1), ("x", "f(x)"))?;
            let clip = |c: &[(f64, f64)]| {
                c.iter().filter(|p| (x0..=x1).contains(&p.0)).map(|&(x, y)| (x, y.clamp(y0, y1))).collect::<Vec<_>>()
            };
            chart
                .draw_series(LineSeries::new(clip(spline), BLUE.stroke_width(5)))
                .map_err(plot_err)?
                .label("natural cubic spline")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(5)));
            let fits = self.view.runs.iter().filter(|r| !self.view.curve(r, "final").is_empty());
            for (n, run) in fits.enumerate() {
                let c = colour(n + 1);
                chart
                    .draw_series(LineSeries::new(clip(self.view.curve(run, "final")), c.stroke_width(2)))
                    .map_err(plot_err)?
                    .label(run.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            }
            let inside = samples.iter().filter(|p| (x0..=x1).contains(&p.0) && (y0..=y1).contains(&p.1));
            chart.draw_series(inside.map(|&p| Cross::new(p, 8, BLACK.stroke_width(3)))).map_err(plot_err)?;
            legend(&mut chart, place, tick_font())?;
        }
        Ok(())
    }
}

/// δ drift at a fixed flow time against η (log-log), with the slope-1 line through the smallest η.
struct Identity<'a> {
    stage: &'a str,
    tables: &'a StageTables,
}

impl Figure for Identity<'_> {
    fn name(&self) -> String {
        format!("{}_delta_drift", self.stage)
    }

    fn caption(&self) -> String {
        "The δ invariant under discrete GD: max_i |δ_i(T) − δ_i(0)| at one flow time T against the step size η \
         (log-log), and the slope-1 line: the drift is O(η), while each step obeys the η² identity to round-off."
            .into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let runs = self.tables.get("runs").context("missing table `runs`")?;
        let (eta, drift) = (column_f64(runs, "eta")?, column_f64(runs, "delta_drift")?);
        let pts: Vec<(f64, f64)> = eta.iter().zip(&drift).map(|(&e, &d)| (e, d.max(1e-300))).collect();
        let (e0, e1) = pts.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (d0, d1) = pts.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let mut chart = ChartBuilder::on(root)
            .caption("δ drift at fixed flow time T = 200 η₀ against the GD step η", title_font())
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(style::log_axis(e0 / 1.5, e1 * 1.5), style::log_axis(d0 / 1.5, d1 * 1.5))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("step size η")
            .y_desc("max_i |δ_i(T) − δ_i(0)|")
            .label_style(tick_font())
            .axis_desc_style(label_font())
            .draw()
            .map_err(plot_err)?;
        let smallest = pts.iter().copied().fold((f64::INFINITY, 0.0), |a, p| if p.0 < a.0 { p } else { a });
        let line = [e0, e1].map(|e| (e, smallest.1 * e / smallest.0));
        chart
            .draw_series(LineSeries::new(line, RGBColor(150, 150, 150).stroke_width(2)))
            .map_err(plot_err)?
            .label("slope 1 (drift ∝ η)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(150, 150, 150).stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 6, RED.filled())))
            .map_err(plot_err)?
            .label("measured drift")
            .legend(|(x, y)| Circle::new((x + 10, y), 5, RED.filled()));
        legend(&mut chart, SeriesLabelPosition::UpperLeft, tick_font())
    }
}
