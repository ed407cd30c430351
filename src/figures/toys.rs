//! Figures of the particle toys: E1 `two_point` (paths and the first step against γ) and E3 `inner_iterations`
//! (inner GD paths of one prox step in the (w, b) plane).

use std::path::PathBuf;

use anyhow::Context;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::CoordTranslate;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{self, colour, label_font, plot_err, tick_font, title_font, Figure, BLUE, RED};
use crate::results::{Results, StageInfo};
use crate::tables::{column_f64, column_str};

const METHODS: [(&str, &str); 3] = [
    ("frobenius", "Frobenius prox"),
    ("wasserstein_local", "Wasserstein prox, local (inner GD)"),
    ("wasserstein_global", "Wasserstein prox, global (all assignments)"),
];

/// One (γ, method) path of E1.
struct Path2 {
    gamma: f64,
    method: String,
    points: Vec<(f64, f64)>,
}

fn two_point_paths(results: &Results, stage: &str) -> anyhow::Result<Vec<Path2>> {
    let t = results.table(stage, "paths")?;
    let (gamma, method) = (column_f64(&t, "gamma")?, column_str(&t, "method")?);
    let (step, x, y) = (column_f64(&t, "step")?, column_f64(&t, "x")?, column_f64(&t, "y")?);
    let mut out: Vec<Path2> = Vec::new();
    for r in 0..x.len() {
        if step[r] == 0.0 {
            out.push(Path2 { gamma: gamma[r], method: method[r].clone(), points: vec![] });
        }
        out.last_mut().context("paths table must start at step 0")?.points.push((x[r], y[r]));
    }
    Ok(out)
}

pub fn draw_two_point(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let paths = two_point_paths(results, &info.name)?;
    let mut files = style::render(&TwoPointPaths { stage: &info.name, paths: &paths }, out)?;
    files.extend(style::render(&FirstStep { stage: &info.name, paths: &paths }, out)?);
    let limits = Limits::read(results, &info.name)?;
    files.extend(style::render(&limits, out)?);
    Ok(files)
}

struct TwoPointPaths<'a> {
    stage: &'a str,
    paths: &'a [Path2],
}

