//! Local Wasserstein prox step (SPEC §1b): alternate σ ← LAP(V, W^t) and V ← exact Frobenius
//! prox toward W^t_σ started at V. Both half-steps never increase
//! Φ_W(V) = F(V) + (ρ/2) min_σ Σ_i ‖V_i − W_σ(i)‖² (the LAP minimises the distance term for
//! this V; region descent starts in V's own region), so the objective is monotone; stop when an
//! alternation no longer decreases it (not on σ: ties can flip σ forever at equal cost).

use super::local::Descent;
use super::sectors::{Sectors, Setup};
use super::{report_from, ExactStepReport, ExactWorkspace};
use crate::numerics::assignment::{solve_assignment, squared_distance_cost_into};
use crate::numerics::error::NumResult;

/// Relative decrease below which an alternation counts as no progress.
const STALL: f64 = 1e-13;
/// Alternations before giving up (the prototype needed 3–13 at step 1, 1–2 later).
const MAX_ALTERNATIONS: u64 = 1000;

/// Runs the alternation from ws.start; V ends in ws.local.region.v, σ in ws.sigma.
pub(super) fn alternate(ws: &mut ExactWorkspace, rho: f64) -> NumResult<ExactStepReport> {
    let geometry = ws.geometry.take().expect("prepared");
    let result = alternate_with(ws, &geometry.0, &geometry.1, rho);
    ws.geometry = Some(geometry);
    result
}

pub(super) fn alternate_with(
    ws: &mut ExactWorkspace,
    setup: &Setup,
    sectors: &Sectors,
    rho: f64,
) -> NumResult<ExactStepReport> {
    let mut v = std::mem::take(&mut ws.start);
    assign(ws, setup, &v, rho)?;
    let mut total = Descent { objective: f64::INFINITY, certified: false, region_moves: 0, newton_iterations: 0 };
    let mut alternations = 0;
    ws.w2_trace.clear();
    let mut previous_sigma = ws.sigma.clone();
    loop {
        for (t, &s) in ws.target.iter_mut().zip(&ws.sigma) {
            *t = ws.w[s];
        }
        let d = ws.local.descend(setup, sectors, &ws.target, rho, &v, alternations > 0);
        alternations += 1;
        total.region_moves += d.region_moves;
        total.newton_iterations += d.newton_iterations;
        v.copy_from_slice(&ws.local.region.v);
        previous_sigma.copy_from_slice(&ws.sigma);
        let objective = assign(ws, setup, &v, rho)?;
        ws.w2_trace.push(objective);
        let threshold = total.objective - STALL * total.objective.abs().max(1.0);
        let stalled = total.objective.is_finite() && (objective.is_nan() || objective >= threshold);
        total.objective = total.objective.min(objective);
        // The ray test of the last descent holds for its σ; a fresh LAP that keeps σ keeps it.
        total.certified = d.certified && previous_sigma == ws.sigma;
        if stalled || alternations >= MAX_ALTERNATIONS {
            break;
        }
    }
    ws.start = v;
    Ok(report_from(total, ws.sigma.clone(), alternations))
}

/// σ ← an optimal assignment V → W (within the sign blocks if any); returns Φ_W(V).
fn assign(ws: &mut ExactWorkspace, setup: &Setup, v: &[[f64; 2]], rho: f64) -> NumResult<f64> {
    squared_distance_cost_into(v.as_flattened(), ws.w.as_flattened(), 2, &mut ws.cost);
    let groups = ws.groups.as_ref().expect("groups set for Wasserstein");
    let sigma = solve_assignment(&ws.cost, groups)?;
    ws.sigma.copy_from_slice(&sigma);
    let dist: f64 = sigma.iter().enumerate().map(|(i, &s)| ws.cost[(i, s)]).sum();
    let loss = setup.outputs(v, &mut ws.local.f);
    Ok(loss + 0.5 * rho * dist)
}
