//! Figures of the particle toys: E1 `two_point` (paths and the first step against γ) and E3 `inner_iterations`
//! (inner GD paths of one prox step in the (w, b) plane).

use std::path::PathBuf;

use anyhow::Context;
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
        for (area, (method, title)) in body.split_evenly((1, 3)).iter().zip(METHODS) {
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
            style::legend(&mut chart, SeriesLabelPosition::MiddleRight, tick_font())?;
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

/// ("distance particle", α, path in the (w, b) plane).
type Curve = (String, f64, Vec<(f64, f64)>);

pub fn draw_inner(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let t = results.table(&info.name, "inner")?;
    let (dist, part, alpha) = (column_str(&t, "distance")?, column_f64(&t, "particle")?, column_f64(&t, "alpha")?);
    let (w, b, gamma) = (column_f64(&t, "w")?, column_f64(&t, "b")?, column_f64(&t, "gamma")?);
    let mut curves: Vec<Curve> = Vec::new();
    for r in 0..w.len() {
        let label = format!("{} {}", dist[r], part[r]);
        match curves.iter_mut().find(|c| c.0 == label) {
            Some(c) => c.2.push((w[r], b[r])),
            None => curves.push((label, alpha[r], vec![(w[r], b[r])])),
        }
    }
    let fig = InnerPaths { stage: &info.name, gamma: gamma.first().copied().unwrap_or(f64::NAN), curves };
    style::render(&fig, out)
}

struct InnerPaths<'a> {
    stage: &'a str,
    gamma: f64,
    curves: Vec<Curve>,
}

impl Figure for InnerPaths<'_> {
    fn name(&self) -> String {
        format!("{}_paths", self.stage)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let caption = format!("Inner iterations (E3) of one prox step, γ = {}: paths in the (w, b) plane", self.gamma);
        let mut chart = style::plane_chart(root, caption, self.curves.iter().flat_map(|c| c.2.iter().copied()))?;
        for (label, alpha, path) in &self.curves {
            let c = if *alpha > 0.0 { RED } else { BLUE };
            let wasserstein = label.starts_with("wasserstein");
            let name = format!("{label} (α = {alpha:+})");
            let series = if wasserstein {
                chart
                    .draw_series(DashedLineSeries::new(path.iter().copied(), 8, 5, c.stroke_width(3)))
                    .map_err(plot_err)?
            } else {
                chart.draw_series(LineSeries::new(path.iter().copied(), c.stroke_width(2))).map_err(plot_err)?
            };
            series.label(name).legend(move |(x, y)| {
                let end = if wasserstein { x + 10 } else { x + 22 };
                PathElement::new(vec![(x, y), (end, y)], c.stroke_width(3))
            });
            if let Some(&start) = path.first() {
                chart.draw_series([Circle::new(start, 8, c.stroke_width(2))]).map_err(plot_err)?;
            }
        }
        style::legend(&mut chart, SeriesLabelPosition::LowerRight, label_font())
    }
}