impl Figure for TwoPointPaths<'_> {
    fn name(&self) -> String {
        format!("{}_paths", self.stage)
    }

    fn caption(&self) -> String {
        "The prox iterates (x^t, y^t) of the two particles from (0, 1) toward f's minimum at 4, one panel per \
         method (Frobenius, Wasserstein by local inner GD, Wasserstein over all assignments), one colour per γ."
            .into()
    }

    fn size(&self) -> (u32, u32) {
        (1650, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(55);
        top.titled("Two-point toy (E1): prox iterates (x^t, y^t) from (0, 1), f = ½(x − 4)²", title_font())
            .map_err(plot_err)?;
        let mut gammas: Vec<f64> = self.paths.iter().map(|p| p.gamma).collect();
        gammas.sort_by(f64::total_cmp);
        gammas.dedup();
        let shown = spread(&gammas, 8);
        // Legend corners free of paths: Frobenius paths stay at y = 1, local ones above the diagonal to (4, 0), global
        // ones below y = 1 − x/4 and then along y = 0.
        let corners =
            [SeriesLabelPosition::MiddleRight, SeriesLabelPosition::LowerLeft, SeriesLabelPosition::UpperRight];
        for ((area, (method, title)), corner) in body.split_evenly((1, 3)).iter().zip(METHODS).zip(corners) {
            let mut chart = ChartBuilder::on(area)
                .caption(title, label_font())
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(50)
                .build_cartesian_2d(-0.2..4.3, -0.15..1.15)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("x (particle that activates the data)")
                .y_desc("y (particle that activates none)")
                .label_style(tick_font())
                .axis_desc_style(tick_font())
                .draw()
                .map_err(plot_err)?;
            for (i, &g) in shown.iter().enumerate() {
                let Some(p) = self.paths.iter().find(|p| p.gamma == g && p.method == method) else { continue };
                let c = colour(i);
                chart
                    .draw_series(LineSeries::new(p.points.iter().copied(), c.stroke_width(2)).point_size(4))
                    .map_err(plot_err)?
                    .label(format!("γ = {g:.3}"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            }
            chart.draw_series([Circle::new((0.0, 1.0), 7, BLACK.stroke_width(2))]).map_err(plot_err)?;
            style::legend(&mut chart, corner, tick_font())?;
        }
        Ok(())
    }
}

/// At most `k` values (one per palette colour), evenly spread over the sorted list.
fn spread(values: &[f64], k: usize) -> Vec<f64> {
    if values.len() <= k {
        return values.to_vec();
    }
    (0..k).map(|i| values[i * (values.len() - 1) / (k - 1)]).collect()
}

struct FirstStep<'a> {
    stage: &'a str,
    paths: &'a [Path2],
}

impl Figure for FirstStep<'_> {
    fn name(&self) -> String {
        format!("{}_first_step", self.stage)
    }

    fn caption(&self) -> String {
        "The first prox step x¹ against γ for each method: local inner GD swaps the particles only for γ > 1/3, \
         the true Wasserstein minimiser for every γ."
            .into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let gammas = self.paths.iter().map(|p| p.gamma);
        let (lo, hi) = gammas.fold((f64::INFINITY, 0.0f64), |(a, b), g| (a.min(g), b.max(g)));
        let mut chart = ChartBuilder::on(root)
            .caption("Two-point toy (E1): first prox step x¹ against γ (local threshold γ = 1/3)", title_font())
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((lo * 0.8..hi * 1.25).log_scale(), -0.1..4.2)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("prox step γ (log scale)")
            .y_desc("x¹ (y¹ = 1 − [swap])")
            .x_label_formatter(&|v| format!("{v:.2}"))
            .label_style(tick_font())
            .axis_desc_style(label_font())
            .draw()
            .map_err(plot_err)?;
        let threshold = 1.0 / 3.0;
        chart
            .draw_series(DashedLineSeries::new([(threshold, -0.1), (threshold, 4.2)], 8, 6, BLACK.stroke_width(2)))
            .map_err(plot_err)?
            .label("γ = 1/3")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        for (i, (method, title)) in METHODS.iter().enumerate() {
            let mut pts: Vec<(f64, f64)> = self
                .paths
                .iter()
                .filter(|p| p.method == *method)
                .filter_map(|p| p.points.get(1).map(|q| (p.gamma, q.0)))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let c = colour(i);
            let width = 5 - i as u32;
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(width)).point_size(3))
                .map_err(plot_err)?
                .label(*title)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        }
        style::legend(&mut chart, SeriesLabelPosition::UpperLeft, label_font())
    }
}

/// The `limits` table of an E1 stage: per method, (γ, y^T, y∞, swap step, closed-form swap step, x^T).
struct Limits {
    stage: String,
    steps: f64,
    rows: Vec<(String, [f64; 6])>,
}

impl Limits {
    fn read(results: &Results, stage: &str) -> anyhow::Result<Limits> {
        let t = results.table(stage, "limits")?;
        let method = column_str(&t, "method")?;
        let names = ["gamma", "y_final", "y_limit", "swap_step", "swap_step_closed_form", "x_final"];
        let cols = names.iter().map(|c| column_f64(&t, c)).collect::<anyhow::Result<Vec<_>>>()?;
        let rows = (0..method.len()).map(|r| (method[r].clone(), std::array::from_fn(|c| cols[c][r]))).collect();
        let steps = column_f64(&t, "steps")?.first().copied().unwrap_or(f64::NAN);
        Ok(Limits { stage: stage.into(), steps, rows })
    }

    /// (γ, column c) of one method, sorted by γ.
    fn series(&self, method: &str, c: usize) -> Vec<(f64, f64)> {
        let mut pts: Vec<(f64, f64)> =
            self.rows.iter().filter(|(m, _)| m == method).map(|(_, v)| (v[0], v[c])).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts
    }

    fn gamma_range(&self) -> std::ops::Range<f64> {
        let (lo, hi) = self.rows.iter().fold((f64::INFINITY, 0.0f64), |(a, b), (_, v)| (a.min(v[0]), b.max(v[0])));
        lo * 0.85..hi * 1.2
    }

