//! Figures of E6 `init_scale`: loss against log flow time per init scale; neuron norms and directions against
//! log flow time; directions at the end of alignment in the (w, b) plane with the data lines b = −x_j w; the
//! phase times against the init scale.

use std::path::PathBuf;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{self, colour, label_font, log_floor, plot_err, tick_font, title_font, Figure, BLUE, RED};
use crate::results::{Results, StageInfo};
use crate::tables::{column_f64, column_str};

/// One run's curves and per-run measurements, read from the `loss` and `runs` tables.
struct Run {
    scale: f64,
    seed: f64,
    t: Vec<f64>,
    loss: Vec<f64>,
    t_align: Option<f64>,
    t_fit: Option<f64>,
    t_plateau: f64,
}

/// One neuron row of the `neurons` table (only seed 0 for the curves; every seed at t_align).
struct NeuronRow {
    scale: f64,
    seed: f64,
    t: f64,
    particle: usize,
    alpha: f64,
    norm: f64,
    angle: f64,
    /// At t_align: one of the run's aligned neurons.
    aligned: Option<bool>,
}

fn opt_f64(frame: &polars::prelude::DataFrame, name: &str) -> anyhow::Result<Vec<Option<f64>>> {
    let ca = frame.column(name)?.f64()?.clone();
    Ok((0..ca.len()).map(|i| ca.get(i)).collect())
}

fn read_runs(results: &Results, stage: &str) -> anyhow::Result<Vec<Run>> {
    let loss = results.table(stage, "loss")?;
    let (s, seed, t, l) = (
        column_f64(&loss, "init_scale")?,
        column_f64(&loss, "seed")?,
        column_f64(&loss, "t")?,
        column_f64(&loss, "loss")?,
    );
    let runs_t = results.table(stage, "runs")?;
    let (rs, rseed, plateau) =
        (column_f64(&runs_t, "init_scale")?, column_f64(&runs_t, "seed")?, column_f64(&runs_t, "t_plateau")?);
    let (align, fit) = (opt_f64(&runs_t, "t_align")?, opt_f64(&runs_t, "t_fit")?);
    let mut runs: Vec<Run> = (0..rs.len())
        .map(|r| Run {
            scale: rs[r],
            seed: rseed[r],
            t: vec![],
            loss: vec![],
            t_align: align[r],
            t_fit: fit[r],
            t_plateau: plateau[r],
        })
        .collect();
    for r in 0..s.len() {
        if let Some(run) = runs.iter_mut().find(|x| x.scale == s[r] && x.seed == seed[r]) {
            run.t.push(t[r]);
            run.loss.push(l[r]);
        }
    }
    runs.sort_by(|a, b| a.scale.total_cmp(&b.scale).then(a.seed.total_cmp(&b.seed)));
    Ok(runs)
}

fn read_neurons(results: &Results, stage: &str, runs: &[Run]) -> anyhow::Result<Vec<NeuronRow>> {
    let n = results.table(stage, "neurons")?;
    let (s, seed, t) = (column_f64(&n, "init_scale")?, column_f64(&n, "seed")?, column_f64(&n, "t")?);
    let (particle, alpha) = (column_f64(&n, "particle")?, column_f64(&n, "alpha")?);
    let (norm, angle) = (column_f64(&n, "norm")?, column_f64(&n, "angle_deg")?);
    let flags = n.column("aligned")?.bool()?.clone();
    let first_seed = runs.iter().map(|r| r.seed).fold(f64::INFINITY, f64::min);
    let at_align = |r: usize| runs.iter().any(|x| x.scale == s[r] && x.seed == seed[r] && x.t_align == Some(t[r]));
    Ok((0..s.len())
        .filter(|&r| seed[r] == first_seed || at_align(r))
        .map(|r| NeuronRow {
            scale: s[r],
            seed: seed[r],
            t: t[r],
            particle: particle[r] as usize,
            alpha: alpha[r],
            norm: norm[r],
            angle: angle[r],
            aligned: flags.get(r),
        })
        .collect())
}

