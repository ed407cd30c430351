//! Global weak-duality bound (SPEC §1b). For every u ∈ R^n and every V, with s_i the sector of v_i,
//!   Φ(V) ≥ u·(f − y) − (n/(4k))‖u‖² + (ρ/2)Σ‖v_i − T_i‖² ≥ g_glob(u)
//!   g_glob(u) = −(n/(4k))‖u‖² − u·y + Σ_i min_s h_s(α_i, T_i; u),
//!   h_s(α, t; u) = min_{v ∈ K_s} [c α ⟨z_s(u), v⟩ + (ρ/2)‖v − t‖²],  z_s = Σ_j S_sj u_j X_j.
//! Wasserstein: Φ_W = min_σ Φ_σ, so min_σ Σ_i H(α_i, W_σ(i); u) replaces the sum, H = min_s h_s.
//! H depends on i only through α_i: with one α per assignment block the sum is σ-free; with two
//! α values in a block the LAP is "the m_a targets with the smallest H_a − H_b go to class a".
//! g_glob is concave and non-smooth; it is maximised by Newton on the soft-min smoothing
//! −τ log Σ_s exp(−h_s/τ) (concave, ≤ the min, within τ log R of it) with τ → 1e-14, and the
//! exact (hard) value is taken at every iterate: any u gives a valid bound.

use ndarray::Array2;

use super::local::Descent;
use super::region::{cholesky_solve, norm2};
use super::sectors::{dot, Face, Sectors, Setup};
use super::{ExactStepReport, ExactWorkspace};
use crate::numerics::assignment::solve_assignment;
use crate::numerics::error::{NumResult, NumericsError};
use crate::numerics::prox::ProxDistance;

/// Relative gap under which a step counts as certified global (SPEC §1b).
pub const GLOBAL_GAP_TOL: f64 = 1e-9;
/// Newton iterations per smoothing level.
const NEWTON_PER_LEVEL: usize = 40;
/// Bound evaluations per maximisation (each ≈ 0.1–0.25 ms with derivatives at m = 50; 3000 left one W2
/// step at γ = 1e-3 at 0.78 s).
const MAX_EVALUATIONS: usize = 500;

/// One (α, target) pair: its smoothed sector minimum, gradient, Hessian (−∇², ⪰ 0), hard
/// minimum and the minimiser of the hard minimum.
#[derive(Debug, Clone, Default)]
pub(crate) struct BoundWork {
    u: Vec<f64>,
    best_u: Vec<f64>,
    trial_u: Vec<f64>,
    grad: Vec<f64>,
    dir: Vec<f64>,
    hess: Vec<f64>,
    z: Vec<[f64; 2]>,
    /// Per pair: smoothed value, hard value, argmin sector and point.
    soft: Vec<f64>,
    hard: Vec<f64>,
    arg: Vec<(usize, [f64; 2])>,
    pair_grad: Vec<f64>,
    pair_hess: Vec<f64>,
    /// Per sector scratch.
    hs: Vec<(f64, [f64; 2], Face)>,
    /// Which pair each neuron uses in the hard (and smoothed) selection.
    chosen: Vec<usize>,
    order: Vec<(f64, usize)>,
    classes: Vec<f64>,
    n: usize,
    evaluations: usize,
}

/// The pairs of a bound: targets T_l (Frobenius: T_i = W_i, one pair per neuron; Wasserstein:
/// one pair per α class and target).
struct Pairs<'a> {
    setup: &'a Setup,
    geo: &'a Sectors,
    rho: f64,
    targets: &'a [[f64; 2]],
    distance: ProxDistance,
    groups: Option<&'a crate::numerics::assignment::AssignmentGroups>,
}

impl BoundWork {
    pub fn resize(&mut self, m: usize, n: usize, sectors: usize) {
        self.n = n;
        for b in [&mut self.u, &mut self.best_u, &mut self.trial_u, &mut self.grad, &mut self.dir] {
            b.resize(n, 0.0);
        }
        self.hess.resize(n * n, 0.0);
        self.z.resize(sectors, [0.0; 2]);
        self.hs.resize(sectors, (0.0, [0.0; 2], Face::Inside));
        self.chosen.resize(m, 0);
    }

