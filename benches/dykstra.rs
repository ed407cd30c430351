//! Times one Dykstra iteration of the entropic JKO step (two kernel applications per copy,
//! two sign copies, one ReLU KL prox) on a 200 × 200 grid, and one kernel application.
//! Run: `cargo bench --bench dykstra` (or `make bench`). Medians over repeats, one thread.
//! `STD0=0.02` (env) sets the std of the initial Gaussians (default 0.3): narrow ones
//! exercise the kernel's exact fallback at small ε.

use std::time::Instant;

use ndarray::Array2;
use wgf::numerics::ot::gibbs::GibbsKernel;
use wgf::numerics::ot::grid::{gaussian_density, sine_data, stack_copies, Grid2d, ReluFeatures};
use wgf::numerics::ot::jko::{jko_step, DykstraIteration, JkoOptions, WarmStart};
use wgf::numerics::ot::kl_prox::{Objective, ReluLeastSquares};
use wgf::numerics::ot::OtError;

/// The naive separable log-domain kernel: exact log-sum-exp with one `exp` per term
/// (16 M `exp` on 200 × 200), the baseline the stabilised product replaces.
fn naive_apply_log(x: &[f64], eps: f64, log_u: &Array2<f64>) -> Array2<f64> {
    let n = x.len();
    let lse_1d = |u: &[f64], j: usize| {
        let terms: Vec<f64> = (0..n).map(|l| u[l] - (x[j] - x[l]).powi(2) / eps).collect();
        let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
    };
    let pass = |u: &Array2<f64>| {
        Array2::from_shape_fn((n, n), |(r, j)| {
            let row: Vec<f64> = u.row(r).to_vec();
            lse_1d(&row, j)
        })
    };
    let along_b = pass(log_u);
    pass(&along_b.t().to_owned()).t().to_owned()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median wall time of `f` in µs over `repeats` calls.
fn time_us(repeats: usize, mut f: impl FnMut() -> Result<(), OtError>) -> Result<f64, OtError> {
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(median(times))
}

fn main() -> Result<(), OtError> {
    // `cargo test --all-targets` runs bench binaries without `--bench`: keep that a quick smoke run.
    if !std::env::args().any(|a| a == "--bench") {
        println!("dykstra bench: skipped (run `cargo bench --bench dykstra`)");
        return Ok(());
    }
    let n = 200;
    let grid = Grid2d::new(n, n, 2.0)?;
    let h = grid.spacing_w();
    let (x, y) = sine_data(5)?;
    let f = ReluLeastSquares::new(ReluFeatures::new(&grid, &x)?, y)?;
    let std0: f64 = std::env::var("STD0").ok().and_then(|s| s.parse().ok()).unwrap_or(0.3);
    let plus = gaussian_density(&grid, (0.3, 0.1), std0, 0.5)?;
    let minus = gaussian_density(&grid, (-0.2, 0.2), std0, 0.5)?;
    let p0 = stack_copies(&[plus.view(), minus.view()])?;
    let tau = 0.1;
    println!("grid {n} x {n}, R = 2, h = {h:.4}, two sign copies, n = 5 sine data, tau = {tau}");
    {
        let x = grid.w_coords().to_vec();
        let zeros = Array2::<f64>::zeros(grid.shape());
        let t_naive = time_us(3, || {
            std::hint::black_box(naive_apply_log(&x, 1e-2, &zeros));
            Ok(())
        })?;
        println!("naive separable log-sum-exp kernel application (eps = 1e-2): {t_naive:.0} us");
    }
    for (label, eps) in [("2h^2", 2.0 * h * h), ("1e-2", 1e-2), ("5e-2", 5e-2)] {
        let kernel = GibbsKernel::new(&grid, eps)?;
        let opts = JkoOptions { tau, tol: 1e-9, max_iter: 100_000 };
        let zeros = Array2::<f64>::zeros(grid.shape());
        let t_kernel_ones = time_us(21, || kernel.apply_log(zeros.view()).map(|_| ()))?;
        // A hard input: the log of a Gaussian one cell wide (log-range ≈ 4e4).
        let narrow = gaussian_density(&grid, (0.3, 0.1), h, 1.0)?.mapv(f64::ln);
        let t_kernel_narrow = time_us(21, || kernel.apply_log(narrow.view()).map(|_| ()))?;
        let (_, fallbacks_narrow) = kernel.apply_log_counted(narrow.view())?;

        let mut state = DykstraIteration::new(&kernel, &f, p0.view(), &opts, &WarmStart::default())?;
        let mut warm = Vec::new();
        for _ in 0..3 {
            state.iterate(&mut warm)?;
        }
        let t_iter = time_us(21, || state.iterate(&mut warm).map(|_| ()))?;
        let log_b = state.scalings().1[0].clone();
        let t_kernel_b = time_us(21, || kernel.apply_log(log_b.view()).map(|_| ()))?;
        let (_, fallbacks) = kernel.apply_log_counted(log_b.view())?;
        let log_a = state.scalings().0[0].clone();
        let (_, fallbacks_a) = kernel.apply_log_counted(log_a.view())?;
        let xi_b = state.scalings().1.iter().map(|b| kernel.apply_log(b.view())).collect::<Result<Vec<_>, _>>()?;
        let views: Vec<_> = xi_b.iter().map(|x| x.view()).collect();
        let log_z = ndarray::stack(ndarray::Axis(0), &views).map_err(|e| OtError::InvalidInput(e.to_string()))?;
        let sigma = tau / eps;
        let t_prox = time_us(21, || f.kl_prox_log(log_z.view(), sigma, &mut warm.clone()).map(|_| ()))?;

        let start = Instant::now();
        let step = jko_step(&kernel, &f, p0.view(), &opts, &mut WarmStart::default())?;
        let t_step = start.elapsed().as_secs_f64();
        println!(
            "eps = {label:>5} ({eps:.2e}, eps/h^2 = {:.1}): one Dykstra iteration {:.0} us; \
             kernel application {:.0} us on log 1, {:.0} us on log b \
             (1-D outputs via fallback: {} on log b, {} on log a, of {}); warm KL prox {:.0} us; \
             kernel on log of a 1-cell Gaussian {:.0} us ({} fallbacks); \
             full JKO step to tol 1e-9: {} iterations, {:.2} s",
            eps / (h * h),
            t_iter,
            t_kernel_ones,
            t_kernel_b,
            fallbacks,
            fallbacks_a,
            2 * n * n,
            t_prox,
            t_kernel_narrow,
            fallbacks_narrow,
            step.iterations,
            t_step
        );
    }
    Ok(())
}
