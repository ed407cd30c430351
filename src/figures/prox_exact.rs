//! Figures of E4x (issue 18, item 4): the seed's inner GD against exact local and certified global prox steps.
//! Figures 1–3 compare stages and are drawn with the global stage `prox_exact_global`; a solver whose stage has no
//! results is left out of them. Figure 4 is drawn with any gd stage whose steps carry `polished_distance`.

use std::path::PathBuf;

use plotters::coord::Shift;
use plotters::prelude::*;
use polars::prelude::DataFrame;

use super::prox_sweep::{final_loss_chart, gamma_label, quantile, DISTANCES};
use super::style::{self, label_font, plot_err, tick_font, Figure};
use crate::results::{Results, StageInfo};
use crate::tables::{column_f64, column_str};

/// (inner_solver, label, colour) of the three inner solvers, in the order of issue 18.
const SOLVERS: [(&str, &str, RGBColor); 3] = [
    ("gd", "gd", RGBColor(0x7f, 0x7f, 0x7f)),
    ("exact_local", "exact local", RGBColor(0x2c, 0xa0, 0x2c)),
    ("exact_global", "exact global", RGBColor(0x94, 0x67, 0xbd)),
];
/// Gaps and distances at or below this are drawn at it, so exact zeros stay on the log axis.
const FLOOR: f64 = 1e-16;

/// The columns of a `steps` table these figures use; a column absent from an older table reads as NaN.
pub struct Rows {
    seed: Vec<f64>,
    distance: Vec<String>,
    gamma: Vec<f64>,
    step: Vec<f64>,
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

/// One source stage of a `prox_compare` stage: its solver's label and colour, its seed count and its rows.
pub struct Source {
    label: &'static str,
    colour: RGBColor,
    seeds: usize,
    /// (distance, γ, step, 10 %, 50 %, 90 %) of the loss over seeds.
    quantiles: Vec<(String, f64, f64, f64, f64, f64)>,
    /// (distance, γ, final loss) per seed.
    finals: Vec<(String, f64, f64)>,
}

fn solver_style(solver: &str, k: usize) -> (&'static str, RGBColor) {
    SOLVERS.iter().find(|s| s.0 == solver).map_or(("other solver", style::colour(k)), |s| (s.1, s.2))
}

/// The sources of a `prox_compare` stage, in the order its tables list them.
fn compare_sources(results: &Results, stage: &str) -> anyhow::Result<Vec<Source>> {
    let q = results.table(stage, "loss_quantiles")?;
    let (src, solver, dist) = (column_str(&q, "source")?, column_str(&q, "inner_solver")?, column_str(&q, "distance")?);
    let (gamma, step) = (column_f64(&q, "gamma")?, column_f64(&q, "step")?);
    let (q10, q50, q90) = (column_f64(&q, "loss_q10")?, column_f64(&q, "loss_median")?, column_f64(&q, "loss_q90")?);
    let f = results.table(stage, "final_loss")?;
    let (f_src, f_dist, f_gamma) = (column_str(&f, "source")?, column_str(&f, "distance")?, column_f64(&f, "gamma")?);
    let (f_seed, f_loss) = (column_f64(&f, "seed")?, column_f64(&f, "final_loss")?);
    let mut names: Vec<&String> = src.iter().collect();
    names.dedup();
    let mut out = Vec::new();
    for (k, name) in names.into_iter().enumerate() {
        let first = src.iter().position(|s| s == name).unwrap_or(0);
        let (label, colour) = solver_style(&solver[first], k);
        let rows = (0..src.len()).filter(|&r| src[r] == *name);
        let quantiles = rows.map(|r| (dist[r].clone(), gamma[r], step[r], q10[r], q50[r], q90[r])).collect();
        let f_rows: Vec<usize> = (0..f_src.len()).filter(|&r| f_src[r] == *name).collect();
        let finals = f_rows.iter().map(|&r| (f_dist[r].clone(), f_gamma[r], f_loss[r])).collect();
        let mut seeds: Vec<u64> = f_rows.iter().map(|&r| f_seed[r] as u64).collect();
        seeds.sort_unstable();
        seeds.dedup();
        out.push(Source { label, colour, seeds: seeds.len(), quantiles, finals });
    }
    Ok(out)
}

/// Figures 3 (with a stage of certified global steps) and 4 (with a gd stage carrying polished distances).
pub fn draw(info: &StageInfo, rows: &Rows, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if rows.polished.iter().any(|v| v.is_finite()) {
        files.extend(style::render(&Polished { stage: &info.name, rows }, out)?);
    }
    if rows.gap.iter().any(|v| v.is_finite()) {
        let gammas = gammas([rows].into_iter());
        files.extend(style::render(&Gaps { stage: &info.name, rows, gammas: &gammas }, out)?);
    }
    Ok(files)
}

/// Figures 1 and 2, drawn with a `prox_compare` stage from its tables alone, so they are stale exactly when it is.
pub fn draw_compare(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let sources = compare_sources(results, &info.name)?;
    let mut gammas: Vec<f64> = sources.iter().flat_map(|s| s.quantiles.iter().map(|q| q.1)).collect();
    gammas.sort_by(|a, b| b.total_cmp(a));
    gammas.dedup();
    let stage = info.name.as_str();
    let mut files = style::render(&LossPanels { stage, sources: &sources, gammas: &gammas }, out)?;
    files.extend(style::render(&FinalLoss { stage, sources: &sources }, out)?);
    Ok(files)
}

/// One column per solver (`width` px apart, from x = 40), one row per distance: solid Frobenius, dashed
/// Wasserstein, with each solver's seed count.
fn solver_legend(
    area: &DrawingArea<impl DrawingBackend, Shift>,
    sources: &[Source],
    width: i32,
    font: TextStyle,
) -> anyhow::Result<()> {
    for (k, s) in sources.iter().enumerate() {
        let x = 40 + width * k as i32;
        for (i, (d, dashed)) in [("Frobenius", false), ("Wasserstein", true)].into_iter().enumerate() {
            let style = s.colour.stroke_width(3);
            let y = 18 + 30 * i as i32;
            if dashed {
                area.draw(&PathElement::new(vec![(x, y), (x + 12, y)], style)).map_err(plot_err)?;
                area.draw(&PathElement::new(vec![(x + 20, y), (x + 32, y)], style)).map_err(plot_err)?;
            } else {
                area.draw(&PathElement::new(vec![(x, y), (x + 32, y)], style)).map_err(plot_err)?;
            }
            let text = format!("{}, {d} ({} seed{})", s.label, s.seeds, if s.seeds == 1 { "" } else { "s" });
            area.draw(&Text::new(text, (x + 40, y - 10), font.clone())).map_err(plot_err)?;
        }
    }
    Ok(())
}

/// 1. Per γ, the loss against the prox step for the three solvers and both distances.
struct LossPanels<'a> {
    stage: &'a str,
    sources: &'a [Source],
    gammas: &'a [f64],
}

