//! Cost of the E7 family (docs/METHODS.md E7's proposed parameters) from one run of each figure's GD,
//! with the quantities the findings will quote (η, losses, knot-clustering score, δ drift):
//!
//!     cargo run --release --example williams_cost
//!
//! Single-threaded; seconds are this thread's CPU time (the machine may be shared).

/// CPU seconds of this thread (the machine is shared: wall time would count the neighbours).
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the valid pointer it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + 1e-9 * t.tv_nsec as f64
}

/// A CPU-time stopwatch.
struct Instant(f64);

impl Instant {
    fn now() -> Instant {
        Instant(cpu_seconds())
    }

    fn elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(cpu_seconds() - self.0)
    }
}

use wgf::numerics::model::Data;
use wgf::numerics::williams::*;

/// One GD run from the PyTorch-style init set to δ, step η (default 0.5/λ_max(Θ) at the start): prints η, L(0), L(end), the clustering score
/// and the max δ drift; returns seconds.
fn run(label: &str, data: &Data, m: usize, delta: f64, steps: usize, eta: Option<f64>) -> f64 {
    let clock = Instant::now();
    let (start, trained) = prepare(&pytorch_init(m, 1).expect("init"), delta).expect("prepare");
    let problem = WilliamsProblem::new(data, m, Normalisation::SqrtM, trained).expect("problem");
    let eta = eta.unwrap_or_else(|| ntk_step_size(&problem, &start, 0.5).expect("eta"));
    let out = train(&problem, &start, eta, steps, |_, _| {}).expect("train");
    let seconds = clock.elapsed().as_secs_f64();
    let xs = problem.inputs();
    let score = knot_clustering_score(&start, &out.neurons, xs, 0.02, 0.01).expect("score");
    let drift = start.delta().iter().zip(out.neurons.delta()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    println!(
        "{label:<28} m={m:<5} δ={delta:<5} η={eta:<10.4e} L0={:<9.3e} L={:<9.3e} score={:<6} δ-drift={drift:.1e} {seconds:.3} s",
        out.losses[0],
        out.losses[steps],
        score.map_or("-".into(), |s| format!("{s:.3}")),
    );
    seconds
}

fn main() {
    let sine10 = Data::sine(10);
    let square10 = square_wave_data(&linspace(-1.0, 1.0, 10));
    let mut total = 0.0;
    total += run_natural("fig1 sine", &sine10, 50, 1000);
    let clock = Instant::now();
    for delta in [-10.0, 0.0, 10.0] {
        for k in 0..100 {
            let angle = 2.0 * std::f64::consts::PI * k as f64 / 100.0;
            local_trajectory(delta, (angle.cos(), angle.sin()), (1.0, 0.0), 1e-3, 1000);
        }
    }
    let fig2 = clock.elapsed().as_secs_f64();
    println!("fig2 trajectories {fig2:.3} s");
    let clock = Instant::now();
    let grid = linspace(-2.0, 2.0, 1001);
    for law in [FeatureLaw::Uniform, FeatureLaw::Gaussian] {
        let n = init_neurons(25_000, law, 1.0 / 25_000.0, 1).expect("init");
        tangent_kernel_terms(&n, Normalisation::SqrtM, 0.5, &grid).expect("terms");
    }
    let fig3 = clock.elapsed().as_secs_f64();
    println!("fig3 kernel slices {fig3:.3} s");
    let clock = Instant::now();
    let xs = linspace(-0.9, 0.9, 10);
    let ys = square_wave_data(&xs).y.to_vec();
    let spline = CubicSpline::natural(&xs, &ys).expect("spline");
    for (m, seed) in [10, 100, 1000, 10_000, 100_000].into_iter().flat_map(|m| (1..=3).map(move |s| (m, s))) {
        let features = init_neurons(m, FeatureLaw::Uniform, 0.0, seed).expect("init");
        let fit = min_norm_output_fit(&features, Normalisation::SqrtM, &xs, &ys).expect("fit");
        let g = linspace(-0.9, 0.9, 2001);
        let f = fit.evaluate(Normalisation::SqrtM, &g);
        let sup = g.iter().zip(&f).map(|(&t, v)| (v - spline.evaluate(t)).abs()).fold(0.0, f64::max);
        println!("fig4 min-norm m={m:<6} seed {seed} sup|f − S| on [x1, xs] = {sup:.4}");
    }
    let fig4 = clock.elapsed().as_secs_f64();
    println!("fig4 min-norm fits (3 seeds, incl. m = 1e5) {fig4:.3} s");
    total += fig2 + fig3 + fig4;
    for delta in [f64::NEG_INFINITY, -10.0, -1.0, 0.0, 1.0, 10.0, f64::INFINITY] {
        total += run("fig5 sine δ sweep", &sine10, 1000, delta, 10_000, None);
    }
    for eta in [0.01, 0.001] {
        run("fig5 δ = 0 with a fixed η", &sine10, 1000, 0.0, 10_000, Some(eta));
    }
    for delta in [f64::NEG_INFINITY, f64::INFINITY] {
        total += run("fig6 square ±∞", &square10, 1000, delta, 10_000, None);
    }
    for delta in [-10.0, 10.0] {
        total += run("fig7 same init", &sine10, 1000, delta, 10_000, None);
    }
    let sine20 = Data::sine(20);
    for m in [20, 200, 2000] {
        let natural = pytorch_init(m, 1).expect("init").delta().iter().sum::<f64>() / m as f64;
        println!(
            "fig8 m={m}: mean δ at init {natural:.6} (1/(3m²) − 2/3 = {:.6})",
            1.0 / (3.0 * (m * m) as f64) - 2.0 / 3.0
        );
        total += run_natural("fig8 pytorch init", &sine20, m, 10_000);
    }
    total += run("fig9 square +∞ 1000 steps", &square10, 1000, f64::INFINITY, 1000, None);
    println!("total {total:.2} s single-threaded");
}

/// As [`run`] but from the PyTorch-style init as drawn (all of a, b, c trained, δ_i as they come).
fn run_natural(label: &str, data: &Data, m: usize, steps: usize) -> f64 {
    let clock = Instant::now();
    let start = pytorch_init(m, 1).expect("init");
    let problem = WilliamsProblem::new(data, m, Normalisation::SqrtM, Trained::All).expect("problem");
    let eta = ntk_step_size(&problem, &start, 0.5).expect("eta");
    let out = train(&problem, &start, eta, steps, |_, _| {}).expect("train");
    let seconds = clock.elapsed().as_secs_f64();
    let score = knot_clustering_score(&start, &out.neurons, problem.inputs(), 0.02, 0.01).expect("score");
    println!(
        "{label:<28} m={m:<5} η={eta:<10.4e} L0={:<9.3e} L={:<9.3e} score={} {seconds:.3} s",
        out.losses[0],
        out.losses[steps],
        score.map_or("-".into(), |s| format!("{s:.3}"))
    );
    seconds
}