    fn size_pairs(&mut self, pairs: usize) {
        let n = self.n;
        self.soft.resize(pairs, 0.0);
        self.hard.resize(pairs, 0.0);
        self.arg.resize(pairs, (0, [0.0; 2]));
        self.pair_grad.resize(pairs * n, 0.0);
        self.pair_hess.resize(pairs * n * n, 0.0);
    }

    /// Evaluates every pair at u (tau > 0: with derivatives of the soft-min; tau = 0: hard only).
    fn eval_pairs(&mut self, p: &Pairs, u: &[f64], tau: f64) {
        let (setup, geo, n) = (p.setup, p.geo, self.n);
        for (s, z) in self.z.iter_mut().enumerate() {
            let pattern = geo.pattern_of(s);
            *z = [0.0; 2];
            for j in 0..n {
                z[0] += pattern[j] * u[j] * setup.x[j][0];
                z[1] += pattern[j] * u[j] * setup.x[j][1];
            }
        }
        let classes = self.classes.len();
        for pair in 0..self.soft.len() {
            let (alpha, target) = pair_of(p, &self.classes, classes, pair);
            let ca = setup.c * alpha;
            let mut best = (f64::INFINITY, 0usize);
            for (s, h) in self.hs.iter_mut().enumerate() {
                let b = [ca * self.z[s][0], ca * self.z[s][1]];
                *h = geo.sector_minimum(s, b, target, p.rho);
                if h.0 < best.0 {
                    best = (h.0, s);
                }
            }
            self.hard[pair] = best.0;
            self.arg[pair] = (best.1, self.hs[best.1].1);
            if tau > 0.0 {
                self.smooth_pair(p, pair, ca, best.0, tau);
            }
        }
    }

    /// Soft-min of the sector minima of one pair, its gradient and (−)Hessian.
    fn smooth_pair(&mut self, p: &Pairs, pair: usize, ca: f64, hmin: f64, tau: f64) {
        let (setup, geo, n) = (p.setup, p.geo, self.n);
        let grad = &mut self.pair_grad[pair * n..(pair + 1) * n];
        let hess = &mut self.pair_hess[pair * n * n..(pair + 1) * n * n];
        grad.iter_mut().for_each(|g| *g = 0.0);
        hess.iter_mut().for_each(|h| *h = 0.0);
        let total: f64 = self.hs.iter().map(|h| (-(h.0 - hmin) / tau).exp()).sum();
        self.soft[pair] = hmin - tau * total.ln();
        let curvature = ca * ca / p.rho;
        for (s, h) in self.hs.iter().enumerate() {
            let weight = (-(h.0 - hmin) / tau).exp() / total;
            if weight < 1e-300 {
                continue;
            }
            let pattern = geo.pattern_of(s);
            // ∇h_s = c α S_sj ⟨X_j, v_s⟩ (Danskin); the covariance term uses ∇h_s ∇h_sᵀ.
            for j in 0..n {
                let gj = ca * pattern[j] * dot(setup.x[j], h.1);
                grad[j] += weight * gj;
                for l in 0..n {
                    let gl = ca * pattern[l] * dot(setup.x[l], h.1);
                    hess[j * n + l] += weight * gj * gl / tau;
                }
            }
            match h.2 {
                Face::Inside => {
                    let block = &geo.gram[s * n * n..(s + 1) * n * n];
                    hess.iter_mut().zip(block).for_each(|(a, b)| *a += weight * curvature * b);
                }
                Face::Ray(e) => {
                    let q = &geo.ray_dots[(s * 2 + e as usize) * n..(s * 2 + e as usize + 1) * n];
                    for j in 0..n {
                        for l in 0..n {
                            hess[j * n + l] += weight * curvature * q[j] * q[l];
                        }
                    }
                }
                Face::Origin => {}
            }
        }
        for j in 0..n {
            for l in 0..n {
                hess[j * n + l] -= grad[j] * grad[l] / tau;
            }
        }
    }
}

