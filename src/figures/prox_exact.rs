//! Figures of E4x (issue 18, item 4): the seed's inner GD against exact local and certified global prox steps.
//! Figures 1–3 compare stages and are drawn with the global stage `prox_exact_global`; a solver whose stage has no
//! results is left out of them. Figure 4 is drawn with any gd stage whose steps carry `polished_distance`.

use std::path::PathBuf;

use plotters::coord::Shift;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use super::prox_sweep::{gamma_label, quantile, DISTANCES};
use super::style::{self, label_font, plot_err, tick_font, Figure};
use crate::results::{Results, StageInfo};
use crate::tables::{column_f64, column_str};

/// (label, stage) of the three inner solvers, in the order of issue 18.
const SOLVERS: [(&str, &str); 3] =
    [("gd", "prox_sweep"), ("exact local", "prox_exact"), ("exact global", "prox_exact_global")];
const SOLVER_COLOURS: [RGBColor; 3] =
    [RGBColor(0x7f, 0x7f, 0x7f), RGBColor(0x2c, 0xa0, 0x2c), RGBColor(0x94, 0x67, 0xbd)];
/// Gaps and distances at or below this are drawn at it, so exact zeros stay on the log axis.
const FLOOR: f64 = 1e-16;

/// The columns of a `steps` table these figures use; a column absent from an older table reads as NaN.
pub struct Rows {
    seed: Vec<f64>,
    distance: Vec<String>,
    gamma: Vec<f64>,
    step: Vec<f64>,
    loss: Vec<f64>,
    gap: Vec<f64>,
    objective: Vec<f64>,
    certified: Vec<f64>,
    polished: Vec<f64>,
}

fn optional_f64(t: &DataFrame, name: &str) -> anyhow::Result<Vec<f64>> {
    if t.get_column_names().iter().any(|c| c.as_str() == name) {
        column_f64(t, name)
    } else {
        Ok(vec![f64::NAN; t.height()])
    }
}

impl Rows {
    pub fn read(t: &DataFrame) -> anyhow::Result<Rows> {
        Ok(Rows {
            seed: column_f64(t, "seed")?,
            distance: column_str(t, "distance")?,
            gamma: column_f64(t, "gamma")?,
            step: column_f64(t, "step")?,
            loss: column_f64(t, "loss")?,
            gap: optional_f64(t, "gap")?,
            objective: optional_f64(t, "prox_objective")?,
            certified: optional_f64(t, "certified")?,
            polished: optional_f64(t, "polished_distance")?,
        })
    }

    fn select(&self, distance: &str, gamma: f64) -> impl Iterator<Item = usize> + '_ {
        let d = distance.to_string();
        (0..self.step.len()).filter(move |&r| self.distance[r] == d && self.gamma[r] == gamma)
    }

    fn seeds(&self) -> usize {
        let mut v = self.seed.clone();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v.len()
    }

    fn last_step(&self) -> f64 {
        self.step.iter().copied().fold(0.0, f64::max)
    }
}

/// Sorted γ (largest first) over all given tables.
fn gammas<'a>(tables: impl Iterator<Item = &'a Rows>) -> Vec<f64> {
    let mut g: Vec<f64> = tables.flat_map(|t| t.gamma.iter().copied()).collect();
    g.sort_by(|a, b| b.total_cmp(a));
    g.dedup();
    g
}

/// (x, 10 %, 50 %, 90 %) of the finite values of each group, floored at FLOOR.
type Band = Vec<(f64, f64, f64, f64)>;

