//! Proximal point steps W^{t+1} = argmin_V F(V) + (1/(2γ)) d(V, W^t), d = c Σ_i ‖V_i − W_σ(i)‖²
//! (c = 1/m, or 1 for METHODS.md E1), σ = identity (Frobenius) or an optimal assignment (Wasserstein).
//! Inner solver (METHODS.md §1): GD from V⁰ = W^t, V ← V − β (∇F(V) + κ (V − W^t_σ)), κ = c/γ
//! (= 1/(mγ) for the METHODS.md normalisation), default β = 1/(L̂ + κ).

use ndarray::{Array2, ArrayView2};

use super::assignment::{
    fraction_permuted, frobenius_distance, solve_assignment, squared_distance_cost_into, wasserstein_distance,
    AssignmentGroups, CertificateState, CertificateStats, CertifiedAssignment, DistanceNorm,
};
use super::descent::{check_particles, to_matrix};
use super::error::{IterationPoint, NumResult, NumericsError};
use super::model::flat;
use super::objective::Objective;
use cycle::CycleDetector;

mod cycle;
mod global;
mod observer;
#[cfg(test)]
mod tests;

pub use global::{
    wasserstein_prox_global, wasserstein_prox_path_global, GlobalProxPath, GlobalProxResult, MAX_GLOBAL_PARTICLES,
};
pub use observer::{FirstIterates, InnerObserver, NoObserver};

/// The distance of the proximal term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxDistance {
    Frobenius,
    Wasserstein,
}

/// When the inner GD stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InnerStopping {
    /// Exactly this many updates (the seed: 10^6).
    Iterations(u64),
    /// Stop once ‖∇F(V) + κ(V − W_σ)‖ < tol, or after `max_iterations` updates.
    Residual { tol: f64, max_iterations: u64 },
}

/// How the Wasserstein assignment follows V.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentUpdate {
    /// Keep σ while the LAP-dual certificate holds; solve a LAP only when it fails.
    Certified,
    /// Solve a LAP at every inner iteration (reference behaviour, slow).
    EveryIteration,
}

/// Parameters of a proximal point step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProxConfig {
    /// Prox step size γ > 0.
    pub gamma: f64,
    pub distance: ProxDistance,
    /// c in d = c Σ_i ‖·‖²: Mean (1/m, METHODS.md §0) or Sum (1, METHODS.md E1).
    pub distance_norm: DistanceNorm,
    /// Inner step size β; `None` → 1/(L̂ + κ).
    pub inner_step: Option<f64>,
    pub stopping: InnerStopping,
    /// METHODS.md `assign_across_signs` (default true): false restricts σ to same-sign pairs.
    pub assign_across_signs: bool,
    pub assignment_update: AssignmentUpdate,
    /// Exact cycle jump (default true): once the whole inner-loop state (V, and for the
    /// certified assignment its σ, duals, base points and radii) is bitwise equal to the state p
    /// iterations earlier, the remaining fixed-count iterations repeat that cycle, so the loop
    /// jumps ahead by a multiple of p and finishes the remainder. Results (iterates, σ, loss,
    /// residual, and the diagnostic counters, extrapolated per cycle) are bit-identical to
    /// `false` (the plain loop); only iterations the observer does not need are skipped.
    pub accelerate: bool,
}

impl ProxConfig {
    /// METHODS.md defaults: mean-normalised distance, default β, 10^6 inner iterations, assignment
    /// across signs, certified assignment updates.
    pub fn new(gamma: f64, distance: ProxDistance) -> ProxConfig {
        ProxConfig {
            gamma,
            distance,
            distance_norm: DistanceNorm::Mean,
            inner_step: None,
            stopping: InnerStopping::Iterations(1_000_000),
            assign_across_signs: true,
            assignment_update: AssignmentUpdate::Certified,
            accelerate: true,
        }
    }

    /// κ = c/γ, the weight of (V − W_σ) in the inner gradient.
    pub fn coupling(&self, m: usize) -> f64 {
        self.distance_norm.factor(m) / self.gamma
    }

