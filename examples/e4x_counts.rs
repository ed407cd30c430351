//! Prints the counts docs/FINDINGS.md quotes for E4x and E8 from the cached tables:
//! `cargo run --release --example e4x_counts [-- RESULTS_DIR]`.

use std::collections::BTreeMap;

use wgf::results::Results;
use wgf::tables::{column_f64, column_str};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Steps, certified steps, largest relative gap, polished distances, largest relative objective excess.
type StepCounts = (u32, u32, f64, Vec<f64>, f64);

/// Per (solver, γ): seeds, and how many have final loss_F < 1e-10, loss_W < 1e-10, loss_W < loss_F.
fn final_loss(r: &Results, stage: &str) -> Res<()> {
    let t = r.table(stage, "final_loss")?;
    let (g, s) = (column_f64(&t, "gamma")?, column_str(&t, "inner_solver")?);
    let (f, w) = (column_f64(&t, "final_loss_frobenius")?, column_f64(&t, "final_loss_wasserstein")?);
    let mut c: BTreeMap<(String, i64), [u32; 4]> = BTreeMap::new();
    for i in 0..g.len() {
        let e = c.entry((s[i].clone(), g[i].log10().round() as i64)).or_default();
        e[0] += 1;
        e[1] += u32::from(f[i] < 1e-10);
        e[2] += u32::from(w[i] < 1e-10);
        e[3] += u32::from(w[i] < f[i]);
    }
    for ((s, g), v) in c {
        println!("{stage} final_loss {s} γ=1e{g}: seeds {} F<1e-10 {} W<1e-10 {} W<F {}", v[0], v[1], v[2], v[3]);
    }
    let t = r.table(stage, "loss_gap")?;
    let (g, s) = (column_f64(&t, "gamma")?, column_str(&t, "inner_solver")?);
    let (a, rel) = (column_f64(&t, "max_abs_loss_gap")?, column_f64(&t, "max_rel_loss_gap")?);
    for i in 0..g.len() {
        println!("{stage} loss_gap {} γ={:e}: abs {:.3e} rel {:.3e}", s[i], g[i], a[i], rel[i]);
    }
    Ok(())
}

/// Per (solver, γ): inactive neuron-runs at W⁰, moved under F, moved under W.
fn inactive(r: &Results, stage: &str) -> Res<()> {
    let t = r.table(stage, "inactive_neurons")?;
    let (g, s) = (column_f64(&t, "gamma")?, column_str(&t, "inner_solver")?);
    let cols = ["inactive_at_start", "moved_frobenius", "moved_wasserstein"].map(|c| column_f64(&t, c));
    let mut c: BTreeMap<(String, i64), [f64; 3]> = BTreeMap::new();
    for i in 0..g.len() {
        let e = c.entry((s[i].clone(), g[i].log10().round() as i64)).or_default();
        for (k, col) in cols.iter().enumerate() {
            e[k] += col.as_ref().map_err(|e| e.to_string())?[i];
        }
    }
    for ((s, g), v) in c {
        println!("{stage} inactive {s} γ=1e{g}: inactive {} moved_F {} moved_W {}", v[0], v[1], v[2]);
    }
    Ok(())
}

/// Per (distance, γ): steps, certified steps, largest gap / max(1, |Φ|); for gd: median/max polished distance.
fn steps(r: &Results, stage: &str) -> Res<()> {
    let t = r.table(stage, "steps")?;
    let (g, d, step) = (column_f64(&t, "gamma")?, column_str(&t, "distance")?, column_f64(&t, "step")?);
    let (phi, gap) = (column_f64(&t, "prox_objective")?, column_f64(&t, "gap")?);
    let (pd, ex) = (column_f64(&t, "polished_distance")?, column_f64(&t, "objective_excess")?);
    let cert = t.column("certified")?.bool()?.clone();
    let mut c: BTreeMap<(String, i64), StepCounts> = BTreeMap::new();
    for i in (0..g.len()).filter(|&i| step[i] > 0.0) {
        let e = c.entry((d[i].clone(), g[i].log10().round() as i64)).or_insert((0, 0, 0.0, vec![], 0.0));
        e.0 += 1;
        e.1 += u32::from(cert.get(i) == Some(true));
        if gap[i].is_finite() {
            e.2 = e.2.max(gap[i] / phi[i].abs().max(1.0));
        }
        if pd[i].is_finite() {
            e.3.push(pd[i]);
            e.4 = e.4.max(ex[i] / phi[i].abs().max(1e-300));
        }
    }
    for ((d, g), (n, k, gmax, mut p, x)) in c {
        p.sort_by(f64::total_cmp);
        let (med, max) = (p.get(p.len() / 2).copied().unwrap_or(f64::NAN), p.last().copied().unwrap_or(f64::NAN));
        println!(
            "{stage} steps {d} γ=1e{g}: {n} steps, certified {k}, max rel gap {gmax:.2e}, polished dist median {med:.2e} max {max:.2e}, max rel excess {x:.2e}"
        );
    }
    Ok(())
}

fn main() -> Res<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "results".into());
    let r = Results::open(dir)?;
    for (claims, source) in [
        ("prox_exact_claims", "prox_exact"),
        ("prox_exact_global_claims", "prox_exact_global"),
        ("prox_signs_claims", "prox_signs"),
        ("prox_signs_global_claims", "prox_signs_global"),
    ] {
        if r.stage(claims).is_ok() {
            final_loss(&r, claims).ok();
            inactive(&r, claims)?;
        }
        if r.stage(source).is_ok() {
            steps(&r, source)?;
        }
    }
    for gd in ["prox_sweep", "prox_signs_gd"] {
        if r.stage(gd).is_ok() {
            steps(&r, gd)?;
        }
    }
    Ok(())
}