fn band(groups: impl Iterator<Item = (f64, Vec<f64>)>) -> Band {
    let mut out = Vec::new();
    for (x, mut v) in groups {
        v.retain(|v| v.is_finite());
        v.iter_mut().for_each(|v| *v = v.max(FLOOR));
        v.sort_by(f64::total_cmp);
        if !v.is_empty() {
            out.push((x, quantile(&v, 0.1), quantile(&v, 0.5), quantile(&v, 0.9)));
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

fn draw_band<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    b: &Band,
    c: RGBColor,
    dashed: bool,
) -> anyhow::Result<()> {
    let area: Vec<(f64, f64)> = b.iter().map(|q| (q.0, q.3)).chain(b.iter().rev().map(|q| (q.0, q.1))).collect();
    chart.draw_series([Polygon::new(area, c.mix(0.12).filled())]).map_err(plot_err)?;
    let median = b.iter().map(|q| (q.0, q.2));
    if dashed {
        chart.draw_series(DashedLineSeries::new(median, 9, 5, c.stroke_width(3))).map_err(plot_err)?;
    } else {
        chart.draw_series(LineSeries::new(median, c.stroke_width(3))).map_err(plot_err)?;
    }
    Ok(())
}

/// The solvers' steps tables that have results, with their labels and colours.
type Solvers = Vec<(&'static str, RGBColor, Rows)>;

fn solvers(results: &Results) -> anyhow::Result<Solvers> {
    let known: Vec<String> = results.stages()?.into_iter().map(|s| s.name).collect();
    let mut out = Vec::new();
    for ((label, stage), c) in SOLVERS.into_iter().zip(SOLVER_COLOURS) {
        if known.iter().any(|k| k == stage) {
            out.push((label, c, Rows::read(&results.table(stage, "steps")?)?));
        }
    }
    Ok(out)
}

/// Figures 1–3 with the global stage; figure 4 with every gd stage carrying polished distances.
pub fn draw(results: &Results, info: &StageInfo, rows: &Rows, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if rows.polished.iter().any(|v| v.is_finite()) {
        files.extend(style::render(&Polished { stage: &info.name, rows }, out)?);
    }
    if info.name != SOLVERS[2].1 {
        return Ok(files);
    }
    let solvers = solvers(results)?;
    let gammas = gammas(solvers.iter().map(|s| &s.2));
    files.extend(style::render(&LossPanels { solvers: &solvers, gammas: &gammas }, out)?);
    files.extend(style::render(&FinalLoss { solvers: &solvers }, out)?);
    files.extend(style::render(&Gaps { rows, gammas: &gammas }, out)?);
    Ok(files)
}

fn solver_legend(area: &DrawingArea<impl DrawingBackend, Shift>, solvers: &Solvers) -> anyhow::Result<()> {
    let font = label_font();
    // One column per solver, one row per distance: six entries do not fit on one line of a 1860 px figure.
    for (k, (label, c, rows)) in solvers.iter().enumerate() {
        let x = 40 + 600 * k as i32;
        for (i, (d, dashed)) in [("Frobenius", false), ("Wasserstein", true)].into_iter().enumerate() {
            let style = c.stroke_width(3);
            let y = 18 + 30 * i as i32;
            if dashed {
                area.draw(&PathElement::new(vec![(x, y), (x + 12, y)], style)).map_err(plot_err)?;
                area.draw(&PathElement::new(vec![(x + 20, y), (x + 32, y)], style)).map_err(plot_err)?;
            } else {
                area.draw(&PathElement::new(vec![(x, y), (x + 32, y)], style)).map_err(plot_err)?;
            }
            let text = format!("{label}, {d} ({} seeds)", rows.seeds());
            area.draw(&Text::new(text, (x + 40, y - 10), font.clone())).map_err(plot_err)?;
        }
    }
    Ok(())
}

/// 1. Per γ, the loss against the prox step for the three solvers and both distances.
struct LossPanels<'a> {
    solvers: &'a Solvers,
    gammas: &'a [f64],
}

impl Figure for LossPanels<'_> {
    fn name(&self) -> String {
        "prox_exact_loss_panels".into()
    }

    fn caption(&self) -> String {
        "Loss against the prox step per γ for the seed's inner GD, exact local and certified global steps, \
         Frobenius (solid) and Wasserstein (dashed): median and 10–90 % band over seeds."
            .into()
    }

    fn size(&self) -> (u32, u32) {
        (3 * 620, 160 + self.gammas.len().div_ceil(3) as u32 * 480)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(140);
        let (title, legend) = top.split_vertically(60);
        title
            .titled(
                "E4x: loss per prox step, gd / exact local / exact global, median and 10–90 % band",
                (style::FONT, 24),
            )
            .map_err(plot_err)?;
        solver_legend(&legend, self.solvers)?;
        let areas = body.split_evenly((self.gammas.len().div_ceil(3), self.gammas.len().min(3)));
        for (area, &g) in areas.iter().zip(self.gammas) {
            loss_panel(area, self.solvers, g)?;
        }
        Ok(())
    }
}

fn loss_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, solvers: &Solvers, g: f64) -> anyhow::Result<()> {
    let mut bands = Vec::new();
    for (_, c, rows) in solvers {
        for (i, (d, _)) in DISTANCES.iter().enumerate() {
            let b = band((0..=rows.last_step() as usize).map(|t| {
                let v = rows.select(d, g).filter(|&r| rows.step[r] == t as f64).map(|r| rows.loss[r]).collect();
                (t as f64, v)
            }));
            bands.push((*c, i == 1, b));
        }
    }
    let last = solvers.iter().map(|s| s.2.last_step()).fold(1.0, f64::max);
    let (lo, hi) = style::log_floor(bands.iter().flat_map(|b| b.2.iter().flat_map(|q| [q.1, q.3])), FLOOR);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("γ = {}", gamma_label(g)), label_font())
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..last, style::log_axis(lo, hi))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("prox step t")
        .y_desc("loss (log)")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .label_style(tick_font())
        .axis_desc_style(tick_font())
        .draw()
        .map_err(plot_err)?;
    for (c, dashed, b) in &bands {
        draw_band(&mut chart, b, *c, *dashed)?;
    }
    Ok(())
}