    /// β: the override, or 1/(L̂ + κ).
    pub fn inner_step_size(&self, lipschitz: f64, m: usize) -> f64 {
        self.inner_step.unwrap_or_else(|| 1.0 / (lipschitz + self.coupling(m)))
    }

    fn validate(&self, lipschitz: f64, m: usize) -> NumResult<()> {
        let beta = self.inner_step_size(lipschitz, m);
        let bad = |what: String| Err(NumericsError::InvalidParameter(what));
        if !(self.gamma > 0.0 && self.gamma.is_finite()) {
            return bad(format!("γ = {}", self.gamma));
        }
        if !(beta > 0.0 && beta.is_finite()) {
            return bad(format!("β = {beta} (L̂ = {lipschitz})"));
        }
        if let InnerStopping::Residual { tol, .. } = self.stopping {
            if tol.is_nan() || tol < 0.0 {
                return bad(format!("residual tolerance {tol}"));
            }
        }
        Ok(())
    }
}

/// What one prox step reports (METHODS.md E4 columns and solver diagnostics). Distances use the
/// configured normalisation and compare W^{t+1} with W^t.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxStepReport {
    /// F(W^{t+1}).
    pub loss: f64,
    /// F(W^t) = value of the prox objective at its starting point V⁰ = W^t.
    pub start_loss: f64,
    /// F(W^{t+1}) + (1/(2γ)) d(W^{t+1}, W^t) with the step's distance.
    pub prox_objective: f64,
    pub dist_frob: f64,
    pub dist_w2: f64,
    /// Fraction of particles with σ(i) ≠ i in the optimal assignment W^{t+1} → W^t.
    pub frac_permuted: f64,
    /// Inner updates performed.
    pub inner_iters: u64,
    /// ‖∇F(V) + κ(V − W_σ)‖ at the returned V, σ the assignment used there.
    pub residual: f64,
    /// Inner iterations that re-solved the LAP (incrementally when certified, by lapjv in
    /// `EveryIteration` mode); the report's own d_W solve is not counted.
    pub lap_solves: u64,
    /// Augmenting paths of the incremental re-solves.
    pub augmentations: u64,
    /// Rows scanned (Dijkstra settles) by those augmenting paths.
    pub augmenting_scans: u64,
    /// Full row scans of the certificate (O(md) each; rows its candidate columns did not
    /// settle).
    pub exact_checks: u64,
    /// Inner step size β used.
    pub inner_step: f64,
    /// σ used at the returned V (identity for Frobenius).
    pub assignment: Vec<usize>,
    /// Cycle jump (`ProxConfig::accelerate`): the inner iteration at which the repeating state
    /// was recognised and its period, if a jump was taken.
    pub cycle: Option<InnerCycle>,
    /// First time V was bitwise equal to a saved V while the certificate state was not
    /// (diagnostics: a jump then needs the forced-σ check, see `InnerCycle::state_repeated`).
    pub position_cycle: Option<InnerCycle>,
    /// Inner iterations skipped by that jump (included in `inner_iters`).
    pub skipped_iterations: u64,
}

/// A detected exact cycle of the inner loop: the state at iteration `at` equals the state at
/// `at − period`, bit for bit (period 1 = a floating-point fixed point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerCycle {
    pub at: u64,
    pub period: u64,
    /// true: the whole state (V and the certificate's σ, duals, base points, radii) repeated,
    /// so the extrapolated counters are exact. false: V repeated and σ was forced (the unique
    /// optimum by a margin beyond the certificate's tie tolerance) at every iterate of a
    /// period, so iterates, σ, loss and residual are still exact, but the certificate's duals
    /// were not periodic and the counters (lap_solves, augmentations, …) are extrapolated from
    /// the verified period: estimates of what the plain loop would count.
    pub state_repeated: bool,
}

/// A prox step's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxOutcome {
    pub w: Array2<f64>,
    pub report: ProxStepReport,
}

/// Iterates W⁰ … W^T and one report per step.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxPath {
    pub iterates: Vec<Array2<f64>>,
    pub reports: Vec<ProxStepReport>,
}

/// The assignment rule of one inner solve.
enum Tracker {
    Fixed(Vec<usize>),
    Certified(Box<CertifiedAssignment>),
    EveryIteration(FreshAssignment),
}

