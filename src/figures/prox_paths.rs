//! E4 trajectory figure (seed 001 §3, issue 20 item 5): the neurons' paths (w_i, b_i) over the prox steps, whole
//! and zoomed on the starts W⁰ (init scale 1e-2 puts every start within ≈ 0.03 of the origin, invisible at the
//! scale of the paths), with the data lines b = −x_j w, the region where a neuron activates no data point shaded,
//! and the neurons that start there (the notes' "bottom quadrants") crossed.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use super::prox_sweep::gamma_label;
use super::style::{self, label_font, plot_err, tick_font, Figure, BLUE, RED};
use crate::tables::{column_f64, column_str};

/// (w0, w1, b0, b1) of a panel.
type Bounds = (f64, f64, f64, f64);
type PlaneChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

const GREY: RGBColor = RGBColor(0x70, 0x70, 0x70);

/// One neuron's path under one distance.
struct Path {
    positive: bool,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// A neuron activates no data point when w x_j + b ≤ 0 for every j (ReLU gradient 0: Frobenius never moves it).
pub fn activates_no_data((w, b): (f64, f64), xs: &[f64]) -> bool {
    xs.iter().all(|x| w * x + b <= 0.0)
}

/// (b) the neurons' positions over the prox steps, per γ, for one seed.
pub struct Trajectories<'a> {
    pub stage: &'a str,
    pub particles: &'a DataFrame,
    pub gamma: f64,
    pub seed: f64,
    /// The data inputs x_j (the stage's sine points).
    pub xs: Vec<f64>,
}

impl Trajectories<'_> {
    fn paths(&self) -> anyhow::Result<Vec<Path>> {
        let t = self.particles;
        let (seed, gamma, dist) = (column_f64(t, "seed")?, column_f64(t, "gamma")?, column_str(t, "distance")?);
        let (part, alpha, step) = (column_f64(t, "particle")?, column_f64(t, "alpha")?, column_f64(t, "step")?);
        let (w, b) = (column_f64(t, "w")?, column_f64(t, "b")?);
        let mut rows: Vec<usize> = (0..w.len()).filter(|&r| seed[r] == self.seed && gamma[r] == self.gamma).collect();
        rows.sort_by(|&x, &y| step[x].total_cmp(&step[y]));
        let m = rows.iter().map(|&r| part[r] as usize + 1).max().unwrap_or(0);
        let mut out = Vec::new();
        for (d, dashed) in [("frobenius", false), ("wasserstein", true)] {
            for i in 0..m {
                let own: Vec<usize> = rows.iter().copied().filter(|&r| dist[r] == d && part[r] as usize == i).collect();
                let Some(&first) = own.first() else { continue };
                let points = own.iter().map(|&r| (w[r], b[r])).collect();
                out.push(Path { positive: alpha[first] > 0.0, dashed, points });
            }
        }
        Ok(out)
    }
}

impl Figure for Trajectories<'_> {
    fn name(&self) -> String {
        format!("{}_trajectories_gamma_{}", self.stage, gamma_label(self.gamma))
    }

    fn caption(&self) -> String {
        format!(
            "The neurons' paths (w_i, b_i) over the prox steps at γ = {} (seed {}), Frobenius (solid) against \
             Wasserstein (dashed): all steps (left) and zoomed on the starts (right), with the data lines \
             b = −x_j w; neurons starting where they activate no data point (shaded) are crossed.",
            gamma_label(self.gamma),
            self.seed
        )
    }

    fn size(&self) -> (u32, u32) {
        (1800, 920)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let paths = self.paths()?;
        let starts: Vec<(f64, f64)> =
            paths.iter().filter(|p| !p.dashed).filter_map(|p| p.points.first().copied()).collect();
        let inactive: Vec<(f64, f64)> = starts.iter().copied().filter(|&s| activates_no_data(s, &self.xs)).collect();
        let (top, body) = root.split_vertically(140);
        let (title, legend) = top.split_vertically(50);
        let text = format!("Prox sweep (E4): neuron trajectories, γ = {}, seed {}", gamma_label(self.gamma), self.seed);
        title.titled(&text, style::title_font()).map_err(plot_err)?;
        path_legend(&legend, inactive.len(), starts.len())?;
        let (left, right) = body.split_horizontally(900);
        let zoom = padded(bounds(starts.iter().copied()), 0.15);
        let all = padded(bounds(paths.iter().flat_map(|p| p.points.iter().copied())), 0.05);
        let caption = format!("all {} prox steps (box: the zoom)", paths.first().map_or(0, |p| p.points.len() - 1));
        let mut chart = plane_panel(&left, &caption, all, self, &paths, &inactive)?;
        let (z0, z1, z2, z3) = zoom;
        chart.draw_series([Rectangle::new([(z0, z2), (z1, z3)], BLACK.stroke_width(2))]).map_err(plot_err)?;
        plane_panel(&right, "zoom on the starts W⁰ (circles)", zoom, self, &paths, &inactive)?;
        Ok(())
    }
}