/// (α, target) of a pair: Frobenius pair i = (α_i, W_i); Wasserstein pair a·m + l = (class a, W_l).
fn pair_of(p: &Pairs, classes: &[f64], count: usize, pair: usize) -> (f64, [f64; 2]) {
    match p.distance {
        ProxDistance::Frobenius => (p.setup.alpha[pair], p.targets[pair]),
        ProxDistance::Wasserstein => {
            let m = p.targets.len();
            debug_assert!(pair / m < count);
            (classes[pair / m], p.targets[pair % m])
        }
    }
}

impl BoundWork {
    /// Picks a pair per neuron (the assignment: identity, block sums, the two-class split or a
    /// LAP) for the values `c` (soft or hard); returns Σ_i c[chosen_i].
    fn select(&mut self, p: &Pairs, soft: bool) -> NumResult<f64> {
        let m = p.setup.m();
        let values = if soft { &self.soft } else { &self.hard };
        if p.distance == ProxDistance::Frobenius {
            self.chosen.iter_mut().enumerate().for_each(|(i, c)| *c = i);
            return Ok(values.iter().sum());
        }
        let groups = p.groups.expect("Wasserstein bound needs its groups");
        let class_of = |i: usize| self.classes.iter().position(|&a| a == p.setup.alpha[i]).expect("class");
        let mut total = 0.0;
        let mut fallback = false;
        for block in groups.blocks() {
            let mut present: Vec<usize> = block.iter().map(|&i| class_of(i)).collect();
            present.sort_unstable();
            present.dedup();
            if present.len() > 2 {
                fallback = true;
                break;
            }
            let (a, b) = (present[0], *present.last().expect("nonempty block"));
            let in_a = block.iter().filter(|&&i| class_of(i) == a).count();
            self.order.clear();
            self.order.extend(block.iter().map(|&l| (values[a * m + l] - values[b * m + l], l)));
            self.order.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            let (mut next_a, mut next_b) = (0, in_a);
            for &i in block {
                let slot = if class_of(i) == a { &mut next_a } else { &mut next_b };
                let (class, l) = (class_of(i), self.order[*slot].1);
                *slot += 1;
                self.chosen[i] = class * m + l;
                total += values[class * m + l];
            }
        }
        if fallback {
            let cost = Array2::from_shape_fn((m, m), |(i, l)| values[class_of(i) * m + l]);
            let sigma = solve_assignment(&cost, groups)?;
            total = 0.0;
            for (i, &l) in sigma.iter().enumerate() {
                self.chosen[i] = class_of(i) * m + l;
                total += cost[(i, l)];
            }
        }
        Ok(total)
    }

    /// g (smoothed at τ > 0, hard at τ = 0) at u, with ∇ and −∇² (τ > 0) into grad, hess.
    /// Returns (smoothed value, hard value).
    fn evaluate(&mut self, p: &Pairs, trial: bool, tau: f64) -> NumResult<(f64, f64)> {
        self.evaluations += 1;
        let u = std::mem::take(if trial { &mut self.trial_u } else { &mut self.u });
        self.eval_pairs(p, &u, tau.max(0.0));
        let curvature = p.setup.dual_curvature();
        let quad: f64 = u.iter().zip(&p.setup.y).map(|(a, y)| -0.5 * curvature * a * a - a * y).sum();
        let hard = quad + self.select(p, false)?;
        let mut soft = hard;
        if tau > 0.0 {
            soft = quad + self.select(p, true)?;
            let n = self.n;
            for j in 0..n {
                self.grad[j] = -curvature * u[j] - p.setup.y[j];
            }
            self.hess.iter_mut().for_each(|h| *h = 0.0);
            for j in 0..n {
                self.hess[j * n + j] = curvature;
            }
            for &pair in &self.chosen {
                let g = &self.pair_grad[pair * n..(pair + 1) * n];
                self.grad.iter_mut().zip(g).for_each(|(a, b)| *a += b);
                let h = &self.pair_hess[pair * n * n..(pair + 1) * n * n];
                self.hess.iter_mut().zip(h).for_each(|(a, b)| *a += b);
            }
        }
        *(if trial { &mut self.trial_u } else { &mut self.u }) = u;
        Ok((soft, hard))
    }