/// Reference rule: a LAP (lapjv) from scratch at every inner iteration.
struct FreshAssignment {
    target: Vec<f64>,
    d: usize,
    groups: AssignmentGroups,
    cost: Array2<f64>,
    sigma: Vec<usize>,
    solves: u64,
}

impl FreshAssignment {
    fn new(target: &[f64], d: usize, groups: AssignmentGroups) -> FreshAssignment {
        let m = groups.len();
        FreshAssignment {
            target: target.to_vec(),
            d,
            groups,
            cost: Array2::zeros((m, m)),
            sigma: (0..m).collect(),
            solves: 0,
        }
    }

    fn update(&mut self, v: &[f64]) -> NumResult<bool> {
        squared_distance_cost_into(v, &self.target, self.d, &mut self.cost);
        let sigma = solve_assignment(&self.cost, &self.groups)?;
        self.solves += 1;
        let changed = sigma != self.sigma;
        self.sigma = sigma;
        Ok(changed)
    }
}

impl Tracker {
    /// Makes σ right for V; returns whether it changed.
    #[inline]
    fn update(&mut self, v: &[f64]) -> NumResult<bool> {
        match self {
            Tracker::Fixed(_) => Ok(false),
            Tracker::Certified(c) => c.update(v),
            Tracker::EveryIteration(f) => f.update(v),
        }
    }

    #[inline]
    fn sigma(&self) -> &[usize] {
        match self {
            Tracker::Fixed(s) => s,
            Tracker::Certified(c) => c.sigma(),
            Tracker::EveryIteration(f) => &f.sigma,
        }
    }

    /// Saves the state that decides future σ (only the certificate has any beyond V).
    fn save_state(&self, into: &mut CertificateState) {
        if let Tracker::Certified(c) = self {
            c.save_state(into);
        }
    }

    fn state_equals(&self, state: &CertificateState) -> bool {
        match self {
            Tracker::Certified(c) => c.state_equals(state),
            // σ is a function of V alone (fixed, or a from-scratch lapjv on the costs at V).
            Tracker::Fixed(_) | Tracker::EveryIteration(_) => true,
        }
    }

    /// Whether σ at V is forced (the certificate's output at V whatever its state).
    fn is_forced(&mut self, v: &[f64]) -> bool {
        match self {
            Tracker::Certified(c) => c.is_forced(v),
            Tracker::Fixed(_) | Tracker::EveryIteration(_) => true,
        }
    }

    /// Sets the counters to what n more repetitions of the iterations since `earlier` give.
    fn repeat_stats(&mut self, earlier: &CertificateStats, n: u64) {
        let stats = self.stats().repeated(earlier, n);
        match self {
            Tracker::Fixed(_) => {}
            Tracker::Certified(c) => c.set_stats(stats),
            Tracker::EveryIteration(f) => f.solves = stats.lap_solves,
        }
    }

    fn stats(&self) -> CertificateStats {
        match self {
            Tracker::Fixed(_) => CertificateStats::default(),
            Tracker::Certified(c) => c.stats(),
            Tracker::EveryIteration(f) => CertificateStats { lap_solves: f.solves, ..CertificateStats::default() },
        }
    }
}

/// Result of one inner solve on slices.
#[derive(Debug, Clone, PartialEq)]
pub struct InnerOutcome {
    pub v: Vec<f64>,
    pub iterations: u64,
    pub residual: f64,
    pub loss: f64,
    pub assignment: Vec<usize>,
    pub stats: CertificateStats,
    /// The cycle jump taken, if any, and the iterations it skipped.
    pub cycle: Option<InnerCycle>,
    /// First time V repeated bitwise while the certificate state did not.
    pub position_cycle: Option<InnerCycle>,
    pub skipped_iterations: u64,
}

/// Solver state for prox steps on one objective: configuration, β, κ, scratch memory.
pub struct ProxSolver<'a, O: Objective> {
    objective: &'a O,
    config: ProxConfig,
    groups: AssignmentGroups,
    beta: f64,
    kappa: f64,
    ws: O::Workspace,
    grad: Vec<f64>,
}