pub fn draw(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let stage = info.name.as_str();
    let runs = read_runs(results, stage)?;
    let neurons = read_neurons(results, stage, &runs)?;
    let cand = results.table(stage, "candidates")?;
    let first_scale = column_f64(&cand, "init_scale")?.first().copied().unwrap_or(f64::NAN);
    let cs = column_f64(&cand, "init_scale")?;
    let (kind, x) = (column_str(&cand, "kind")?, column_f64(&cand, "x")?);
    let mut xs: Vec<f64> =
        (0..x.len()).filter(|&r| cs[r] == first_scale && kind[r] == "critical_ray").map(|r| x[r]).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let mut files = style::render(&LossFigure { stage, runs: &runs }, out)?;
    files.extend(style::render(&NeuronFigure { stage, runs: &runs, neurons: &neurons }, out)?);
    files.extend(style::render(&Directions { stage, runs: &runs, neurons: &neurons, xs: &xs }, out)?);
    files.extend(style::render(&Times { stage, runs: &runs }, out)?);
    Ok(files)
}

fn scales(runs: &[Run]) -> Vec<f64> {
    let mut s: Vec<f64> = runs.iter().map(|r| r.scale).collect();
    s.dedup();
    s
}

/// At most `k` values evenly spread over the sorted list (first and last kept).
fn spread(values: &[f64], k: usize) -> Vec<f64> {
    if values.len() <= k {
        return values.to_vec();
    }
    (0..k).map(|i| values[i * (values.len() - 1) / (k - 1)]).collect()
}

/// Colour i of k along a hue ramp (red → violet): one per init scale, more than the 8-colour palette holds.
fn ramp(i: usize, k: usize) -> RGBColor {
    let c = HSLColor(0.78 * i as f64 / (k.max(2) - 1) as f64, 0.85, 0.42).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

fn scale_label(s: f64) -> String {
    format!("s = 1e{}", s.log10().round() as i32)
}

struct LossFigure<'a> {
    stage: &'a str,
    runs: &'a [Run],
}

impl Figure for LossFigure<'_> {
    fn name(&self) -> String {
        format!("{}_loss", self.stage)
    }

    fn caption(&self) -> String {
        "Loss against flow time (log-log) from each init scale s, every seed one thin line, the end of alignment \
         marked with a circle: small scales sit on the plateau F = 0.4 until t ≈ 1e-3 whatever s."
            .into()
    }

    fn size(&self) -> (u32, u32) {
        (1300, 800)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let t_lo = self.runs.iter().filter_map(|r| r.t.get(1).copied()).fold(f64::INFINITY, f64::min);
        let t_hi = self.runs.iter().filter_map(|r| r.t.last().copied()).fold(0.0, f64::max);
        let (lo, hi) = log_floor(self.runs.iter().flat_map(|r| r.loss.iter().copied()), 1e-16);
        let mut chart = ChartBuilder::on(root)
            .caption("E6: loss F(W(t)) under gradient flow from W⁰ ~ N(0, s²), m = 50, 5 sine points", title_font())
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(85)
            .build_cartesian_2d(style::log_axis(t_lo, t_hi), style::log_axis(lo, hi))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("flow time t = Σ GD steps (log scale)")
            .y_desc("loss (1/n) Σ e² (log scale)")
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .label_style(tick_font())
            .axis_desc_style(label_font())
            .draw()
            .map_err(plot_err)?;
        let all = scales(self.runs);
        for (i, &s) in all.iter().enumerate() {
            let c = ramp(i, all.len());
            for (k, run) in self.runs.iter().filter(|r| r.scale == s).enumerate() {
                let pts = run.t.iter().zip(&run.loss).skip(1).map(|(&t, &l)| (t, l.max(lo)));
                let series = chart.draw_series(LineSeries::new(pts, c.stroke_width(2))).map_err(plot_err)?;
                if k == 0 {
                    series
                        .label(scale_label(s))
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
                }
                if let Some(ta) = run.t_align {
                    let l = run.t.iter().position(|&t| t == ta).map(|k| run.loss[k]).unwrap_or(f64::NAN);
                    chart.draw_series([Circle::new((ta, l), 6, c.stroke_width(2))]).map_err(plot_err)?;
                }
            }
        }
        style::legend(&mut chart, SeriesLabelPosition::LowerLeft, tick_font())
    }
}