    /// Maximises g_glob from self.u; returns (best hard value, Newton iterations); its u is in best_u.
    fn maximise(&mut self, p: &Pairs) -> NumResult<(f64, u64)> {
        self.evaluations = 0;
        let (_, mut best) = self.evaluate(p, false, 0.0)?;
        self.best_u.copy_from_slice(&self.u);
        let mut iterations = 0;
        let mut tau = 1e-2 * best.abs().max(1.0);
        while tau >= 1e-14 * best.abs().max(1.0) {
            for _ in 0..NEWTON_PER_LEVEL {
                if self.evaluations > MAX_EVALUATIONS {
                    break;
                }
                let (value, hard) = self.evaluate(p, false, tau)?;
                if hard > best {
                    best = hard;
                    self.best_u.copy_from_slice(&self.u);
                }
                self.dir.copy_from_slice(&self.grad);
                let mut h = std::mem::take(&mut self.hess);
                cholesky_solve(&mut h, &mut self.dir, self.n);
                self.hess = h;
                let decrement: f64 = self.grad.iter().zip(&self.dir).map(|(a, b)| a * b).sum();
                if decrement.is_nan() || decrement <= 0.1 * tau || norm2(&self.dir) == 0.0 {
                    break;
                }
                iterations += 1;
                if self.line_search(p, value, decrement, tau, &mut best)? == 0.0 {
                    break;
                }
            }
            // The hard assignment split of the Wasserstein bound has kinks the smoothing does not
            // remove; Newton then crawls (1.1 s per W2 step at γ = 1e-3 without a budget). Any u
            // is a valid bound, so stopping early only widens the reported gap.
            if self.evaluations > MAX_EVALUATIONS {
                break;
            }
            tau *= 0.1;
        }
        Ok((best, iterations))
    }

    /// Armijo backtracking along dir on the smoothed g; moves u and returns the step taken (0: none).
    fn line_search(&mut self, p: &Pairs, value: f64, decrement: f64, tau: f64, best: &mut f64) -> NumResult<f64> {
        let mut t = 1.0;
        while t > 1e-12 {
            for ((tu, u), d) in self.trial_u.iter_mut().zip(&self.u).zip(&self.dir) {
                *tu = u + t * d;
            }
            let (trial, hard) = self.evaluate(p, true, tau)?;
            if hard > *best {
                *best = hard;
                self.best_u.copy_from_slice(&self.trial_u);
            }
            if trial >= value + 1e-4 * t * decrement - 4.0 * f64::EPSILON * value.abs() {
                std::mem::swap(&mut self.u, &mut self.trial_u);
                return Ok(t);
            }
            t *= 0.5;
        }
        Ok(0.0)
    }
}

/// The weak-duality bound g_glob(u) (Frobenius) or g_W(u) (Wasserstein) of the prox step from
/// W^t at one dual point u ∈ R^n: ≤ Φ(V) for every V.
pub fn prox_lower_bound(
    problem: &crate::numerics::model::ReluProblem,
    w_prev: ndarray::ArrayView2<f64>,
    cfg: &super::ExactProxConfig,
    u: &[f64],
) -> NumResult<f64> {
    let mut ws = ExactWorkspace::new();
    ws.prepare(problem, w_prev, w_prev)?;
    let m = ws.w.len();
    let rho = cfg.rho(m)?;
    if u.len() != problem.data().n() || u.iter().any(|x| !x.is_finite()) {
        return Err(NumericsError::Shape(format!(
            "dual point of length {}, expected n = {} finite",
            u.len(),
            problem.data().n()
        )));
    }
    ws.groups = Some(crate::numerics::assignment::AssignmentGroups::from_signs(
        m,
        Some(&problem.net().alpha),
        cfg.assign_across_signs,
    ));
    let geometry = ws.geometry.take().expect("prepared");
    let (setup, geo) = (&geometry.0, &geometry.1);
    setup_pairs(&mut ws.bound, setup, cfg.distance);
    let pairs = Pairs { setup, geo, rho, targets: &ws.w, distance: cfg.distance, groups: ws.groups.as_ref() };
    ws.bound.u.copy_from_slice(u);
    Ok(ws.bound.evaluate(&pairs, false, 0.0)?.1)
}

