//! Figures of E2 `three_point`: the neuron's fit at successive GD iterates, and the loss against the step.

use std::path::PathBuf;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{self, colour, label_font, log_floor, plot_err, tick_font, title_font, Figure};
use crate::results::{Results, StageInfo};
use crate::tables::{column_f64, column_str, StageTables};

/// One GD run (one λ) read back from the `iterates` table.
struct Run {
    lambda: f64,
    w: Vec<f64>,
    b: Vec<f64>,
    loss: Vec<f64>,
    pattern: Vec<String>,
}

/// The runs and the data points (x, y).
type RunsAndData = (Vec<Run>, Vec<(f64, f64)>);

fn runs(tables: &StageTables) -> anyhow::Result<RunsAndData> {
    let it = tables.get("iterates").context("missing table `iterates`")?;
    let (lambda, w, b, loss) =
        (column_f64(it, "lambda")?, column_f64(it, "w")?, column_f64(it, "b")?, column_f64(it, "loss")?);
    let pattern = column_str(it, "pattern")?;
    let mut runs: Vec<Run> = Vec::new();
    for r in 0..lambda.len() {
        if runs.last().is_none_or(|run| run.lambda != lambda[r]) {
            runs.push(Run { lambda: lambda[r], w: vec![], b: vec![], loss: vec![], pattern: vec![] });
        }
        let run = runs.last_mut().expect("pushed");
        run.w.push(w[r]);
        run.b.push(b[r]);
        run.loss.push(loss[r]);
        run.pattern.push(pattern[r].clone());
    }
    let data = tables.get("data").context("missing table `data`")?;
    let (x, y, dl) = (column_f64(data, "x")?, column_f64(data, "y")?, column_f64(data, "lambda")?);
    let first = dl.first().copied();
    let points = (0..x.len()).filter(|&i| Some(dl[i]) == first).map(|i| (x[i], y[i])).collect();
    Ok((runs, points))
}

pub fn draw(results: &Results, info: &StageInfo, out: &style::Output) -> anyhow::Result<Vec<PathBuf>> {
    let tables = results.tables(&info.name)?;
    let stage = info.name.as_str();
    let (runs, data) = runs(&tables)?;
    let mut files = style::render(&Fits { stage, runs: &runs, data: &data }, out)?;
    files.extend(style::render(&Loss { stage, runs: &runs }, out)?);
    Ok(files)
}

struct Fits<'a> {
    stage: &'a str,
    runs: &'a [Run],
    data: &'a [(f64, f64)],
}

/// Iterates shown per panel: the first few and the last.
const SHOWN: usize = 6;

impl Figure for Fits<'_> {
    fn name(&self) -> String {
        format!("{}_fits", self.stage)
    }

    fn size(&self) -> (u32, u32) {
        (500 * self.runs.len().clamp(1, 4) as u32, 620)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let (top, body) = root.split_vertically(60);
        top.titled("Three-point toy (E2): neuron output max(0, w·x + b) at GD iterates W^t", title_font())
            .map_err(plot_err)?;
        let panels = body.split_evenly((1, self.runs.len().max(1)));
        for (panel, run) in panels.iter().zip(self.runs) {
            self.panel(panel, run)?;
        }
        Ok(())
    }
}

impl Fits<'_> {
    fn panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, run: &Run) -> anyhow::Result<()> {
        let (y_lo, y_hi) = (-1.0, 12.0);
        let mut chart = ChartBuilder::on(area)
            .caption(format!("learning rate λ = {}", run.lambda), label_font())
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..4.5, y_lo..y_hi)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("input x")
            .y_desc("output f(x)")
            .label_style(tick_font())
            .axis_desc_style(label_font())
            .draw()
            .map_err(plot_err)?;
        let last = run.w.len() - 1;
        let steps: Vec<usize> = (0..=last.min(SHOWN - 1)).chain((last >= SHOWN).then_some(last)).collect();
        for (i, &t) in steps.iter().enumerate() {
            let line = (0..=200).map(|k| 4.5 * k as f64 / 200.0).map(|x| (x, (run.w[t] * x + run.b[t]).max(0.0)));
            let visible: Vec<(f64, f64)> = line.filter(|(_, y)| (y_lo..=y_hi).contains(y)).collect();
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(visible, c.stroke_width(2)))
                .map_err(plot_err)?
                .label(format!("t = {t}: active {}", run.pattern[t]))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        chart
            .draw_series(self.data.iter().map(|&(x, y)| Circle::new((x, y), 6, BLACK.filled())))
            .map_err(plot_err)?
            .label("data (x, 2x)")
            .legend(|(x, y)| Circle::new((x + 10, y), 5, BLACK.filled()));
        style::legend(&mut chart, SeriesLabelPosition::LowerRight, tick_font())
    }
}

struct Loss<'a> {
    stage: &'a str,
    runs: &'a [Run],
}

impl Figure for Loss<'_> {
    fn name(&self) -> String {
        format!("{}_loss", self.stage)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let steps = self.runs.iter().map(|r| r.loss.len()).max().unwrap_or(1).max(2) - 1;
        let (lo, hi) = log_floor(self.runs.iter().flat_map(|r| r.loss.iter().copied()), 1e-16);
        let mut chart = ChartBuilder::on(root)
            .caption("Three-point toy (E2): loss F(W^t) = (1/2n) Σ e_j² under GD", title_font())
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(0..steps, style::log_axis(lo, hi))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("GD step t")
            .y_desc("loss (half MSE, log scale)")
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .label_style(tick_font())
            .axis_desc_style(label_font())
            .draw()
            .map_err(plot_err)?;
        for (i, run) in self.runs.iter().enumerate() {
            let c = colour(i);
            let pts = run.loss.iter().enumerate().map(|(t, &l)| (t, l.max(1e-16)));
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(3)))
                .map_err(plot_err)?
                .label(format!("λ = {}", run.lambda))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        }
        style::legend(&mut chart, SeriesLabelPosition::UpperRight, label_font())
    }
}