fn bounds(points: impl Iterator<Item = (f64, f64)>) -> Bounds {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in points.filter(|p| p.0.is_finite() && p.1.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        return (-1.0, 1.0, -1.0, 1.0);
    }
    (x0, x1, y0, y1)
}

/// The bounds widened by `frac` of the larger side on every side (and to at least 1e-3 across).
fn padded((x0, x1, y0, y1): Bounds, frac: f64) -> Bounds {
    let pad = frac * (x1 - x0).max(y1 - y0).max(1e-3);
    (x0 - pad, x1 + pad, y0 - pad, y1 + pad)
}

/// One panel: the shaded no-data region, the data lines, every path, the starts and the crossed inactive starts.
fn plane_panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    (x0, x1, y0, y1): Bounds,
    fig: &Trajectories,
    paths: &[Path],
    inactive: &[(f64, f64)],
) -> anyhow::Result<PlaneChart<'a, DB>> {
    let mut chart = style::plane_axes(area, caption, label_font(), (x0, x1, y0, y1))?;
    chart
        .draw_series([Polygon::new(no_data_region((x0, x1, y0, y1), &fig.xs), GREY.mix(0.15).filled())])
        .map_err(plot_err)?;
    for &x in &fig.xs {
        if let Some(segment) = data_line(x, (x0, x1, y0, y1)) {
            chart.draw_series(LineSeries::new(segment, GREY.mix(0.6).stroke_width(1))).map_err(plot_err)?;
        }
    }
    let inside = |&(w, b): &(f64, f64)| (x0..=x1).contains(&w) && (y0..=y1).contains(&b);
    for p in paths {
        let c = if p.positive { RED } else { BLUE };
        for run in clip_path(&p.points, (x0, x1, y0, y1)) {
            if p.dashed {
                chart.draw_series(DashedLineSeries::new(run, 6, 4, c.stroke_width(2))).map_err(plot_err)?;
            } else {
                chart.draw_series(LineSeries::new(run, c.stroke_width(2))).map_err(plot_err)?;
            }
        }
        let start = p.points.first().filter(|s| !p.dashed && inside(s));
        chart.draw_series(start.map(|&s| Circle::new(s, 5, c.stroke_width(2)))).map_err(plot_err)?;
    }
    let crosses = inactive.iter().filter(|s| inside(s));
    chart.draw_series(crosses.map(|&s| Cross::new(s, 7, BLACK.stroke_width(2)))).map_err(plot_err)?;
    Ok(chart)
}

/// The part of the box where w x_j + b ≤ 0 for every j, as a polygon: below b = min_j(−x_j w), a concave
/// piecewise-linear function, sampled finely enough (and clamped to the box) to follow its kink at w = 0.
fn no_data_region((x0, x1, y0, y1): Bounds, xs: &[f64]) -> Vec<(f64, f64)> {
    const SAMPLES: usize = 400;
    let top = |w: f64| xs.iter().map(|x| -x * w).fold(f64::INFINITY, f64::min).clamp(y0, y1);
    let mut ws: Vec<f64> = (0..=SAMPLES).map(|k| x0 + (x1 - x0) * k as f64 / SAMPLES as f64).collect();
    if x0 < 0.0 && x1 > 0.0 && !ws.contains(&0.0) {
        ws.push(0.0);
        ws.sort_by(f64::total_cmp);
    }
    let mut poly: Vec<(f64, f64)> = ws.into_iter().map(|w| (w, top(w))).collect();
    poly.extend([(x1, y0), (x0, y0)]);
    poly
}

/// The parts of a polyline inside the box, as polylines: plotters moves points outside the plotting area onto its
/// edge, which in the zoom panel drew every path leaving the box as a line into a corner. Liang–Barsky per segment.
fn clip_path(points: &[(f64, f64)], (x0, x1, y0, y1): Bounds) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    for seg in points.windows(2) {
        let ((ax, ay), (bx, by)) = (seg[0], seg[1]);
        let (dx, dy) = (bx - ax, by - ay);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let mut visible = true;
        for (p, q) in [(-dx, ax - x0), (dx, x1 - ax), (-dy, ay - y0), (dy, y1 - ay)] {
            if p == 0.0 {
                visible &= q >= 0.0;
            } else if p < 0.0 {
                t0 = t0.max(q / p);
            } else {
                t1 = t1.min(q / p);
            }
        }
        if !visible || t0 > t1 {
            continue;
        }
        // Unclipped ends stay bit-identical, so the next segment continues the same run.
        let from = if t0 == 0.0 { seg[0] } else { (ax + t0 * dx, ay + t0 * dy) };
        let to = if t1 == 1.0 { seg[1] } else { (ax + t1 * dx, ay + t1 * dy) };
        match runs.last_mut() {
            Some(run) if t0 == 0.0 && run.last() == Some(&seg[0]) => run.push(to),
            _ => runs.push(vec![from, to]),
        }
    }
    runs
}