/// α classes (Wasserstein) and pair buffers.
fn setup_pairs(b: &mut BoundWork, setup: &Setup, distance: ProxDistance) {
    let m = setup.m();
    b.classes.clear();
    if distance == ProxDistance::Wasserstein {
        for &a in &setup.alpha {
            if !b.classes.contains(&a) {
                b.classes.push(a);
            }
        }
    }
    b.size_pairs(if distance == ProxDistance::Frobenius { m } else { b.classes.len() * m });
}

/// Global step: maximise the bound from the local step's dual point, restart the primal from the
/// bound's minimiser, keep the better point, report bound and gap.
pub(super) fn globalise(
    ws: &mut ExactWorkspace,
    rho: f64,
    distance: ProxDistance,
    report: &mut ExactStepReport,
) -> NumResult<()> {
    let geometry = ws.geometry.take().expect("prepared");
    let result = globalise_with(ws, &geometry.0, &geometry.1, rho, distance, report);
    ws.geometry = Some(geometry);
    result
}

fn globalise_with(
    ws: &mut ExactWorkspace,
    setup: &Setup,
    geo: &Sectors,
    rho: f64,
    distance: ProxDistance,
    report: &mut ExactStepReport,
) -> NumResult<()> {
    let m = setup.m();
    let b = &mut ws.bound;
    setup_pairs(b, setup, distance);
    b.u.copy_from_slice(&ws.local.region.u);
    let pairs = Pairs { setup, geo, rho, targets: &ws.w, distance, groups: ws.groups.as_ref() };
    let (mut bound, iterations) = b.maximise(&pairs)?;
    report.newton_iterations += iterations;
    // The primal point the bound's maximiser proposes: each neuron at its chosen pair's argmin.
    b.u.copy_from_slice(&b.best_u);
    b.evaluate(&pairs, false, 0.0)?;
    let restart: Vec<[f64; 2]> = b.chosen.iter().map(|&pair| b.arg[pair].1).collect();
    let kept_v = ws.local.region.v.clone();
    let kept = (report.objective, report.certified, report.sigma.clone());
    ws.start.copy_from_slice(&restart);
    let candidate = match distance {
        ProxDistance::Frobenius => {
            let d: Descent = ws.local.descend(setup, geo, &ws.w, rho, &ws.start, false);
            super::report_from(d, (0..m).collect(), 0)
        }
        ProxDistance::Wasserstein => super::wasserstein::alternate_with(ws, setup, geo, rho)?,
    };
    report.region_moves += candidate.region_moves;
    report.newton_iterations += candidate.newton_iterations;
    report.w2_alternations += candidate.w2_alternations;
    if candidate.objective < kept.0 {
        report.objective = candidate.objective;
        report.sigma = candidate.sigma;
    } else {
        ws.local.region.v.copy_from_slice(&kept_v);
        (report.objective, report.certified, report.sigma) = kept;
    }
    if !bound.is_finite() {
        bound = f64::NEG_INFINITY;
    }
    let gap = report.objective - bound;
    report.lower_bound = Some(bound);
    report.gap = Some(gap);
    report.certified = gap <= GLOBAL_GAP_TOL * report.objective.abs().max(1.0);
    Ok(())
}
