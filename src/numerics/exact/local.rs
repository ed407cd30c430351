//! The ray test (local-minimum certificate) and region descent (SPEC §1b). At a region optimum
//! V*, the one-sided directional derivative of Φ along Δ = (δ_i) separates over neurons,
//!   Φ'(V*; Δ) = Σ_i φ_i(δ_i),  φ_i(δ) = ℓ_i·δ + κ α_i Σ_{j kink} e_j max(0, ⟨δ, X_j⟩),
//! κ = 2kc/n, ℓ_i = ρ(v_i − T_i) + κ α_i Σ_{j active, not kink} e_j X_j. φ_i is linear on each
//! sector (angle < π), so φ_i ≥ 0 everywhere iff φ_i ≥ 0 on every critical ray (and, for a
//! half-plane sector, its bisector). Every region containing V* is a convex piece of Φ, so
//! Φ(V) ≥ Φ(V*) + Φ'(V*; V − V*) ≥ Φ(V*) near V*: a certified local minimum. A neuron whose
//! test fails moves into the sector its most negative ray points into; V* lies in the new
//! region and Φ' < 0 into it, so the new region optimum is strictly lower: no region repeats.

use super::region::{Region, RegionWork};
use super::sectors::{cross, dot, Sectors, Setup};

/// Directional derivatives ≥ −RAY_TOL pass (SPEC §1b).
pub(crate) const RAY_TOL: f64 = 1e-11;
/// |⟨v_i, X_j⟩| ≤ KINK_TOL ‖v_i‖ ‖X_j‖: the neuron sits on the line of X_j.
const KINK_TOL: f64 = 1e-9;
/// Region moves per descent before giving up (the prototype needed 1–4 per step).
const MAX_MOVES: u64 = 10_000;

/// Buffers of a region descent.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalWork {
    pub region: RegionWork,
    pub sector: Vec<usize>,
    proposal: Vec<Option<usize>>,
    best_v: Vec<[f64; 2]>,
    best_u: Vec<f64>,
    pub f: Vec<f64>,
}

/// Result of a descent; V is in `LocalWork::region.v`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Descent {
    pub objective: f64,
    pub certified: bool,
    pub region_moves: u64,
    pub newton_iterations: u64,
}

/// φ_i of one neuron at V*: the linear part ℓ_i and what the kink terms need.
pub(crate) struct Slope<'a> {
    setup: &'a Setup,
    vi: [f64; 2],
    kappa: f64,
    lin: [f64; 2],
    e: &'a [f64],
}

impl<'a> Slope<'a> {
    /// The slope of neuron i at vi (target ti, sign ai) given residuals e_j.
    pub fn new(setup: &'a Setup, rho: f64, vi: [f64; 2], ti: [f64; 2], ai: f64, e: &'a [f64]) -> Slope<'a> {
        let kappa = 2.0 * setup.k * setup.c / setup.n() as f64 * ai;
        let mut lin = [rho * (vi[0] - ti[0]), rho * (vi[1] - ti[1])];
        for (j, xj) in setup.x.iter().enumerate() {
            let z = dot(vi, *xj);
            if z > 0.0 && !is_kink(vi, *xj) {
                lin[0] += kappa * e[j] * xj[0];
                lin[1] += kappa * e[j] * xj[1];
            }
        }
        Slope { setup, vi, kappa, lin, e }
    }

    /// φ_i(r).
    pub fn phi(&self, r: [f64; 2]) -> f64 {
        let mut value = dot(self.lin, r);
        for (j, xj) in self.setup.x.iter().enumerate() {
            if is_kink(self.vi, *xj) {
                value += self.kappa * self.e[j] * dot(r, *xj).max(0.0);
            }
        }
        value
    }

    /// min over the test directions (rays, then `extra_tests`) of φ_i, and its index.
    pub fn min_over(&self, geo: &Sectors) -> (f64, usize) {
        let mut best = (f64::INFINITY, 0);
        for (q, r) in geo.rays.iter().chain(&geo.extra_tests).enumerate() {
            let value = self.phi(*r);
            if value < best.0 {
                best = (value, q);
            }
        }
        best
    }
}