impl<'a, O: Objective> ProxSolver<'a, O> {
    pub fn new(objective: &'a O, config: ProxConfig) -> NumResult<Self> {
        let (m, d) = (objective.num_particles(), objective.particle_dim());
        if m == 0 || d == 0 {
            return Err(NumericsError::Shape(format!("{m} particles of dimension {d}")));
        }
        let lipschitz = objective.lipschitz_bound();
        config.validate(lipschitz, m)?;
        let groups = AssignmentGroups::from_signs(m, objective.particle_signs(), config.assign_across_signs);
        Ok(ProxSolver {
            objective,
            config,
            groups,
            beta: config.inner_step_size(lipschitz, m),
            kappa: config.coupling(m),
            ws: objective.workspace(),
            grad: vec![0.0; m * d],
        })
    }

    pub fn config(&self) -> &ProxConfig {
        &self.config
    }

    pub fn inner_step(&self) -> f64 {
        self.beta
    }

    pub fn groups(&self) -> &AssignmentGroups {
        &self.groups
    }

    /// One prox step from W^t (m × d). `outer_step` only labels errors.
    pub fn prox_step<Obs: InnerObserver>(
        &mut self,
        w: ArrayView2<f64>,
        outer_step: usize,
        observer: &mut Obs,
    ) -> NumResult<ProxOutcome> {
        check_particles(self.objective, w)?;
        let target = flat(w);
        let m = self.objective.num_particles();
        let tracker = match self.config.distance {
            ProxDistance::Frobenius => Tracker::Fixed((0..m).collect()),
            ProxDistance::Wasserstein => {
                let (d, groups) = (self.objective.particle_dim(), self.groups.clone());
                match self.config.assignment_update {
                    AssignmentUpdate::Certified => {
                        Tracker::Certified(Box::new(CertifiedAssignment::new(&target, d, groups)?))
                    }
                    AssignmentUpdate::EveryIteration => {
                        Tracker::EveryIteration(FreshAssignment::new(&target, d, groups))
                    }
                }
            }
        };
        let inner = self.inner_solve(&target, tracker, outer_step, observer)?;
        self.outcome(&target, inner, self.config.distance)
    }

    /// Minimises F(V) + (c/(2γ)) Σ_i ‖V_i − W_σ(i)‖² for a fixed permutation σ by the inner GD
    /// (the building block of the global Wasserstein prox).
    pub fn solve_fixed_assignment<Obs: InnerObserver>(
        &mut self,
        w: &[f64],
        sigma: &[usize],
        outer_step: usize,
        observer: &mut Obs,
    ) -> NumResult<InnerOutcome> {
        let m = self.objective.num_particles();
        if w.len() != m * self.objective.particle_dim() || !AssignmentGroups::all(m).admits(sigma) {
            return Err(NumericsError::Shape("fixed assignment: bad W or σ".into()));
        }
        self.inner_solve(w, Tracker::Fixed(sigma.to_vec()), outer_step, observer)
    }

    /// Runs the inner GD from V⁰ = W (= `target`).
    fn inner_solve<Obs: InnerObserver>(
        &mut self,
        target: &[f64],
        tracker: Tracker,
        outer_step: usize,
        observer: &mut Obs,
    ) -> NumResult<InnerOutcome> {
        let stop = StopRule::new(self.config.stopping);
        let mut state = InnerState::new(target, self.objective.particle_dim(), tracker);
        let accelerate = self.config.accelerate;
        let mut cycles = CycleDetector::new(accelerate, stop.max_iterations, observer.observed_iterations());
        let mut k: u64 = 0;
        loop {
            state.update_assignment()?;
            k += cycles.after_update(k, &state.v, &mut state.tracker);
            let (loss, residual_sq) = self.gradient_step(&state.v, &state.pulled_to, &mut state.next);
            if !(loss.is_finite() && residual_sq.is_finite()) {
                let at = IterationPoint { outer_step, inner_iteration: k as usize };
                return Err(NumericsError::NonFinite { at, what: "inner objective or gradient" });
            }
            observer.observe(k, &state.v, state.tracker.sigma());
            if stop.reached(k, residual_sq) {
                return Ok(state.finish(k, loss, residual_sq, cycles));
            }
            std::mem::swap(&mut state.v, &mut state.next);
            k += 1;
        }
    }

