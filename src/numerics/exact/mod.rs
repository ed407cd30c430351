//! Exact, certified proximal point steps for d = 2 (METHODS.md §1b): sectors and regions, the region
//! QP through its n-dimensional dual, the ray test as a local-minimum certificate, region
//! descent, the Wasserstein alternation, and the global weak-duality bound. Pure computation,
//! deterministic, no threads; a reused [`ExactWorkspace`] keeps the hot loop allocation-free
//! (the Wasserstein LAP through lapjv still allocates its own buffers).

// n × n and m-long loops over several parallel arrays (Cholesky, Hessian blocks, per-neuron
// state) read as the formulas they implement; iterator chains over four arrays would not.
#![allow(clippy::needless_range_loop)]

use ndarray::{Array2, ArrayView2};

use super::assignment::{AssignmentGroups, DistanceNorm};
use super::error::{NumResult, NumericsError};
use super::model::ReluProblem;
use super::prox::ProxDistance;

mod bound;
mod local;
mod region;
mod sectors;
#[cfg(test)]
mod tests;
mod wasserstein;

use local::{Descent, LocalWork};
use sectors::{Sectors, Setup};

pub use bound::{prox_lower_bound, GLOBAL_GAP_TOL};

/// Which prox minimiser a step computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExactSolver {
    /// Region descent (Frobenius) / alternation (Wasserstein) from W^t: a certified local minimiser.
    Local,
    /// The local minimiser improved by restarts, with a weak-duality lower bound and its gap.
    Global,
}

/// Parameters of an exact prox step: Φ(V) = F(V) + λ Σ_i ‖V_i‖² + (c/(2γ)) Σ_i ‖V_i − W_σ(i)‖², c the
/// DistanceNorm factor, λ the problem's weight decay (0 by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExactProxConfig {
    pub gamma: f64,
    pub distance: ProxDistance,
    pub distance_norm: DistanceNorm,
    /// METHODS.md `assign_across_signs`; false restricts σ to same-sign pairs.
    pub assign_across_signs: bool,
    pub solver: ExactSolver,
}

impl ExactProxConfig {
    /// METHODS.md defaults: mean-normalised distance, assignment across signs.
    pub fn new(gamma: f64, distance: ProxDistance, solver: ExactSolver) -> ExactProxConfig {
        ExactProxConfig { gamma, distance, distance_norm: DistanceNorm::Mean, assign_across_signs: true, solver }
    }

    /// ρ = c/γ, the weight of (1/2) Σ_i ‖V_i − W_σ(i)‖².
    fn rho(&self, m: usize) -> NumResult<f64> {
        let rho = self.distance_norm.factor(m) / self.gamma;
        if !(self.gamma > 0.0 && rho.is_finite() && rho > 0.0) {
            return Err(NumericsError::InvalidParameter(format!(
                "exact prox step: γ = {} (needs 0 < γ < ∞)",
                self.gamma
            )));
        }
        Ok(rho)
    }
}

/// What an exact prox step reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactStepReport {
    /// W^{t+1}, m × 2.
    pub v: Array2<f64>,
    /// Final assignment (identity for Frobenius).
    pub sigma: Vec<usize>,
    /// Φ(W^{t+1}) for the distance in use.
    pub objective: f64,
    /// Local: the ray test passed at every neuron; Global: gap ≤ 1e-9·max(1, |Φ|).
    pub certified: bool,
    /// Global only.
    pub lower_bound: Option<f64>,
    /// Global only: Φ(W^{t+1}) − lower_bound.
    pub gap: Option<f64>,
    pub region_moves: u64,
    pub newton_iterations: u64,
    /// 0 for Frobenius.
    pub w2_alternations: u64,
}

/// Reusable buffers and the cached sector geometry of one problem.
#[derive(Debug, Clone, Default)]
pub struct ExactWorkspace {
    geometry: Option<(Setup, Sectors)>,
    local: LocalWork,
    w: Vec<[f64; 2]>,
    start: Vec<[f64; 2]>,
    target: Vec<[f64; 2]>,
    sigma: Vec<usize>,
    cost: Array2<f64>,
    groups: Option<AssignmentGroups>,
    bound: bound::BoundWork,
    /// Φ_W after each alternation of the last Wasserstein step (tests check it is monotone).
    pub(crate) w2_trace: Vec<f64>,
}

impl ExactWorkspace {
    pub fn new() -> ExactWorkspace {
        ExactWorkspace::default()
    }

    /// Builds (or reuses) the geometry for `problem` and copies W and the start point.
    fn prepare(&mut self, problem: &ReluProblem, w: ArrayView2<f64>, start: ArrayView2<f64>) -> NumResult<()> {
        let setup = Setup::new(problem)?;
        let m = setup.m();
        check_points("W^t", &w, m)?;
        check_points("start", &start, m)?;
        if self.geometry.as_ref().is_none_or(|(s, _)| *s != setup) {
            let sectors = Sectors::new(&setup.x)?;
            self.geometry = Some((setup, sectors));
        }
        let (setup, sectors) = self.geometry.as_ref().expect("geometry just set");
        let n = setup.n();
        self.local.resize(m, n, sectors.count());
        self.bound.resize(m, n, sectors.count());
        self.w.clear();
        self.w.extend(w.rows().into_iter().map(|r| [r[0], r[1]]));
        self.start.clear();
        self.start.extend(start.rows().into_iter().map(|r| [r[0], r[1]]));
        self.target.resize(m, [0.0; 2]);
        self.sigma.resize(m, 0);
        if self.cost.dim() != (m, m) {
            self.cost = Array2::zeros((m, m));
        }
        Ok(())
    }
}