/// 2. The final loss against γ for the three solvers and both distances.
struct FinalLoss<'a> {
    solvers: &'a Solvers,
}

impl Figure for FinalLoss<'_> {
    fn name(&self) -> String {
        "prox_exact_final_loss".into()
    }

    fn caption(&self) -> String {
        "Final loss after the last prox step against γ for the seed's inner GD, exact local and certified global \
         steps, Frobenius (solid) and Wasserstein (dashed): median and 10–90 % band over seeds."
            .into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let mut bands = Vec::new();
        for (label, c, rows) in self.solvers {
            let last = rows.last_step();
            for (i, (d, _)) in DISTANCES.iter().enumerate() {
                let b =
                    band(gammas([rows].into_iter()).into_iter().map(|g| {
                        (g, rows.select(d, g).filter(|&r| rows.step[r] == last).map(|r| rows.loss[r]).collect())
                    }));
                bands.push((format!("{label}, {d} ({} seeds)", rows.seeds()), *c, i == 1, b));
            }
        }
        let (lo, hi) = style::log_floor(bands.iter().flat_map(|b| b.3.iter().flat_map(|q| [q.1, q.3])), FLOOR);
        let xs = || bands.iter().flat_map(|b| b.3.iter().map(|q| q.0));
        let (g0, g1) = (xs().fold(f64::INFINITY, f64::min).min(1.0), xs().fold(0.0, f64::max).max(1e-5));
        let mut chart = ChartBuilder::on(root)
            .caption("E4x: final loss against γ per inner solver, median and 10–90 % band", (style::FONT, 22))
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
        for (label, c, dashed, b) in &bands {
            draw_band(&mut chart, b, *c, *dashed)?;
            let (c, dashed) = (*c, *dashed);
            chart
                .draw_series(LineSeries::new(Vec::<(f64, f64)>::new(), c.stroke_width(3)))
                .map_err(plot_err)?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (if dashed { x + 9 } else { x + 22 }, y)], c.stroke_width(3))
                });
        }
        style::legend(&mut chart, SeriesLabelPosition::LowerRight, tick_font())
    }
}

/// (distance, colour, per γ the values of every step) of one strip series.
type Strip<'a> = (&'a str, RGBColor, Vec<(f64, Vec<f64>)>);
/// (distance, colour, (γ, certified fraction)) of one line.
type Line<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// Per distance, every value of `value` at prox steps t ≥ 1, grouped by γ (for the strip plots of 3 and 4).
fn per_gamma(rows: &Rows, d: &str, gammas: &[f64], value: impl Fn(usize) -> f64) -> Vec<(f64, Vec<f64>)> {
    gammas.iter().map(|&g| (g, rows.select(d, g).filter(|&r| rows.step[r] >= 1.0).map(&value).collect())).collect()
}