    /// Loss F(V) and ‖g‖² for g = ∇F(V) + κ (V − W_σ); writes V − β g into `next`. Uses the
    /// objective's fused kernel when it has one (bit-identical), else the generic passes.
    #[inline]
    fn gradient_step(&mut self, v: &[f64], pulled_to: &[f64], next: &mut [f64]) -> (f64, f64) {
        let (kappa, beta) = (self.kappa, self.beta);
        if let Some(fused) = self.objective.fused_prox_step(v, pulled_to, kappa, beta, next, &mut self.ws) {
            return fused;
        }
        let loss = self.objective.value_and_gradient(v, &mut self.grad, &mut self.ws);
        let residual_sq = add_proximal_gradient(&mut self.grad, v, pulled_to, kappa);
        for ((n, x), g) in next.iter_mut().zip(v).zip(&self.grad) {
            *n = x - beta * g;
        }
        (loss, residual_sq)
    }

    /// Builds the report of a step that ended at `inner.v`, starting from W^t = `target`.
    fn outcome(&mut self, target: &[f64], inner: InnerOutcome, distance: ProxDistance) -> NumResult<ProxOutcome> {
        let (m, d) = (self.objective.num_particles(), self.objective.particle_dim());
        let w_next = to_matrix(&inner.v, m, d)?;
        let w_prev = to_matrix(target, m, d)?;
        let norm = self.config.distance_norm;
        let dist_frob = frobenius_distance(w_next.view(), w_prev.view(), norm);
        let (dist_w2, sigma_w2) = wasserstein_distance(w_next.view(), w_prev.view(), &self.groups, norm)?;
        let step_distance = match distance {
            ProxDistance::Frobenius => dist_frob,
            ProxDistance::Wasserstein => dist_w2,
        };
        let start_loss = self.objective.value(target, &mut self.ws);
        let report = ProxStepReport {
            loss: inner.loss,
            start_loss,
            prox_objective: inner.loss + step_distance / (2.0 * self.config.gamma),
            dist_frob,
            dist_w2,
            frac_permuted: fraction_permuted(&sigma_w2),
            inner_iters: inner.iterations,
            residual: inner.residual,
            lap_solves: inner.stats.lap_solves,
            augmentations: inner.stats.augmentations,
            augmenting_scans: inner.stats.scanned_rows,
            exact_checks: inner.stats.exact_checks,
            inner_step: self.beta,
            assignment: inner.assignment,
            cycle: inner.cycle,
            position_cycle: inner.position_cycle,
            skipped_iterations: inner.skipped_iterations,
        };
        Ok(ProxOutcome { w: w_next, report })
    }
}

/// When the inner loop stops, as it checks it: the squared residual tolerance if any, and the
/// update budget.
struct StopRule {
    residual_sq_below: Option<f64>,
    max_iterations: u64,
}

impl StopRule {
    fn new(stopping: InnerStopping) -> StopRule {
        match stopping {
            InnerStopping::Iterations(k) => StopRule { residual_sq_below: None, max_iterations: k },
            InnerStopping::Residual { tol, max_iterations } => {
                StopRule { residual_sq_below: Some(tol * tol), max_iterations }
            }
        }
    }

    /// Stop at V^k with this ‖g‖²: below the tolerance, or the updates used up.
    #[inline]
    fn reached(&self, k: u64, residual_sq: f64) -> bool {
        self.residual_sq_below.is_some_and(|tol_sq| residual_sq < tol_sq) || k >= self.max_iterations
    }
}

/// The inner loop's state at iteration k: V^k, its assignment rule, W_σ, and room for V^{k+1}.
struct InnerState<'t> {
    target: &'t [f64],
    d: usize,
    tracker: Tracker,
    v: Vec<f64>,
    /// V^{k+1}, written by the gradient step while V^k is still observed and returned.
    next: Vec<f64>,
    /// W_σ gathered once per change of σ, so the update is one flat loop.
    pulled_to: Vec<f64>,
}

