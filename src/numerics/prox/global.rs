//! Global Wasserstein prox for small m: the prox objective min_σ of convex-in-the-distance
//! pieces is not convex, and the inner GD from W^t finds a local minimiser. Enumerating every
//! admissible σ, solving each fixed-σ subproblem by the same inner GD and keeping the best
//! value gives the global minimiser (exactly so when F is convex, as in METHODS.md E1).

use ndarray::{Array2, ArrayView2};

use super::{NoObserver, ProxConfig, ProxDistance, ProxOutcome, ProxSolver, ProxStepReport};
use crate::numerics::assignment::squared_distance;
use crate::numerics::descent::check_particles;
use crate::numerics::error::{NumResult, NumericsError};
use crate::numerics::model::flat;
use crate::numerics::objective::Objective;

/// Enumeration costs m! inner solves: refuse beyond this.
pub const MAX_GLOBAL_PARTICLES: usize = 8;

/// Local (inner GD with the certified assignment) and global (best fixed σ) prox from one W^t.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalProxResult {
    pub local: ProxOutcome,
    /// Its report's `inner_iters` and `residual` are those of the winning fixed-σ subproblem.
    pub global: ProxOutcome,
    /// The winning σ.
    pub global_assignment: Vec<usize>,
    /// F(V) + (c/(2γ)) Σ_i ‖V_i − W_σ(i)‖² at the winner (≥ its `prox_objective`, which uses d_W).
    pub global_fixed_objective: f64,
    /// Number of σ tried.
    pub candidates: usize,
}

/// The global path W⁰ … W^T, with the local step from each W^t for comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalProxPath {
    pub iterates: Vec<Array2<f64>>,
    pub reports: Vec<ProxStepReport>,
    pub local_reports: Vec<ProxStepReport>,
    pub assignments: Vec<Vec<usize>>,
}

/// One Wasserstein prox step from W^t, locally and globally (`config.distance` is ignored).
pub fn wasserstein_prox_global<O: Objective>(
    objective: &O,
    w: ArrayView2<f64>,
    config: ProxConfig,
    outer_step: usize,
) -> NumResult<GlobalProxResult> {
    let config = ProxConfig { distance: ProxDistance::Wasserstein, ..config };
    let m = objective.num_particles();
    if m > MAX_GLOBAL_PARTICLES {
        return Err(NumericsError::InvalidParameter(format!(
            "global prox enumerates m! assignments: m = {m} > {MAX_GLOBAL_PARTICLES}"
        )));
    }
    check_particles(objective, w)?;
    let mut solver = ProxSolver::new(objective, config)?;
    let local = solver.prox_step(w, outer_step, &mut NoObserver)?;
    let target = flat(w);
    let d = objective.particle_dim();
    let half_weight = config.distance_norm.factor(m) / (2.0 * config.gamma);
    let mut best: Option<(f64, super::InnerOutcome)> = None;
    let mut candidates = 0;
    let mut sigma: Vec<usize> = (0..m).collect();
    loop {
        if solver.groups().admits(&sigma) {
            candidates += 1;
            let inner = solver.solve_fixed_assignment(&target, &sigma, outer_step, &mut NoObserver)?;
            let dist: f64 = (0..m)
                .map(|i| squared_distance(&inner.v[i * d..(i + 1) * d], &target[sigma[i] * d..(sigma[i] + 1) * d]))
                .sum();
            let value = inner.loss + half_weight * dist;
            // Strict: among equal values the lexicographically first σ (identity first) wins.
            if best.as_ref().is_none_or(|(b, _)| value < *b) {
                best = Some((value, inner));
            }
        }
        if !next_permutation(&mut sigma) {
            break;
        }
    }
    let (value, inner) = best.ok_or_else(|| NumericsError::Assignment("no admissible σ".into()))?;
    let global_assignment = inner.assignment.clone();
    let global = solver.outcome(&target, inner, ProxDistance::Wasserstein)?;
    Ok(GlobalProxResult { local, global, global_assignment, global_fixed_objective: value, candidates })
}

/// `steps` global Wasserstein prox steps from W⁰.
pub fn wasserstein_prox_path_global<O: Objective>(
    objective: &O,
    w0: ArrayView2<f64>,
    config: ProxConfig,
    steps: usize,
) -> NumResult<GlobalProxPath> {
    check_particles(objective, w0)?;
    let mut path = GlobalProxPath {
        iterates: vec![w0.to_owned()],
        reports: Vec::with_capacity(steps),
        local_reports: Vec::with_capacity(steps),
        assignments: Vec::with_capacity(steps),
    };
    for t in 0..steps {
        let result = wasserstein_prox_global(objective, path.iterates[t].view(), config, t)?;
        path.iterates.push(result.global.w);
        path.reports.push(result.global.report);
        path.local_reports.push(result.local.report);
        path.assignments.push(result.global_assignment);
    }
    Ok(path)
}

/// Next permutation in lexicographic order; false (and sorted back) after the last one.
fn next_permutation(p: &mut [usize]) -> bool {
    let Some(i) = (1..p.len()).rev().find(|&i| p[i - 1] < p[i]) else {
        p.reverse();
        return false;
    };
    let pivot = i - 1;
    let j = (i..p.len()).rev().find(|&j| p[j] > p[pivot]).unwrap_or(i);
    p.swap(pivot, j);
    p[i..].reverse();
    true
}

#[cfg(test)]
mod tests {
    use super::next_permutation;

    #[test]
    fn next_permutation_enumerates_all_in_order() {
        let mut p = vec![0, 1, 2, 3];
        let mut seen = vec![p.clone()];
        while next_permutation(&mut p) {
            seen.push(p.clone());
        }
        assert_eq!(seen.len(), 24);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(p, vec![0, 1, 2, 3]);
    }
}