/// A log-log strip chart: each step's value as a point (the distances side by side) and the median per γ.
fn strip_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    groups: &[Strip],
) -> anyhow::Result<()> {
    let all = groups.iter().flat_map(|g| g.2.iter().flat_map(|p| p.1.iter().copied()));
    let (lo, hi) = style::log_floor(all, FLOOR);
    let xs = || groups.iter().flat_map(|g| g.2.iter().map(|p| p.0));
    let (g0, g1) = (xs().fold(f64::INFINITY, f64::min), xs().fold(0.0, f64::max));
    let mut chart = ChartBuilder::on(area)
        .caption(caption, label_font())
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((g0 / 2.0..g1 * 2.0).log_scale(), style::log_axis(lo, hi))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("prox step γ (log scale)")
        .y_desc(y_desc)
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .label_style(tick_font())
        .axis_desc_style(tick_font())
        .draw()
        .map_err(plot_err)?;
    for (i, (d, c, points)) in groups.iter().enumerate() {
        let (c, shift) = (*c, if i == 0 { 0.87 } else { 1.15 });
        let dots =
            points.iter().flat_map(|(g, v)| v.iter().filter(|v| v.is_finite()).map(move |v| (g * shift, v.max(FLOOR))));
        chart.draw_series(dots.map(|p| Circle::new(p, 3, c.mix(0.5).filled()))).map_err(plot_err)?;
        let b = band(points.iter().cloned());
        chart
            .draw_series(LineSeries::new(b.iter().map(|q| (q.0, q.2)), c.stroke_width(3)).point_size(5))
            .map_err(plot_err)?
            .label(format!("{d}: each step (dots), median (line)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
    }
    style::legend(&mut chart, SeriesLabelPosition::UpperRight, tick_font())
}

/// 3. The global solver's relative duality gap per step and the fraction of steps certified, per γ.
struct Gaps<'a> {
    rows: &'a Rows,
    gammas: &'a [f64],
}

impl Figure for Gaps<'_> {
    fn name(&self) -> String {
        "prox_exact_global_gaps".into()
    }

    fn caption(&self) -> String {
        "The certified global steps' relative duality gap (Φ − lower bound)/max(1, |Φ|) at every prox step against \
         γ (zeros drawn at 1e-16), and the fraction of steps certified per γ, per distance."
            .into()
    }

    fn size(&self) -> (u32, u32) {
        (1800, 750)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let r = self.rows;
        let (left, right) = root.split_horizontally(1100);
        let relative = |i: usize| r.gap[i] / r.objective[i].abs().max(1.0);
        let gaps: Vec<_> = DISTANCES.iter().map(|&(d, c)| (d, c, per_gamma(r, d, self.gammas, relative))).collect();
        let title = format!("E4x global steps: relative duality gap per step ({} seeds)", r.seeds());
        strip_chart(&left, &title, "relative gap (log)", &gaps)?;
        let certified: Vec<_> = DISTANCES
            .iter()
            .map(|&(d, c)| {
                let f = per_gamma(r, d, self.gammas, |i| r.certified[i]).into_iter().filter_map(|(g, v)| {
                    let v: Vec<f64> = v.into_iter().filter(|v| v.is_finite()).collect();
                    (!v.is_empty()).then(|| (g, v.iter().sum::<f64>() / v.len() as f64))
                });
                (d, c, f.collect::<Vec<_>>())
            })
            .collect();
        certified_chart(&right, self.gammas, &certified)
    }
}

fn certified_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    gammas: &[f64],
    lines: &[Line],
) -> anyhow::Result<()> {
    let (g0, g1) = (gammas.iter().copied().fold(f64::INFINITY, f64::min), gammas.iter().copied().fold(0.0, f64::max));
    let mut chart = ChartBuilder::on(area)
        .caption("fraction of steps certified", label_font())
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d((g0 / 2.0..g1 * 2.0).log_scale(), -0.02..1.05)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("prox step γ (log scale)")
        .y_desc("certified fraction")
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .label_style(tick_font())
        .axis_desc_style(tick_font())
        .draw()
        .map_err(plot_err)?;
    for (i, (d, c, pts)) in lines.iter().enumerate() {
        let (c, dashed) = (*c, i == 1);
        let pts = pts.clone();
        if dashed {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 9, 5, c.stroke_width(3))).map_err(plot_err)?;
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(3))).map_err(plot_err)?;
        }
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 5, c.filled())))
            .map_err(plot_err)?
            .label(d.to_string())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
    }
    style::legend(&mut chart, SeriesLabelPosition::LowerLeft, tick_font())
}

/// 4. The distance from the seed's GD iterate to the polished (true local) prox step, per γ.
struct Polished<'a> {
    stage: &'a str,
    rows: &'a Rows,
}

impl Figure for Polished<'_> {
    fn name(&self) -> String {
        format!("{}_polished_distance", self.stage)
    }

    fn caption(&self) -> String {
        "Distance sqrt((1/m) Σ‖V_i − P_i‖²) from the seed's GD iterate V to the exact local prox step P polished from \
         it, at every prox step against γ (zeros drawn at 1e-16), per distance."
            .into()
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let r = self.rows;
        let gammas = gammas([r].into_iter());
        let groups: Vec<_> = DISTANCES
            .iter()
            .filter(|(d, _)| r.distance.iter().any(|x| x == d))
            .map(|&(d, c)| (d, c, per_gamma(r, d, &gammas, |i| r.polished[i])))
            .collect();
        let title = format!("{}: GD iterate to polished prox step ({} seeds)", self.stage, r.seeds());
        strip_chart(root, &title, "polished distance (log)", &groups)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn band_gives_the_quantiles_of_the_finite_values_floored() {
        let values: Vec<f64> = (1..=11).map(f64::from).chain([f64::NAN]).collect();
        let b = super::band([(0.5, values), (0.1, vec![0.0, f64::INFINITY]), (0.2, vec![f64::NAN])].into_iter());
        // 0.1 sorts first; the all-NaN group is dropped; 1..=11 has 10 %, 50 %, 90 % at 2, 6, 10.
        assert_eq!(b, vec![(0.1, super::FLOOR, super::FLOOR, super::FLOOR), (0.5, 2.0, 6.0, 10.0)]);
    }
}