/// Whether v sits on the line of x (always at the apex).
#[inline]
fn is_kink(v: [f64; 2], x: [f64; 2]) -> bool {
    dot(v, x).abs() <= KINK_TOL * dot(v, v).sqrt() * dot(x, x).sqrt()
}

impl LocalWork {
    pub fn resize(&mut self, m: usize, n: usize, sectors: usize) {
        self.region.resize(m, n, sectors);
        self.sector.resize(m, 0);
        self.proposal.resize(m, None);
        self.best_v.resize(m, [0.0; 2]);
        self.best_u.resize(n, 0.0);
        self.f.resize(n, 0.0);
    }

    /// Region descent from `start` toward targets T with weight ρ; the dual is warm-started
    /// from `start`'s residuals unless `keep_u` (then the u left by the last solve is used).
    pub fn descend(
        &mut self,
        setup: &Setup,
        geo: &Sectors,
        target: &[[f64; 2]],
        rho: f64,
        start: &[[f64; 2]],
        keep_u: bool,
    ) -> Descent {
        for (s, v) in self.sector.iter_mut().zip(start) {
            *s = geo.sector_of(*v);
        }
        if !keep_u {
            self.region.warm_start(setup, start);
        }
        let mut out = Descent { objective: f64::INFINITY, certified: false, region_moves: 0, newton_iterations: 0 };
        loop {
            let region = Region { setup, geo, target, sector: &self.sector, rho };
            let (_, iterations) = self.region.solve(&region);
            out.newton_iterations += iterations;
            let phi = setup.objective(&self.region.v, target, rho, &mut self.f);
            if phi.is_nan() || phi >= out.objective {
                break; // rounding stalled the strict decrease: keep the best point, uncertified
            }
            out.objective = phi;
            self.best_v.copy_from_slice(&self.region.v);
            self.best_u.copy_from_slice(&self.region.u);
            let (failing, movable) = self.propose_moves(setup, geo, target, rho);
            if failing == 0 {
                out.certified = true;
                return out;
            }
            if movable == 0 || out.region_moves >= MAX_MOVES {
                break;
            }
            for (s, p) in self.sector.iter_mut().zip(&self.proposal) {
                *s = p.unwrap_or(*s);
            }
            out.region_moves += 1;
        }
        self.region.v.copy_from_slice(&self.best_v);
        self.region.u.copy_from_slice(&self.best_u);
        out
    }

    /// Ray test at every neuron of the current V; fills `proposal` with the sector each failing
    /// neuron should move to. Returns (failing neurons, neurons that can move).
    fn propose_moves(&mut self, setup: &Setup, geo: &Sectors, target: &[[f64; 2]], rho: f64) -> (usize, usize) {
        // e_j = f_j − y_j at V (objective() left f in self.f).
        for (f, y) in self.f.iter_mut().zip(&setup.y) {
            *f -= y;
        }
        let (mut failing, mut movable) = (0, 0);
        for i in 0..setup.m() {
            let vi = self.region.v[i];
            let slope = Slope::new(setup, rho, vi, target[i], setup.alpha[i], &self.f);
            let (value, q) = slope.min_over(geo);
            self.proposal[i] = None;
            if value >= -RAY_TOL {
                continue;
            }
            failing += 1;
            let next = move_target(geo, &slope, vi, q);
            if next != self.sector[i] {
                self.proposal[i] = Some(next);
                movable += 1;
            }
        }
        (failing, movable)
    }
}

/// The sector that v + t·r enters for small t > 0, r the test direction q.
fn move_target(geo: &Sectors, slope: &Slope, vi: [f64; 2], q: usize) -> usize {
    let count = geo.count();
    if q >= count {
        return geo.sector_of(geo.extra_tests[q - count]);
    }
    if vi == [0.0, 0.0] {
        // From the apex, ray q borders sectors q − 1 and q: take the side whose other ray is lower.
        let (before, after) = ((q + count - 1) % count, (q + 1) % count);
        return if slope.phi(geo.rays[after]) <= slope.phi(geo.rays[before]) { q } else { before };
    }
    let p = geo.nearest_ray(vi);
    if cross(vi, geo.rays[q]) > 0.0 {
        p
    } else {
        (p + count - 1) % count
    }
}