/// Error unless `a` is m × 2 and finite; `what` names it.
fn check_points(what: &str, a: &ArrayView2<f64>, m: usize) -> NumResult<()> {
    if a.dim() != (m, 2) {
        return Err(NumericsError::Shape(format!("exact prox: {what} is {:?}, expected ({m}, 2)", a.dim())));
    }
    if a.iter().any(|x| !x.is_finite()) {
        return Err(NumericsError::InvalidParameter(format!("exact prox: {what} has a non-finite entry")));
    }
    Ok(())
}

/// One exact prox step from W^t (the local solver starts at W^t).
pub fn exact_prox_step(
    problem: &ReluProblem,
    w_prev: ArrayView2<f64>,
    cfg: &ExactProxConfig,
    ws: &mut ExactWorkspace,
) -> NumResult<ExactStepReport> {
    polish(problem, w_prev, w_prev, cfg, ws)
}

/// Region descent (Frobenius) / alternation (Wasserstein) started at `start` (e.g. a GD iterate):
/// the local minimiser of that basin, to measure how inexact the seed's GD prox was. With
/// `ExactSolver::Global`, that local minimiser is then improved and bounded.
pub fn polish(
    problem: &ReluProblem,
    w_prev: ArrayView2<f64>,
    start: ArrayView2<f64>,
    cfg: &ExactProxConfig,
    ws: &mut ExactWorkspace,
) -> NumResult<ExactStepReport> {
    ws.prepare(problem, w_prev, start)?;
    let decay = WeightDecay::reduce(ws, cfg.rho(ws.w.len())?, problem.weight_decay());
    let rho = decay.rho;
    let mut report = match cfg.distance {
        ProxDistance::Frobenius => frobenius_local(ws, rho),
        ProxDistance::Wasserstein => {
            let groups = AssignmentGroups::from_signs(ws.w.len(), Some(&problem.net().alpha), cfg.assign_across_signs);
            if ws.groups.as_ref() != Some(&groups) {
                ws.groups = Some(groups);
            }
            wasserstein::alternate(ws, rho)?
        }
    };
    if cfg.solver == ExactSolver::Global {
        bound::globalise(ws, rho, cfg.distance, &mut report)?;
    }
    decay.restore(&mut report);
    let (setup, _) = ws.geometry.as_ref().expect("prepared");
    let v = Array2::from_shape_fn((setup.m(), 2), |(i, k)| ws.local.region.v[i][k]);
    Ok(ExactStepReport { v, ..report })
}

/// Weight decay λ Σ_i ‖V_i‖² folded into the distance term (METHODS.md "Weight decay"): for every σ,
///   λ Σ‖V_i‖² + (ρ/2) Σ‖V_i − W_σ(i)‖² = (ρ'/2) Σ‖V_i − s W_σ(i)‖² + (ρ/2)(1 − s) Σ‖W_i‖²,
/// ρ' = ρ + 2λ, s = ρ/ρ'. The last term is a constant (a permutation does not change Σ‖W_i‖²), so
/// the decayed prox is the plain one with ρ' toward the shrunk targets sW: same minimisers, same ray
/// test, same bound, objectives shifted by that constant (added back in `restore`). The LAP cost
/// ‖V_i − sW_j‖² = ‖V_i‖² − 2s⟨V_i, W_j⟩ + s²‖W_j‖² has the same optimal σ as with s = 1.
struct WeightDecay {
    rho: f64,
    constant: f64,
    active: bool,
}

impl WeightDecay {
    /// ρ' and the constant; shrinks ws.w in place when λ > 0 (λ = 0 touches nothing: bit-identical).
    fn reduce(ws: &mut ExactWorkspace, rho: f64, lambda: f64) -> WeightDecay {
        if lambda <= 0.0 {
            return WeightDecay { rho, constant: 0.0, active: false };
        }
        let rho_decayed = rho + 2.0 * lambda;
        let s = rho / rho_decayed;
        let norms: f64 = ws.w.iter().map(|w| w[0] * w[0] + w[1] * w[1]).sum();
        for w in &mut ws.w {
            *w = [s * w[0], s * w[1]];
        }
        WeightDecay { rho: rho_decayed, constant: 0.5 * rho * (1.0 - s) * norms, active: true }
    }

    /// Objective and bound of the decayed problem; a global step's certificate re-judged on them.
    fn restore(&self, report: &mut ExactStepReport) {
        if !self.active {
            return;
        }
        report.objective += self.constant;
        if let (Some(bound), Some(gap)) = (report.lower_bound.as_mut(), report.gap) {
            *bound += self.constant;
            report.certified = gap <= GLOBAL_GAP_TOL * report.objective.abs().max(1.0);
        }
    }
}

/// Region descent toward W from the start point.
fn frobenius_local(ws: &mut ExactWorkspace, rho: f64) -> ExactStepReport {
    let (setup, sectors) = ws.geometry.as_ref().expect("prepared");
    let descent = ws.local.descend(setup, sectors, &ws.w, rho, &ws.start, false);
    report_from(descent, (0..ws.w.len()).collect(), 0)
}

fn report_from(d: Descent, sigma: Vec<usize>, w2_alternations: u64) -> ExactStepReport {
    ExactStepReport {
        v: Array2::zeros((0, 2)),
        sigma,
        objective: d.objective,
        certified: d.certified,
        lower_bound: None,
        gap: None,
        region_moves: d.region_moves,
        newton_iterations: d.newton_iterations,
        w2_alternations,
    }
}