    /// One panel: column `c` (solver, markers) and column `closed` (closed form, lines) of each method against γ.
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        (c, closed): (usize, Option<usize>),
        (title, y_desc): (&str, &str),
        y_range: std::ops::Range<f64>,
    ) -> anyhow::Result<()> {
        let y_span = y_range.end - y_range.start;
        let mut chart = ChartBuilder::on(area)
            .caption(title, label_font())
            .margin(14)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(self.gamma_range().log_scale(), y_range)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("prox step γ (log scale)")
            .y_desc(y_desc)
            .x_label_formatter(&|v| format!("{v:.2}"))
            .y_label_formatter(&|&v| style::plain_tick(v, y_span))
            .label_style(tick_font())
            .axis_desc_style(tick_font())
            .draw()
            .map_err(plot_err)?;
        let third = 1.0 / 3.0;
        let (y0, y1) = (chart.y_range().start, chart.y_range().end);
        chart
            .draw_series(DashedLineSeries::new([(third, y0), (third, y1)], 6, 6, BLACK.mix(0.6).stroke_width(2)))
            .map_err(plot_err)?;
        let short = ["Frobenius", "W2 local (inner GD)", "W2 global (all assignments)"];
        for (i, ((method, _), label)) in METHODS.iter().zip(short).enumerate() {
            let c_i = colour(i);
            if let Some(k) = closed {
                let line = LineSeries::new(self.series(method, k), c_i.stroke_width(4 - i as u32));
                chart
                    .draw_series(line)
                    .map_err(plot_err)?
                    .label(format!("{label}: closed form"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c_i.stroke_width(3)));
            }
            let dots = self.series(method, c).into_iter().map(move |p| Circle::new(p, 4, c_i.filled()));
            let name = format!("{label}: solver, step {}", self.steps);
            chart.draw_series(dots).map_err(plot_err)?.label(name).legend(move |p| Circle::new(p, 4, c_i.filled()));
        }
        style::legend(&mut chart, SeriesLabelPosition::UpperRight, tick_font())
    }
}

impl Figure for Limits {
    fn name(&self) -> String {
        format!("{}_limits", self.stage)
    }

    fn caption(&self) -> String {
        format!(
            "Where each E1 method ends against γ: y^T after T = {} solver steps (dots) and the closed-form limit y∞ \
             (lines; x∞ = 4 for every method), x^T, and the step of the first swap. The local solver swaps late for \
             small γ and freezes y just below 1; the global minimiser swaps at step 1 (y∞ = 0).",
            self.steps
        )
    }

    fn size(&self) -> (u32, u32) {
        (1800, 640)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(55);
        let title = "Two-point toy (E1): limits of the prox paths from (0, 1) against γ (dashed: γ = 1/3)";
        top.titled(title, title_font()).map_err(plot_err)?;
        let panels = body.split_evenly((1, 3));
        let y_title = "y∞ (lines) and y^T (dots): the particle that activates no data";
        self.panel(&panels[0], (1, Some(2)), (y_title, "y"), -0.1..1.9)?;
        let x_title = format!("x^T after T = {} steps (x∞ = 4 for every method)", self.steps);
        self.panel(&panels[1], (5, None), (&x_title, "x^T"), 0.0..5.6)?;
        let max_swap = self.rows.iter().map(|(_, v)| v[3].max(v[4])).fold(1.0, f64::max);
        let s_title = "first swap step (0 = never): solver (dots), closed form (lines)";
        self.panel(&panels[2], (3, Some(4)), (s_title, "step"), -0.5..max_swap * 1.45 + 1.0)
    }
}

/// One recorded particle of one E3 point: distance, index, α, its (w, b) path, σ per iteration, its two forces.
struct Track {
    distance: String,
    particle: usize,
    alpha: f64,
    path: Vec<(f64, f64)>,
    assigned: Vec<usize>,
    /// (‖∂F/∂v_i‖, coupling norm) per iteration.
    forces: Vec<(f64, f64)>,
}

/// One E3 point (one sign combination): its tracks and the exact prox end points (solver, particle, α, (w, b)).
struct InnerPoint {
    alphas: Vec<f64>,
    tracks: Vec<Track>,
    minimisers: Vec<(String, usize, f64, (f64, f64))>,
}

