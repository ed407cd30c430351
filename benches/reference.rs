//! METHODS.md §5 reference run: m = 50, n = 5 sine, d = 2, init N(0, (1e-2)²), 10 prox steps × 10^6 inner iterations,
//! one core, both distances, γ = 1e-2 and 1; then, in the same run, the numpy + scipy peer of the same inner loop
//! (benches/peers/prox_peer.py, fewer iterations) and the ratio per inner iteration.
//!
//! `cargo bench --bench reference` (or `make bench`, which also creates the peer's venv).
//! `WGF_BENCH_INNER` overrides the inner iterations per prox step (default 10^6); `WGF_BENCH_SWEEP=1` also times
//! the whole E4 sweep (6 γ × 2 distances × 10 seeds) on all cores, through the same code as the pipeline.

use std::process::Command;
use std::time::Instant;

use wgf::experiments::prox_sweep::{run_prox_path, ProxSweepParams};
use wgf::pipeline::runner::parallel_map;

fn params(gamma: f64, distance: &str, seed: u64, inner: u64) -> ProxSweepParams {
    serde_json::from_value(serde_json::json!({
        "gamma": gamma, "distance": distance, "seed": seed, "inner_iterations": inner
    }))
    .expect("valid parameters")
}

/// Seconds of one reference run.
fn reference_run(gamma: f64, distance: &str, inner: u64) -> f64 {
    let clock = Instant::now();
    let run = run_prox_path(&params(gamma, distance, 0, inner), &|_| {}).expect("reference run");
    let seconds = clock.elapsed().as_secs_f64();
    let last = run.reports.last().map_or(f64::NAN, |r| r.loss);
    println!(
        "  ours  {distance:<11} γ = {gamma:<5} {seconds:7.2} s  {:8.0} ns/iteration  final loss {last:.3e}",
        seconds * 1e9 / (10.0 * inner as f64)
    );
    seconds
}

/// µs per inner iteration of the peer for [frobenius, wasserstein], if its venv exists.
fn peer(gamma: f64) -> Option<[f64; 2]> {
    let python = std::env::var("WGF_PEER_PYTHON").unwrap_or_else(|_| "benches/peers/.venv/bin/python".into());
    let out = Command::new(&python)
        .args(["benches/peers/prox_peer.py", "--inner", "10000", "--gamma", &gamma.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let us = |name: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split("us_per_iter=").nth(1)?.split_whitespace().next()?.parse().ok()
    };
    Some([us("frobenius")?, us("wasserstein")?])
}

fn sweep() {
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let points: Vec<(f64, &str, u64)> = [1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5]
        .iter()
        .flat_map(|&g| ["frobenius", "wasserstein"].into_iter().flat_map(move |d| (0..10).map(move |s| (g, d, s))))
        .collect();
    let clock = Instant::now();
    let mut times = parallel_map(&points, jobs, |&(g, d, s)| {
        let t = Instant::now();
        run_prox_path(&params(g, d, s, 1_000_000), &|_| {}).expect("sweep point");
        t.elapsed().as_secs_f64()
    });
    for group in points.chunks(10).zip(times.chunks(10)) {
        let ((g, d, _), mut seconds) = (group.0[0], group.1.to_vec());
        seconds.sort_by(f64::total_cmp);
        println!("  {d:<11} γ = {g:<7} median {:7.3} s  max {:7.3} s  (10 seeds)", seconds[5], seconds[9]);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "E4 sweep (120 runs, 10 × 10^6 inner iterations each, {jobs} threads): wall {:.1} s, {:.1} core-s, median run {:.3} s",
        clock.elapsed().as_secs_f64(),
        times.iter().sum::<f64>(),
        times[times.len() / 2]
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("reference bench: skipped (run `cargo bench --bench reference`)");
        return;
    }
    let inner: u64 = std::env::var("WGF_BENCH_INNER").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    println!("METHODS.md §5 reference run: m = 50, n = 5, 10 prox steps × {inner} inner iterations, one core");
    for gamma in [1e-2, 1.0] {
        let ours = [reference_run(gamma, "frobenius", inner), reference_run(gamma, "wasserstein", inner)];
        match peer(gamma) {
            Some(peer_us) => {
                for (i, name) in ["frobenius", "wasserstein"].iter().enumerate() {
                    let ours_us = ours[i] * 1e6 / (10.0 * inner as f64);
                    println!(
                        "  peer  {name:<11} γ = {gamma:<5} {:8.2} µs/iteration  ratio {:6.1}×",
                        peer_us[i],
                        peer_us[i] / ours_us
                    );
                }
            }
            None => println!("  peer: not run (create its venv with `make bench`, or set WGF_PEER_PYTHON)"),
        }
    }
    if std::env::var("WGF_BENCH_SWEEP").is_ok_and(|v| v == "1") {
        sweep();
    }
}
