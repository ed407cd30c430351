//! Progress reporting: an indicatif bar on a terminal, one plain line per finished point otherwise (logs, CI).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a point ended, for the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointOutcome {
    Ran,
    Failed,
}

/// The bar of `total` points shared by the local runner and the Slurm waiter (stderr, ticking).
pub fn points_bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} points {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

pub struct Progress {
    bar: Option<ProgressBar>,
    done: Mutex<(usize, usize)>,
    quiet: bool,
}

impl Progress {
    /// `total` points will run. `quiet` silences per-point lines (the summary is still printed by the caller).
    pub fn new(total: usize, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal() && total > 0).then(|| points_bar(total));
        Progress { bar, done: Mutex::new((0, total)), quiet }
    }

    pub fn started(&self, stage: &str, label: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{stage} {label}"));
        }
    }

    /// Progress inside one point (from the experiment), shown on the bar's message line.
    pub fn point(&self, stage: &str, label: &str, fraction: f64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{stage} {label} {:.0}%", 100.0 * fraction.clamp(0.0, 1.0)));
        }
    }

    pub fn finished(&self, stage: &str, label: &str, outcome: PointOutcome, seconds: f64, detail: &str) {
        let (n, total) = {
            let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
            d.0 += 1;
            *d
        };
        let word = match outcome {
            PointOutcome::Ran => "done",
            PointOutcome::Failed => "FAILED",
        };
        let line = format!("[{n}/{total}] {stage} {label}: {word} in {seconds:.2} s{detail}");
        match &self.bar {
            Some(bar) => {
                if outcome == PointOutcome::Failed {
                    bar.println(line);
                }
                bar.inc(1);
            }
            None if !self.quiet => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