/// Splits the `inner` and `minimisers` tables into points (the sweep's sign combinations), in table order.
fn inner_points(results: &Results, stage: &str) -> anyhow::Result<Vec<InnerPoint>> {
    let t = results.table(stage, "inner")?;
    let (dist, part, alpha) = (column_str(&t, "distance")?, column_f64(&t, "particle")?, column_f64(&t, "alpha")?);
    let (w, b, to) = (column_f64(&t, "w")?, column_f64(&t, "b")?, column_f64(&t, "assigned_to")?);
    let (grad, pull) = (column_f64(&t, "loss_gradient_norm")?, column_f64(&t, "coupling_norm")?);
    let (iteration, mut points) = (column_f64(&t, "iteration")?, Vec::<InnerPoint>::new());
    for r in 0..w.len() {
        if r == 0 || (iteration[r] == 0.0 && part[r] == 0.0 && dist[r] == dist[0]) {
            points.push(InnerPoint { alphas: vec![], tracks: vec![], minimisers: vec![] });
        }
        let point = points.last_mut().context("inner table is empty")?;
        let i = part[r] as usize;
        let found = point.tracks.iter().position(|k| k.distance == dist[r] && k.particle == i);
        let k = found.unwrap_or_else(|| {
            point.tracks.push(Track { distance: dist[r].clone(), particle: i, alpha: alpha[r], ..Track::empty() });
            point.tracks.len() - 1
        });
        if found.is_none() && dist[r] == dist[0] {
            point.alphas.push(alpha[r]);
        }
        let track = &mut point.tracks[k];
        track.path.push((w[r], b[r]));
        track.assigned.push(to[r] as usize);
        track.forces.push((grad[r], pull[r]));
    }
    let m = results.table(stage, "minimisers")?;
    let (solver, mpart, malpha) = (column_str(&m, "solver")?, column_f64(&m, "particle")?, column_f64(&m, "alpha")?);
    let (mw, mb) = (column_f64(&m, "w")?, column_f64(&m, "b")?);
    let per_point = if points.is_empty() { 1 } else { solver.len() / points.len() };
    for r in 0..solver.len() {
        if let Some(point) = points.get_mut(r / per_point.max(1)) {
            point.minimisers.push((solver[r].clone(), mpart[r] as usize, malpha[r], (mw[r], mb[r])));
        }
    }
    Ok(points)
}

impl Track {
    fn empty() -> Track {
        Track { distance: String::new(), particle: 0, alpha: 0.0, path: vec![], assigned: vec![], forces: vec![] }
    }

    /// The first iteration whose assignment is not the identity.
    fn swap(&self) -> Option<usize> {
        self.assigned.iter().position(|&s| s != self.particle)
    }

    fn colour(&self) -> RGBColor {
        if self.alpha > 0.0 {
            RED
        } else {
            BLUE
        }
    }
}

/// The sine data's inputs x_j (the stage's `n_data`, default 5): the data lines b = −x_j w.
fn data_inputs(results: &Results, stage: &str) -> Vec<f64> {
    let n = results
        .manifests(stage)
        .ok()
        .and_then(|m| m.first().and_then(|m| m.params.get("n_data").and_then(|v| v.as_u64())))
        .unwrap_or(5) as usize;
    (0..n).map(|j| if n == 1 { 0.0 } else { -1.0 + 2.0 * j as f64 / (n - 1) as f64 }).collect()
}

pub fn draw_inner(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let points = inner_points(results, &info.name)?;
    let gamma = results.table(&info.name, "inner").ok().and_then(|t| column_f64(&t, "gamma").ok());
    let gamma = gamma.and_then(|g| g.first().copied()).unwrap_or(f64::NAN);
    let fig = InnerPaths { stage: &info.name, gamma, points, data: data_inputs(results, &info.name) };
    style::render(&fig, out)
}

struct InnerPaths<'a> {
    stage: &'a str,
    gamma: f64,
    points: Vec<InnerPoint>,
    data: Vec<f64>,
}

/// Exact prox end points drawn, with their marker: (solver, legend label).
const END_POINTS: [(&str, &str); 2] = [
    ("wasserstein_global", "exact W2 prox, global (triangle)"),
    ("frobenius_global", "exact Frobenius prox, global (square)"),
];