struct NeuronFigure<'a> {
    stage: &'a str,
    runs: &'a [Run],
    neurons: &'a [NeuronRow],
}

impl Figure for NeuronFigure<'_> {
    fn name(&self) -> String {
        format!("{}_neurons", self.stage)
    }

    fn caption(&self) -> String {
        "Every neuron's norm and direction angle against flow time for the first seed, one row per init scale \
         (red α = +1, blue α = −1); dashed: end of alignment, dotted: loss ≤ 1e-3 × initial."
            .into()
    }

    fn size(&self) -> (u32, u32) {
        (1500, 380 * self.rows().len().max(1) as u32 + 60)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(55);
        top.titled(
            "E6: neuron norms ‖W_i(t)‖ and directions atan2(b_i, w_i) against flow time (first seed)",
            title_font(),
        )
        .map_err(plot_err)?;
        let rows = self.rows();
        let panels = body.split_evenly((rows.len().max(1), 2));
        for (r, &s) in rows.iter().enumerate() {
            let Some(run) = self.runs.iter().find(|x| x.scale == s) else { continue };
            let rows: Vec<&NeuronRow> =
                self.neurons.iter().filter(|n| n.scale == s && n.seed == run.seed && n.t > 0.0).collect();
            self.panel(&panels[2 * r], run, &rows, true)?;
            self.panel(&panels[2 * r + 1], run, &rows, false)?;
        }
        Ok(())
    }
}

/// Per neuron: its α colour and its (t, value) points in time order.
fn neuron_lines(rows: &[&NeuronRow], value: fn(&NeuronRow) -> f64) -> Vec<(RGBColor, Vec<(f64, f64)>)> {
    let m = rows.iter().map(|n| n.particle + 1).max().unwrap_or(0);
    let mut lines: Vec<(RGBColor, Vec<(f64, f64)>)> = vec![(BLUE, vec![]); m];
    for n in rows {
        lines[n.particle].0 = if n.alpha > 0.0 { RED } else { BLUE };
        lines[n.particle].1.push((n.t, value(n)));
    }
    lines
}

/// Angle lines split where they wrap around ±180° (no vertical jumps across the panel).
fn unwrap_breaks(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut pieces: Vec<Vec<(f64, f64)>> = vec![vec![]];
    for w in points.windows(2) {
        pieces.last_mut().expect("non-empty").push(w[0]);
        if (w[1].1 - w[0].1).abs() > 180.0 {
            pieces.push(vec![]);
        }
    }
    if let Some(&p) = points.last() {
        pieces.last_mut().expect("non-empty").push(p);
    }
    pieces
}

