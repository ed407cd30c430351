//! SPEC §5 exact prox steps (§1b) on the E4 reference problem: m = 50, n = 5 sine, d = 2, init N(0, (1e-2)²),
//! seed 0, 10 prox steps per γ, γ = 1 … 1e-5, one core. Medians per step of the exact local step (Frobenius and
//! Wasserstein) and the certified global step, then the whole E4 grid (6 γ × 2 distances × 10 seeds) with exact
//! local steps. `cargo bench --bench exact` (or `make bench`). `WGF_BENCH_REPS` sets the repetitions of each
//! local path (default 20); global paths run once (they take up to seconds).

use std::time::Instant;

use ndarray::Array2;
use wgf::numerics::exact::{exact_prox_step, ExactProxConfig, ExactSolver, ExactWorkspace};
use wgf::numerics::model::{gaussian_init, Data, LossNorm, ReluNet, ReluProblem, Scaling};
use wgf::numerics::prox::ProxDistance;

const GAMMAS: [f64; 6] = [1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5];

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let k = xs.len();
    if k == 0 {
        f64::NAN
    } else if k % 2 == 1 {
        xs[k / 2]
    } else {
        0.5 * (xs[k / 2 - 1] + xs[k / 2])
    }
}

/// Seconds of each of the 10 steps of one path, the final loss and how many steps were certified.
fn path(problem: &ReluProblem, cfg: &ExactProxConfig, seed: u64, ws: &mut ExactWorkspace) -> (Vec<f64>, f64, usize) {
    let mut w: Array2<f64> = gaussian_init(50, 2, 1e-2, seed);
    let (mut times, mut certified) = (vec![], 0);
    for _ in 0..10 {
        let clock = Instant::now();
        let r = exact_prox_step(problem, w.view(), cfg, ws).expect("exact step");
        times.push(clock.elapsed().as_secs_f64());
        certified += usize::from(r.certified);
        w = r.v;
    }
    (times, problem.net().loss(problem.data(), w.view()), certified)
}

/// Median µs per step over every γ (and per γ), `reps` repetitions of each path.
fn steps(problem: &ReluProblem, distance: ProxDistance, solver: ExactSolver, reps: usize) -> f64 {
    let mut ws = ExactWorkspace::new();
    let mut all = vec![];
    let mut line = String::new();
    for gamma in GAMMAS {
        let cfg = ExactProxConfig::new(gamma, distance, solver);
        let mut times = vec![];
        let (mut loss, mut certified) = (0.0, 0);
        for _ in 0..reps {
            let (t, l, c) = path(problem, &cfg, 0, &mut ws);
            (loss, certified) = (l, c);
            times.extend(t);
        }
        let med = median(times.clone()) * 1e6;
        line += &format!("  γ={gamma:<6} {med:9.1} µs ({certified}/10 cert., loss {loss:.2e})\n");
        all.extend(times);
    }
    let med = median(all) * 1e6;
    println!(
        "{:<11} {:<6} median {:10.1} µs/step over 60 steps\n{line}",
        format!("{distance:?}"),
        format!("{solver:?}"),
        med
    );
    med
}

/// Seconds of the whole E4 grid with exact local steps on one core (median of `reps` runs).
fn grid(problem: &ReluProblem, reps: usize) -> f64 {
    let mut ws = ExactWorkspace::new();
    let runs: Vec<f64> = (0..reps)
        .map(|_| {
            let clock = Instant::now();
            for gamma in GAMMAS {
                for distance in [ProxDistance::Frobenius, ProxDistance::Wasserstein] {
                    let cfg = ExactProxConfig::new(gamma, distance, ExactSolver::Local);
                    for seed in 0..10 {
                        path(problem, &cfg, seed, &mut ws);
                    }
                }
            }
            clock.elapsed().as_secs_f64()
        })
        .collect();
    median(runs)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("exact bench: skipped (run `cargo bench --bench exact`)");
        return;
    }
    let reps: usize = std::env::var("WGF_BENCH_REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let net = ReluNet::alternating(50, Scaling::Sum, LossNorm::Mse);
    let data = Data::sine(5);
    let problem = ReluProblem::new(&net, &data).expect("problem");
    println!("SPEC §5 exact prox steps: m = 50, n = 5, seed 0, 10 steps per γ, one core");
    let rows = [
        ("exact local Frobenius", steps(&problem, ProxDistance::Frobenius, ExactSolver::Local, reps), 25.0),
        ("exact local Wasserstein", steps(&problem, ProxDistance::Wasserstein, ExactSolver::Local, reps), 300.0),
        ("certified global Frobenius", steps(&problem, ProxDistance::Frobenius, ExactSolver::Global, 1), 5000.0),
        ("certified global Wasserstein", steps(&problem, ProxDistance::Wasserstein, ExactSolver::Global, 1), 50000.0),
    ];
    let grid_seconds = grid(&problem, 3);
    println!("{:<30} {:>14} {:>12}", "mode", "median", "goal");
    for (name, us, goal) in rows {
        println!("{name:<30} {us:>11.1} µs {goal:>9.0} µs");
    }
    println!("{:<30} {:>12.3} s {:>10.1} s", "E4 grid, exact local (1 core)", grid_seconds, 1.0);
}