impl Figure for InnerPaths<'_> {
    fn name(&self) -> String {
        format!("{}_paths", self.stage)
    }

    fn caption(&self) -> String {
        format!(
            "The inner GD iterations of one prox step (γ = {}) in the (w, b) plane, one column per sign combination: \
             Frobenius (solid) against Wasserstein (dashed), start (circle), end (filled dot), first iteration whose \
             assignment swaps (diamond, with k), exact global prox end points; middle row zoomed on the starts with \
             the data lines b = −x_j w and the region b ≤ −|w| where a neuron activates no data (shaded); bottom row \
             the two terms of each particle's Wasserstein inner gradient (beyond k = 200 a log-spaced subset of the \
             iterations is drawn).",
            self.gamma
        )
    }

    fn size(&self) -> (u32, u32) {
        let zoom = self.points.iter().any(|p| p.zoom().is_some());
        (760 * self.points.len().max(1) as u32, if zoom { 1650 } else { 1130 })
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(55);
        let title = format!("Inner iterations (E3) of one prox step, γ = {}", self.gamma);
        top.titled(&title, title_font()).map_err(plot_err)?;
        let zoom = self.points.iter().any(|p| p.zoom().is_some());
        let columns = body.split_evenly((1, self.points.len().max(1)));
        for (area, point) in columns.iter().zip(&self.points) {
            let no_columns: [i32; 0] = [];
            let rows = area.split_by_breakpoints(no_columns, if zoom { vec![620, 1140] } else { vec![620] });
            let signs: Vec<String> = point.alphas.iter().map(|a| format!("{a:+}")).collect();
            let head = format!("α = ({}): paths", signs.join(", "));
            self.plane(&rows[0], point, head, point.full(), true)?;
            if let (Some(bounds), true) = (point.zoom(), zoom) {
                self.plane(&rows[1], point, "zoom on the starts".into(), bounds, false)?;
            }
            forces(rows.last().context("no rows")?, point)?;
        }
        Ok(())
    }
}

type Bounds = (std::ops::Range<f64>, std::ops::Range<f64>);

impl InnerPoint {
    /// Every path and exact end point.
    fn full(&self) -> Bounds {
        let all = self.tracks.iter().flat_map(|t| t.path.iter().copied());
        bounds(all.chain(self.minimisers.iter().map(|m| m.3)), 0.06)
    }

    /// A box around the starts, when it is under a third of the full box (else the full panel shows them).
    fn zoom(&self) -> Option<Bounds> {
        let z = bounds(self.tracks.iter().filter_map(|t| t.path.first().copied()), 1.2);
        let f = self.full();
        let side = |b: &Bounds| (b.0.end - b.0.start).max(b.1.end - b.1.start);
        (side(&z) < side(&f) / 3.0).then_some(z)
    }
}

/// (w range, b range) around `points`, padded by `pad` times the larger span (at least 0.01).
fn bounds(points: impl Iterator<Item = (f64, f64)>, pad: f64) -> Bounds {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in points.filter(|p| p.0.is_finite() && p.1.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        return (-1.0..1.0, -1.0..1.0);
    }
    let p = pad * (x1 - x0).max(y1 - y0).max(0.01);
    ((x0 - p)..(x1 + p), (y0 - p)..(y1 + p))
}