/// The data line b = −x w clipped to the box (plotters draws lines past the plotting area otherwise).
fn data_line(x: f64, (x0, x1, y0, y1): Bounds) -> Option<Vec<(f64, f64)>> {
    let (lo, hi) = if x == 0.0 {
        if !(y0..=y1).contains(&0.0) {
            return None;
        }
        (x0, x1)
    } else {
        let (a, b) = (-y1 / x, -y0 / x);
        (a.min(b).max(x0), a.max(b).min(x1))
    };
    (lo < hi).then(|| vec![(lo, -x * lo), (hi, -x * hi)])
}

/// The legend strip above the panels (two rows): sign colours and line styles; the markers and the shading.
fn path_legend(area: &DrawingArea<impl DrawingBackend, Shift>, inactive: usize, m: usize) -> anyhow::Result<()> {
    let font = tick_font();
    let text = |x: i32, y: i32, s: String| area.draw(&Text::new(s, (x, y - 8), font.clone())).map_err(plot_err);
    let mut x = 40;
    for (label, c, dashed) in [
        ("α = +1, Frobenius", RED, false),
        ("α = −1, Frobenius", BLUE, false),
        ("α = +1, Wasserstein", RED, true),
        ("α = −1, Wasserstein", BLUE, true),
    ] {
        let style = c.stroke_width(2);
        if dashed {
            for k in 0..3 {
                area.draw(&PathElement::new(vec![(x + 12 * k, 20), (x + 12 * k + 7, 20)], style)).map_err(plot_err)?;
            }
        } else {
            area.draw(&PathElement::new(vec![(x, 20), (x + 31, 20)], style)).map_err(plot_err)?;
        }
        text(x + 40, 20, label.to_string())?;
        x += 260;
    }
    area.draw(&Circle::new((x + 8, 20), 5, BLACK.stroke_width(2))).map_err(plot_err)?;
    text(x + 22, 20, "start W⁰ (Frobenius and Wasserstein paths share it)".into())?;
    area.draw(&Cross::new((48, 52), 7, BLACK.stroke_width(2))).map_err(plot_err)?;
    text(62, 52, format!("starts where it activates no data point ({inactive} of {m} neurons)"))?;
    area.draw(&Rectangle::new([(620, 44), (650, 60)], GREY.mix(0.3).filled())).map_err(plot_err)?;
    text(660, 52, "w x_j + b ≤ 0 for every data point x_j (shaded)".into())?;
    area.draw(&PathElement::new(vec![(1160, 60), (1190, 44)], GREY.mix(0.6).stroke_width(1))).map_err(plot_err)?;
    text(1200, 52, "data lines b = −x_j w".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shaded_region_is_where_no_data_point_activates() {
        // The E4 data x ∈ {−1, −0.5, 0, 0.5, 1}: no point activates exactly when b ≤ −|w|.
        let xs = [-1.0, -0.5, 0.0, 0.5, 1.0];
        assert!(activates_no_data((0.3, -0.3), &xs) && activates_no_data((-0.2, -0.5), &xs));
        assert!(!activates_no_data((0.3, -0.29), &xs) && !activates_no_data((0.0, 0.01), &xs));
        let poly = no_data_region((-1.0, 1.0, -2.0, 2.0), &xs);
        let top: Vec<&(f64, f64)> = poly.iter().filter(|p| [-1.0, 0.0, 0.5, 1.0].contains(&p.0)).collect();
        // The upper boundary at w = −1, 0, 0.5, 1 is −|w|; the last two vertices close the polygon at b = −2.
        assert_eq!(top[..4].iter().map(|p| p.1).collect::<Vec<_>>(), [-1.0, 0.0, -0.5, -1.0]);
        assert_eq!(&poly[poly.len() - 2..], [(1.0, -2.0), (-1.0, -2.0)]);
    }

    #[test]
    fn data_lines_are_clipped_to_the_box() {
        let b = (-1.0, 1.0, -0.5, 0.5);
        // b = −2w leaves the box at w = ±0.25; b = 0 spans it; b = −x w with the box above 0 misses for x = 0.
        assert_eq!(data_line(2.0, b), Some(vec![(-0.25, 0.5), (0.25, -0.5)]));
        assert_eq!(data_line(0.0, b), Some(vec![(-1.0, 0.0), (1.0, 0.0)]));
        assert_eq!(data_line(0.0, (-1.0, 1.0, 0.1, 0.5)), None);
    }

    #[test]
    fn paths_are_clipped_to_the_box_not_pulled_onto_its_edge() {
        let b = (0.0, 1.0, 0.0, 1.0);
        // In, out through x = 1 at b = 0.75, back in through b = 1 at w = 0.25: two runs, cut at the edge.
        let runs = clip_path(&[(0.5, 0.5), (1.5, 1.0), (0.5, 1.5), (0.0, 0.5)], b);
        assert_eq!(runs, vec![vec![(0.5, 0.5), (1.0, 0.75)], vec![(0.25, 1.0), (0.0, 0.5)]]);
        assert!(clip_path(&[(2.0, 2.0), (3.0, 2.0)], b).is_empty(), "a segment outside draws nothing");
        assert_eq!(clip_path(&[(0.1, 0.1), (0.2, 0.2), (0.3, 0.1)], b), vec![vec![(0.1, 0.1), (0.2, 0.2), (0.3, 0.1)]]);
    }
}