impl Figure for LossPanels<'_> {
    fn name(&self) -> String {
        format!("{}_loss_panels", self.stage)
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
        // Six entries do not fit on one line of a 1860 px figure: one column per solver.
        solver_legend(&legend, self.sources, 600, label_font())?;
        let areas = body.split_evenly((self.gammas.len().div_ceil(3), self.gammas.len().min(3)));
        for (area, &g) in areas.iter().zip(self.gammas) {
            loss_panel(area, self.sources, g)?;
        }
        Ok(())
    }
}

fn loss_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, sources: &[Source], g: f64) -> anyhow::Result<()> {
    let mut bands = Vec::new();
    let mut last = 1.0f64;
    for s in sources {
        for (i, (d, _)) in DISTANCES.iter().enumerate() {
            let mut b: Band = s
                .quantiles
                .iter()
                .filter(|q| q.0 == *d && q.1 == g)
                .map(|q| (q.2, q.3.max(FLOOR), q.4.max(FLOOR), q.5.max(FLOOR)))
                .collect();
            b.sort_by(|x, y| x.0.total_cmp(&y.0));
            last = b.iter().map(|q| q.0).fold(last, f64::max);
            bands.push((s.colour, i == 1, b));
        }
    }
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
    stage: &'a str,
    sources: &'a [Source],
}

impl Figure for FinalLoss<'_> {
    fn name(&self) -> String {
        format!("{}_final_loss", self.stage)
    }

    fn caption(&self) -> String {
        "Final loss after the last prox step against γ for the seed's inner GD, exact local and certified global \
         steps, Frobenius (solid) and Wasserstein (dashed): median and 10–90 % band over seeds."
            .into()
    }

    fn size(&self) -> (u32, u32) {
        (1300, 820)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let mut bands = Vec::new();
        for s in self.sources {
            let mut gs: Vec<f64> = s.finals.iter().map(|f| f.1).collect();
            gs.sort_by(f64::total_cmp);
            gs.dedup();
            for (i, (d, _)) in DISTANCES.iter().enumerate() {
                let per_gamma = gs.iter().map(|&g| {
                    (g, s.finals.iter().filter(|f| f.0 == *d && f.1 == g).map(|f| f.2).collect::<Vec<f64>>())
                });
                bands.push((s.colour, i == 1, band(per_gamma)));
            }
        }
        let (lo, hi) = style::log_floor(bands.iter().flat_map(|b| b.2.iter().flat_map(|q| [q.1, q.3])), FLOOR);
        let xs = || bands.iter().flat_map(|b| b.2.iter().map(|q| q.0));
        let (g0, g1) = (xs().fold(f64::INFINITY, f64::min).min(1.0), xs().fold(0.0, f64::max).max(1e-5));
        // The legend sits above the plot: inside it covered the γ = 1 end of the curves.
        let (top, plot) = root.split_vertically(140);
        let (title, legend) = top.split_vertically(60);
        let caption = "E4x: final loss against γ per inner solver, median and 10–90 % band";
        title.titled(caption, (style::FONT, 22)).map_err(plot_err)?;
        solver_legend(&legend, self.sources, 420, tick_font())?;
        let mut chart = final_loss_chart(&plot, None, (g0, g1), (lo, hi))?;
        for (c, dashed, b) in &bands {
            draw_band(&mut chart, b, *c, *dashed)?;
        }
        Ok(())
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
    stage: &'a str,
    rows: &'a Rows,
    gammas: &'a [f64],
}

impl Figure for Gaps<'_> {
    fn name(&self) -> String {
        format!("{}_gaps", self.stage)
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