impl InnerPaths<'_> {
    /// The (w, b) plane of one point: data lines, paths, starts, ends, swaps and exact end points.
    fn plane<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        point: &InnerPoint,
        caption: String,
        (xr, yr): Bounds,
        with_legend: bool,
    ) -> anyhow::Result<()> {
        let (x_span, y_span) = (xr.end - xr.start, yr.end - yr.start);
        let mut chart = ChartBuilder::on(area)
            .caption(caption, label_font())
            .margin(14)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(xr.clone(), yr.clone())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("w (slope)")
            .y_desc("b (bias)")
            .x_label_formatter(&|&v| style::plain_tick(v, x_span))
            .y_label_formatter(&|&v| style::plain_tick(v, y_span))
            .label_style(tick_font())
            .axis_desc_style(tick_font())
            .draw()
            .map_err(plot_err)?;
        let grey = RGBColor(150, 150, 150);
        for &x in &self.data {
            let line = [(xr.start, -x * xr.start), (xr.end, -x * xr.end)];
            chart.draw_series(LineSeries::new(line, grey.stroke_width(1))).map_err(plot_err)?;
        }
        let cone = dead_cone(&xr, &yr);
        let shade = RGBColor(120, 120, 120).mix(0.15);
        let series = chart.draw_series([Polygon::new(cone, shade.filled())]).map_err(plot_err)?;
        if with_legend {
            series.label("activates no data (b ≤ −|w|)").legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 20, y + 6)], RGBColor(120, 120, 120).mix(0.3).filled())
            });
        }
        let inside = |p: &(f64, f64)| xr.contains(&p.0) && yr.contains(&p.1);
        let mut labelled = false;
        for track in &point.tracks {
            labelled |= draw_track(&mut chart, track, &inside, !labelled)?;
        }
        for (solver, label) in END_POINTS {
            let marks = point.minimisers.iter().filter(|m| m.0 == solver);
            let marks: Vec<((f64, f64), RGBColor)> =
                marks.filter(|m| inside(&m.3)).map(|m| (m.3, if m.2 > 0.0 { RED } else { BLUE })).collect();
            let triangle = solver.starts_with("wasserstein");
            let series = if triangle {
                let tri = marks.iter().map(|&(at, c)| TriangleMarker::new(at, 11, c.stroke_width(3)));
                chart.draw_series(tri).map_err(plot_err)?
            } else {
                let square = |&(at, c): &((f64, f64), RGBColor)| {
                    EmptyElement::at(at) + Rectangle::new([(-7, -7), (7, 7)], c.stroke_width(2))
                };
                chart.draw_series(marks.iter().map(square)).map_err(plot_err)?
            };
            if with_legend {
                series.label(label).legend(move |(x, y)| {
                    let c = BLACK.stroke_width(2);
                    EmptyElement::at((x + 10, y))
                        + if triangle {
                            TriangleMarker::new((0, 0), 8, c).into_dyn()
                        } else {
                            Rectangle::new([(-6, -6), (6, 6)], c).into_dyn()
                        }
                });
            }
        }
        if with_legend {
            style::legend(&mut chart, SeriesLabelPosition::LowerLeft, tick_font())?;
        }
        Ok(())
    }
}

/// The iterations drawn of a path of `n`: every k < 200, then about 230 per decade (k where ⌊ln k / ln 1.01⌋
/// changes) and the last. Inner GD zigzags across a kink for thousands of iterations; drawing each of them made the
/// SVG 7 MB, and the subset draws the same band.
fn drawn(n: usize) -> Vec<usize> {
    let bucket = |k: usize| ((k.max(1) as f64).ln() / 1.01f64.ln()).floor() as i64;
    (0..n).filter(|&k| k < 200 || k + 1 == n || bucket(k) != bucket(k - 1)).collect()
}

/// A polyline drawn as separate two-point pieces in pixel space, solid or dashed (`dash` = (on, off) pixels).
/// plotters joins the segments of a wide polyline with miters, and the zigzag of inner GD (near-180° turns) turns
/// those miters into long stray spikes across the figure; pieces without joins cannot spike.
fn polyline<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &ChartContext<'_, DB, CT>,
    points: &[(f64, f64)],
    dash: Option<(f64, f64)>,
    style: ShapeStyle,
) -> anyhow::Result<()> {
    let area = chart.plotting_area();
    let base = area.get_base_pixel();
    let plain = area.strip_coord_spec();
    let px: Vec<(f64, f64)> = points
        .iter()
        .map(|p| area.map_coordinate(p))
        .map(|q| (f64::from(q.0 - base.0), f64::from(q.1 - base.1)))
        .collect();
    let (on, off) = dash.unwrap_or((f64::INFINITY, 0.0));
    let mut phase = 0.0;
    for w in px.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = (b.0 - a.0).hypot(b.1 - a.1);
        let at = |t: f64| ((a.0 + (b.0 - a.0) * t / len).round() as i32, (a.1 + (b.1 - a.1) * t / len).round() as i32);
        let mut done = 0.0;
        while done < len {
            let (drawn, left) = if phase < on { (true, on - phase) } else { (false, on + off - phase) };
            let step = left.min(len - done);
            if drawn {
                plain.draw(&PathElement::new(vec![at(done), at(done + step)], style)).map_err(plot_err)?;
            }
            (done, phase) = (done + step, phase + step);
            if phase >= on + off {
                phase = 0.0;
            }
        }
    }
    Ok(())
}

/// The runs of consecutive points of `path` inside the chart (plotters does not clip series to the plot area).
fn runs(path: &[(f64, f64)], inside: &dyn Fn(&(f64, f64)) -> bool) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![vec![]];
    for p in path {
        match (inside(p), out.last_mut()) {
            (true, Some(run)) => run.push(*p),
            (false, Some(run)) if !run.is_empty() => out.push(vec![]),
            _ => {}
        }
    }
    out.retain(|r| r.len() > 1);
    out
}