impl NeuronFigure<'_> {
    fn rows(&self) -> Vec<f64> {
        spread(&scales(self.runs), 4)
    }

    fn builder<'a, 'b, DB: DrawingBackend>(
        area: &'a DrawingArea<DB, Shift>,
        caption: String,
    ) -> ChartBuilder<'a, 'b, DB> {
        let mut b = ChartBuilder::on(area);
        b.caption(caption, label_font()).margin(10).x_label_area_size(45).y_label_area_size(75);
        b
    }

    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        run: &Run,
        rows: &[&NeuronRow],
        norms: bool,
    ) -> anyhow::Result<()> {
        let t_lo = rows.iter().map(|n| n.t).fold(f64::INFINITY, f64::min);
        let t_hi = rows.iter().map(|n| n.t).fold(0.0, f64::max);
        let marks: Vec<(f64, ShapeStyle)> =
            [(run.t_align, BLACK.stroke_width(2)), (run.t_fit, BLACK.mix(0.5).stroke_width(2))]
                .into_iter()
                .filter_map(|(t, st)| t.map(|t| (t, st)))
                .collect();
        if norms {
            let (lo, hi) = log_floor(rows.iter().map(|n| n.norm), 1e-14);
            let cap = format!("{}: neuron norms ‖W_i‖", scale_label(run.scale));
            let mut chart = Self::builder(area, cap)
                .build_cartesian_2d(style::log_axis(t_lo, t_hi), style::log_axis(lo, hi))
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("flow time t (log)")
                .y_desc("‖W_i‖ (log)")
                .x_label_formatter(&|v| format!("{v:.0e}"))
                .y_label_formatter(&|v| format!("{v:.0e}"))
                .label_style(tick_font())
                .axis_desc_style(tick_font())
                .draw()
                .map_err(plot_err)?;
            for (c, pts) in neuron_lines(rows, |n| n.norm) {
                let pts = pts.into_iter().map(|(t, v)| (t, v.max(lo)));
                chart.draw_series(LineSeries::new(pts, c.mix(0.6).stroke_width(1))).map_err(plot_err)?;
            }
            for (t, st) in marks {
                chart.draw_series(DashedLineSeries::new([(t, lo), (t, hi)], 8, 6, st)).map_err(plot_err)?;
            }
        } else {
            let cap = format!("{}: neuron directions", scale_label(run.scale));
            let mut chart = Self::builder(area, cap)
                .build_cartesian_2d(style::log_axis(t_lo, t_hi), -180.0..180.0)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("flow time t (log)")
                .y_desc("atan2(b_i, w_i) (degrees)")
                .x_label_formatter(&|v| format!("{v:.0e}"))
                .label_style(tick_font())
                .axis_desc_style(tick_font())
                .draw()
                .map_err(plot_err)?;
            for (c, pts) in neuron_lines(rows, |n| n.angle) {
                for piece in unwrap_breaks(&pts) {
                    chart.draw_series(LineSeries::new(piece, c.mix(0.6).stroke_width(1))).map_err(plot_err)?;
                }
            }
            for (t, st) in marks {
                chart.draw_series(DashedLineSeries::new([(t, -180.0), (t, 180.0)], 8, 6, st)).map_err(plot_err)?;
            }
        }
        Ok(())
    }
}

struct Directions<'a> {
    stage: &'a str,
    runs: &'a [Run],
    neurons: &'a [NeuronRow],
    xs: &'a [f64],
}

impl Directions<'_> {
    /// Scales with an alignment phase on some seed (at most 4).
    fn panels(&self) -> Vec<f64> {
        let with: Vec<f64> = scales(self.runs)
            .into_iter()
            .filter(|&s| self.runs.iter().any(|r| r.scale == s && r.t_align.is_some()))
            .collect();
        spread(&with, 4)
    }
}

impl Figure for Directions<'_> {
    fn name(&self) -> String {
        format!("{}_directions", self.stage)
    }

    fn caption(&self) -> String {
        "Directions of the neurons at the end of alignment, every seed (radius 1 + 0.04·seed), in the (w, b) \
         plane with the data lines b = −x_j w (grey) and data directions (x_j, 1) (dotted): the aligned neurons \
         collapse onto two critical rays, α = +1 onto (1, 0.5) and α = −1 onto (−1, 0.5)."
            .into()
    }

    fn size(&self) -> (u32, u32) {
        (560 * self.panels().len().max(1) as u32, 660)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(55);
        top.titled("E6: neuron directions at the end of alignment (unit circle), data lines b = −x_j w", title_font())
            .map_err(plot_err)?;
        let panels = self.panels();
        for (area, &s) in body.split_evenly((1, panels.len().max(1))).iter().zip(&panels) {
            self.panel(area, s)?;
        }
        Ok(())
    }
}

