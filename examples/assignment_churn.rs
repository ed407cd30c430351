//! How often the optimal assignment changes inside the Wasserstein prox steps of one E4 run
//! (the evidence behind docs/PERFORMANCE.md, "Why an exact per-iteration assignment cannot make
//! the sweep much faster"):
//!
//!     cargo run --release --example assignment_churn -- GAMMA SEED [INNER_ITERATIONS]
//!
//! Per prox step: rows whose σ(i) changes per inner iteration, distinct σ seen, the
//! certificate's augmenting paths, their row scans and full row checks per iteration, seconds
//! (these include the observer's own bookkeeping, ≈ 0.1 µs per iteration: solver times come from
//! `cargo bench --bench reference`).

use std::collections::HashSet;
use std::time::Instant;

use wgf::experiments::prox_sweep::ProxSweepParams;
use wgf::numerics::model::{gaussian_init, Data, ReluNet, ReluProblem};
use wgf::numerics::prox::{InnerObserver, InnerStopping, ProxConfig, ProxDistance, ProxSolver};

/// Counts changed rows and distinct assignments over one inner solve.
#[derive(Default)]
struct Churn {
    previous: Vec<usize>,
    changed_rows: u64,
    distinct: HashSet<Vec<usize>>,
}

/// Distinct assignments are counted up to this many (memory bound).
const DISTINCT_CAP: usize = 1_000_000;

impl InnerObserver for Churn {
    fn observe(&mut self, _iteration: u64, _v: &[f64], sigma: &[usize]) {
        if !self.previous.is_empty() {
            self.changed_rows += sigma.iter().zip(&self.previous).filter(|(a, b)| a != b).count() as u64;
        }
        self.previous.clear();
        self.previous.extend_from_slice(sigma);
        if self.distinct.len() < DISTINCT_CAP {
            self.distinct.insert(sigma.to_vec());
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: assignment_churn GAMMA SEED [INNER_ITERATIONS]";
    let (gamma, seed): (f64, u64) = match (args.first(), args.get(1)) {
        (Some(g), Some(s)) => (g.parse()?, s.parse()?),
        _ => anyhow::bail!(usage),
    };
    let inner: u64 = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    // The `prox_sweep` stage's defaults (METHODS.md §2 E4), as the pipeline resolves them.
    let p: ProxSweepParams = serde_json::from_value(serde_json::json!({
        "gamma": gamma, "distance": "wasserstein", "seed": seed, "inner_iterations": inner
    }))?;
    let (m, steps) = (p.m as usize, p.steps as usize);
    let data = Data::sine(p.n_data as usize);
    let net = ReluNet::alternating(m, p.scaling.into(), p.loss_norm.into());
    let problem = ReluProblem::new(&net, &data)?;
    let mut config = ProxConfig::new(gamma, ProxDistance::Wasserstein);
    config.stopping = InnerStopping::Iterations(inner);
    let mut solver = ProxSolver::new(&problem, config)?;
    let mut w = gaussian_init(m, data.d(), p.init_scale, seed);
    println!("γ = {gamma}, seed {seed}, {inner} inner iterations per step");
    println!("step  rows changed/it  distinct σ  augmentations/it  scans/it  full checks/it  seconds");
    for t in 1..=steps {
        let mut churn = Churn::default();
        let clock = Instant::now();
        let outcome = solver.prox_step(w.view(), t, &mut churn)?;
        let (r, per_it) = (&outcome.report, |x: u64| x as f64 / inner.max(1) as f64);
        println!(
            "{t:4}  {:15.1}  {:10}  {:16.2}  {:8.1}  {:14.1}  {:7.2}",
            per_it(churn.changed_rows),
            churn.distinct.len(),
            per_it(r.augmentations),
            per_it(r.augmenting_scans),
            per_it(r.exact_checks),
            clock.elapsed().as_secs_f64()
        );
        w = outcome.w;
    }
    Ok(())
}