/// The part of the chart box where a neuron activates none of the inputs in [−1, 1]: b ≤ −|w| (convex: the box
/// corners inside it, the origin, and where its two boundary rays cross the box, sorted by angle).
fn dead_cone(xr: &std::ops::Range<f64>, yr: &std::ops::Range<f64>) -> Vec<(f64, f64)> {
    let in_box = |p: (f64, f64)| xr.start <= p.0 && p.0 <= xr.end && yr.start <= p.1 && p.1 <= yr.end;
    let corners = [(xr.start, yr.start), (xr.end, yr.start), (xr.start, yr.end), (xr.end, yr.end)];
    let mut pts: Vec<(f64, f64)> = corners.into_iter().filter(|p| p.1 <= -p.0.abs()).collect();
    pts.extend([(0.0, 0.0)].into_iter().filter(|&p| in_box(p)));
    for (dw, db) in [(1.0, -1.0), (-1.0, -1.0)] {
        for t in [xr.start / dw, xr.end / dw, yr.start / db, yr.end / db] {
            if t > 0.0 && in_box((t * dw, t * db)) {
                pts.push((t * dw, t * db));
            }
        }
    }
    let n = pts.len().max(1) as f64;
    let c = pts.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0 / n, a.1 + p.1 / n));
    pts.sort_by(|a, b| (a.1 - c.1).atan2(a.0 - c.0).total_cmp(&(b.1 - c.1).atan2(b.0 - c.0)));
    pts
}

/// One particle's inner path: solid (Frobenius) or dashed (Wasserstein), start circle, end dot, swap diamond (with
/// its iteration written when `label_swap`). Returns whether it labelled a swap.
fn draw_track<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    track: &Track,
    inside: &dyn Fn(&(f64, f64)) -> bool,
    label_swap: bool,
) -> anyhow::Result<bool> {
    let c = track.colour();
    let wasserstein = track.distance.starts_with("wasserstein");
    let shown: Vec<(f64, f64)> = drawn(track.path.len()).into_iter().map(|k| track.path[k]).collect();
    for run in runs(&shown, inside) {
        let (dash, style) =
            if wasserstein { (Some((8.0, 5.0)), c.stroke_width(3)) } else { (None, c.mix(0.7).stroke_width(2)) };
        polyline(chart, &run, dash, style)?;
    }
    let series = chart.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>()).map_err(plot_err)?;
    series.label(format!("{} {} (α = {:+})", track.distance, track.particle, track.alpha)).legend(move |(x, y)| {
        let end = if wasserstein { x + 10 } else { x + 22 };
        PathElement::new(vec![(x, y), (end, y)], c.stroke_width(3))
    });
    let ends = [(track.path.first(), 9, false), (track.path.last(), 6, true)];
    for (at, r, filled) in ends.into_iter().filter_map(|(p, r, f)| p.filter(|p| inside(p)).map(|p| (*p, r, f))) {
        let style = if filled { c.filled() } else { c.stroke_width(2) };
        chart.draw_series([Circle::new(at, r, style)]).map_err(plot_err)?;
    }
    let Some(k) = track.swap().filter(|&k| wasserstein && inside(&track.path[k])) else { return Ok(false) };
    let text = if label_swap { format!("swap at k = {k}") } else { String::new() };
    let diamond = EmptyElement::at(track.path[k])
        + Polygon::new(vec![(0, -9), (9, 0), (0, 9), (-9, 0)], BLACK.mix(0.8).filled())
        + Text::new(text, (10, -18), tick_font());
    chart.draw_series([diamond]).map_err(plot_err)?;
    Ok(label_swap)
}