impl<'t> InnerState<'t> {
    /// V⁰ = W (= `target`).
    fn new(target: &'t [f64], d: usize, tracker: Tracker) -> InnerState<'t> {
        let mut pulled_to = vec![0.0; target.len()];
        gather_targets(target, tracker.sigma(), d, &mut pulled_to);
        InnerState { target, d, tracker, v: target.to_vec(), next: vec![0.0; target.len()], pulled_to }
    }

    /// Makes σ right for V^k (and W_σ with it).
    #[inline]
    fn update_assignment(&mut self) -> NumResult<()> {
        if self.tracker.update(&self.v)? {
            gather_targets(self.target, self.tracker.sigma(), self.d, &mut self.pulled_to);
        }
        Ok(())
    }

    fn finish(self, k: u64, loss: f64, residual_sq: f64, cycles: CycleDetector) -> InnerOutcome {
        InnerOutcome {
            iterations: k,
            residual: residual_sq.sqrt(),
            loss,
            assignment: self.tracker.sigma().to_vec(),
            stats: self.tracker.stats(),
            cycle: cycles.jumped,
            position_cycle: cycles.position_cycle,
            skipped_iterations: cycles.skipped,
            v: self.v,
        }
    }
}

/// W_σ: row i of `out` is row σ(i) of `target`.
fn gather_targets(target: &[f64], sigma: &[usize], d: usize, out: &mut [f64]) {
    if d == 2 {
        // Called at nearly every Wasserstein iteration: no per-row memcpy call.
        for (oi, &s) in out.chunks_exact_mut(2).zip(sigma) {
            (oi[0], oi[1]) = (target[2 * s], target[2 * s + 1]);
        }
        return;
    }
    for (oi, &s) in out.chunks_exact_mut(d).zip(sigma) {
        oi.copy_from_slice(&target[s * d..(s + 1) * d]);
    }
}

/// grad ← ∇F(V) + κ (V − W_σ) in place (`pulled_to` = W_σ); returns its squared norm (the
/// stationarity residual²), summed in 4 interleaved lanes (fixed order, vectorisable).
#[inline]
fn add_proximal_gradient(grad: &mut [f64], v: &[f64], pulled_to: &[f64], kappa: f64) -> f64 {
    for ((g, x), y) in grad.iter_mut().zip(v).zip(pulled_to) {
        *g += kappa * (x - y);
    }
    let mut lanes = [0.0; 4];
    let chunks = grad.chunks_exact(4);
    let tail: f64 = chunks.remainder().iter().map(|g| g * g).sum();
    for c in chunks {
        for l in 0..4 {
            lanes[l] += c[l] * c[l];
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

/// The stationarity residual ‖∇F(V) + κ (V − W_σ)‖ recomputed from scratch (for checks).
pub fn stationarity_residual<O: Objective>(
    objective: &O,
    v: &[f64],
    target: &[f64],
    sigma: &[usize],
    kappa: f64,
) -> f64 {
    let (m, d) = (objective.num_particles(), objective.particle_dim());
    let fits = v.len() == m * d && target.len() == m * d;
    if !fits || !AssignmentGroups::all(m).admits(sigma) {
        return f64::NAN;
    }
    let mut grad = vec![0.0; v.len()];
    let mut pulled_to = vec![0.0; v.len()];
    gather_targets(target, sigma, d, &mut pulled_to);
    let mut ws = objective.workspace();
    objective.value_and_gradient(v, &mut grad, &mut ws);
    add_proximal_gradient(&mut grad, v, &pulled_to, kappa).sqrt()
}

/// `steps` prox steps from W⁰.
pub fn prox_path<O: Objective>(
    objective: &O,
    w0: ArrayView2<f64>,
    config: ProxConfig,
    steps: usize,
) -> NumResult<ProxPath> {
    let mut solver = ProxSolver::new(objective, config)?;
    check_particles(objective, w0)?;
    let mut path = ProxPath { iterates: vec![w0.to_owned()], reports: Vec::with_capacity(steps) };
    for t in 0..steps {
        let outcome = solver.prox_step(path.iterates[t].view(), t, &mut NoObserver)?;
        path.iterates.push(outcome.w);
        path.reports.push(outcome.report);
    }
    Ok(path)
}