impl Directions<'_> {
    fn panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, s: f64) -> anyhow::Result<()> {
        let r_max = 1.5;
        let aligned: Vec<&Run> = self.runs.iter().filter(|r| r.scale == s && r.t_align.is_some()).collect();
        let total = self.runs.iter().filter(|r| r.scale == s).count();
        let cap = format!("{} ({} of {total} seeds aligned)", scale_label(s), aligned.len());
        let mut chart = ChartBuilder::on(area)
            .caption(cap, label_font())
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(-r_max..r_max, -r_max..r_max)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("w (direction, normalised)")
            .y_desc("b")
            .label_style(tick_font())
            .axis_desc_style(tick_font())
            .draw()
            .map_err(plot_err)?;
        for &x in self.xs {
            // b = −x w, clipped to the square; label at the end with b > 0 side.
            let w_end = if x.abs() <= 1.0 { r_max } else { r_max / x.abs() };
            let line = [(-w_end, x * w_end), (w_end, -x * w_end)];
            chart.draw_series(LineSeries::new(line, RGBColor(150, 150, 150).stroke_width(2))).map_err(plot_err)?;
            let normal = (x, 1.0);
            let k = 1.4 / (x * x + 1.0).sqrt();
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, 0.0), (k * normal.0, k * normal.1)],
                    3,
                    5,
                    BLACK.mix(0.4).into(),
                ))
                .map_err(plot_err)?;
            let at = (-w_end * 0.92, x * w_end * 0.92);
            chart.draw_series([Text::new(format!("x={x}"), at, tick_font())]).map_err(plot_err)?;
        }
        for run in &aligned {
            let r = 1.0 + 0.04 * run.seed;
            let at = |n: &&NeuronRow| n.scale == s && n.seed == run.seed && Some(n.t) == run.t_align;
            let place = |n: &NeuronRow| (r * n.angle.to_radians().cos(), r * n.angle.to_radians().sin());
            let grey = RGBColor(120, 120, 120);
            let rest = self.neurons.iter().filter(at).filter(|n| n.aligned != Some(true));
            chart.draw_series(rest.map(|n| Circle::new(place(n), 3, grey.stroke_width(1)))).map_err(plot_err)?;
            let dots = self.neurons.iter().filter(at).filter(|n| n.aligned == Some(true)).map(|n| {
                let c = if n.alpha > 0.0 { RED } else { BLUE };
                Circle::new(place(n), 5, c.filled())
            });
            chart.draw_series(dots).map_err(plot_err)?;
        }
        let grey = RGBColor(120, 120, 120);
        let keys: [(&str, ShapeStyle, u32); 3] = [
            ("aligned, α = +1", RED.filled(), 5),
            ("aligned, α = −1", BLUE.filled(), 5),
            ("not aligned (norm ≈ s)", grey.stroke_width(1), 3),
        ];
        for (label, style, size) in keys {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), u32>>())
                .map_err(plot_err)?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 10, y), size, style));
        }
        style::legend(&mut chart, SeriesLabelPosition::UpperMiddle, tick_font())
    }
}

struct Times<'a> {
    stage: &'a str,
    runs: &'a [Run],
}

impl Figure for Times<'_> {
    fn name(&self) -> String {
        format!("{}_times", self.stage)
    }

    fn caption(&self) -> String {
        "End of alignment, end of the loss plateau and time to fit against the init scale s, every seed a marker: \
         alignment ends at t ∝ s while the plateau ends near t = 1e-3 for every small s."
            .into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let ss = scales(self.runs);
        let (s_lo, s_hi) = (ss.first().copied().unwrap_or(1e-8), ss.last().copied().unwrap_or(1.0));
        let all = self.runs.iter().flat_map(|r| [r.t_align, r.t_fit, Some(r.t_plateau)]).flatten();
        let (lo, hi) = log_floor(all, 1e-12);
        let mut chart = ChartBuilder::on(root)
            .caption("E6: phase times against the init scale s (every seed)", title_font())
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(85)
            .build_cartesian_2d(style::log_axis(s_lo / 2.0, s_hi * 2.0), style::log_axis(lo, hi))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("init scale s (log)")
            .y_desc("flow time t (log)")
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .label_style(tick_font())
            .axis_desc_style(label_font())
            .draw()
            .map_err(plot_err)?;
        type Pick = fn(&Run) -> Option<f64>;
        let series: [(&str, Pick, RGBColor); 3] = [
            ("end of alignment t_align", |r| r.t_align, colour(0)),
            ("end of plateau (loss within 1 %)", |r| Some(r.t_plateau), colour(1)),
            ("time to fit (loss ≤ 1e-3 × initial)", |r| r.t_fit, colour(2)),
        ];
        for (label, pick, c) in series {
            // Offset the seeds slightly in s so that equal times stay visible.
            let pts = self.runs.iter().filter_map(|r| pick(r).map(|t| (r.scale * (1.0 + 0.03 * (r.seed - 4.5)), t)));
            chart
                .draw_series(pts.map(|p| Circle::new(p, 5, c.filled())))
                .map_err(plot_err)?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
        }
        style::legend(&mut chart, SeriesLabelPosition::UpperLeft, tick_font())
    }
}