/// The two terms of each particle's Wasserstein inner gradient against the inner iteration (log scale, k ≥ 1).
fn forces<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, point: &InnerPoint) -> anyhow::Result<()> {
    // Zeros (a particle that activates no data, a particle at its assigned start) drawn at FLOOR on the log axis;
    // headroom above the largest term keeps the legend off the curves.
    const FLOOR: f64 = 1e-4;
    let tracks: Vec<&Track> = point.tracks.iter().filter(|t| t.distance.starts_with("wasserstein")).collect();
    let k_max = tracks.iter().map(|t| t.forces.len()).max().unwrap_or(2).max(2) as f64;
    let top = tracks.iter().flat_map(|t| t.forces.iter().map(|f| f.0.max(f.1))).fold(FLOOR, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption("Wasserstein inner gradient terms per particle", label_font())
        .margin(14)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d((1.0..k_max).log_scale(), style::log_axis(FLOOR / 2.0, top * 300.0))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("inner iteration k (log scale)")
        .y_desc("norm of the term (log; 0 drawn at 1e-4)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .label_style(tick_font())
        .axis_desc_style(tick_font())
        .draw()
        .map_err(plot_err)?;
    for t in tracks {
        let c = t.colour();
        let pts = |pick: fn(&(f64, f64)) -> f64| {
            drawn(t.forces.len()).into_iter().skip(1).map(move |k| (k as f64, pick(&t.forces[k]).max(FLOOR)))
        };
        let name = format!("particle {} (α = {:+})", t.particle, t.alpha);
        polyline(&chart, &pts(|f| f.0).collect::<Vec<_>>(), None, c.mix(0.6).stroke_width(2))?;
        polyline(&chart, &pts(|f| f.1).collect::<Vec<_>>(), Some((6.0, 4.0)), c.stroke_width(3))?;
        let empty = || std::iter::empty::<Circle<(f64, f64), i32>>();
        chart
            .draw_series(empty())
            .map_err(plot_err)?
            .label(format!("{name}: ‖∂F/∂v‖ (loss gradient)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3)));
        chart
            .draw_series(empty())
            .map_err(plot_err)?
            .label(format!("{name}: ‖v − W_σ‖/(mγ) (coupling)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], c.stroke_width(3)));
    }
    style::legend(&mut chart, SeriesLabelPosition::UpperLeft, tick_font())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_cone_is_the_part_of_the_box_below_both_data_lines() {
        // Box [−1, 2] × [−3, 1]: the cone b ≤ −|w| meets it in the pentagon (0, 0), (2, −2), (2, −3), (−1, −3), (−1, −1).
        let cone = dead_cone(&(-1.0..2.0), &(-3.0..1.0));
        let mut want = vec![(0.0, 0.0), (2.0, -2.0), (2.0, -3.0), (-1.0, -3.0), (-1.0, -1.0)];
        let mut got = cone.clone();
        let key = |p: &(f64, f64)| (p.0 * 10.0) as i64 * 100 + (p.1 * 10.0) as i64;
        got.sort_by_key(key);
        want.sort_by_key(key);
        assert_eq!(got, want);
        // Sorted by angle around the centroid: the shoelace area is the pentagon's, 6.5 (no self-crossing).
        let area: f64 = (0..cone.len())
            .map(|i| {
                let (a, b) = (cone[i], cone[(i + 1) % cone.len()]);
                a.0 * b.1 - b.0 * a.1
            })
            .sum::<f64>()
            .abs()
            / 2.0;
        assert!((area - 6.5).abs() < 1e-12, "{area}");
        // A box entirely above the cone has none of it.
        assert!(dead_cone(&(-1.0..1.0), &(1.0..2.0)).is_empty());
    }

    #[test]
    fn drawn_iterations_keep_the_start_the_end_and_thin_only_late_iterations() {
        let k = drawn(4001);
        assert_eq!(&k[..200], &(0..200).collect::<Vec<_>>()[..]);
        assert_eq!(k.last(), Some(&4000));
        // ln(4000/200)/ln(1.01) ≈ 301 buckets after k = 200.
        assert!((480..=520).contains(&k.len()), "{}", k.len());
        assert_eq!(drawn(3), vec![0, 1, 2]);
    }

    #[test]
    fn runs_split_a_path_where_it_leaves_the_box() {
        let inside = |p: &(f64, f64)| p.0.abs() <= 1.0;
        let path = [(0.0, 0.0), (0.5, 0.0), (2.0, 0.0), (0.2, 0.0), (0.3, 0.0), (0.4, 0.0), (3.0, 0.0), (0.1, 0.0)];
        let got = runs(&path, &inside);
        assert_eq!(got, vec![vec![(0.0, 0.0), (0.5, 0.0)], vec![(0.2, 0.0), (0.3, 0.0), (0.4, 0.0)]]);
    }
}
