//! The prox objective on one region (a product of sectors) is a strongly convex quadratic; it is
//! minimised exactly through its n-dimensional dual (SPEC §1b). With (k/n)‖e‖² = max_u u·e −
//! (n/(4k))‖u‖² and b_i(u) = c α_i Σ_j S_ij u_j X_j,
//!   g(u) = −(n/(4k))‖u‖² − u·y + Σ_i min_{v ∈ K_i} [b_i·v + (ρ/2)‖v − T_i‖²],
//! each inner minimum being the projection of T_i − b_i/ρ onto the sector K_i. g is concave and
//! C¹ with ∇g = −(n/(2k))u − y + f(V(u)) and generalised Hessian −H,
//!   H = (n/(2k)) I + (c²/ρ) Σ_i α_i² M_i D_i M_iᵀ   (M_i rows S_ij X_j; D_i = I, d dᵀ or 0),
//! so semismooth Newton with Armijo backtracking converges (finitely once the faces settle:
//! g is piecewise quadratic). Strong duality on the region: V(u*) is the region minimiser.

use super::sectors::{dot, Face, Sectors, Setup};

/// Newton iterations per region solve before giving up (the prototype needed 3–5; a cap only
/// guards against rounding cycles, the primal V(u) is feasible whenever it stops).
const MAX_NEWTON: usize = 100;

/// Buffers of the region solve (sized once; the solve allocates nothing).
#[derive(Debug, Clone, Default)]
pub(crate) struct RegionWork {
    /// Dual variable u (warm start in, optimum out).
    pub u: Vec<f64>,
    /// V(u) and where each projection landed.
    pub v: Vec<[f64; 2]>,
    pub faces: Vec<Face>,
    grad: Vec<f64>,
    f: Vec<f64>,
    z: Vec<[f64; 2]>,
    acc: Vec<[f64; 2]>,
    trial_u: Vec<f64>,
    trial_v: Vec<[f64; 2]>,
    trial_faces: Vec<Face>,
    trial_grad: Vec<f64>,
    h: Vec<f64>,
    dir: Vec<f64>,
    weights: Vec<[f64; 3]>,
}

/// The region: sectors of every neuron, targets T_i and ρ.
pub(crate) struct Region<'a> {
    pub setup: &'a Setup,
    pub geo: &'a Sectors,
    pub target: &'a [[f64; 2]],
    pub sector: &'a [usize],
    pub rho: f64,
}

impl RegionWork {
    pub fn resize(&mut self, m: usize, n: usize, sectors: usize) {
        for b in [&mut self.u, &mut self.grad, &mut self.f, &mut self.trial_u, &mut self.trial_grad, &mut self.dir] {
            b.resize(n, 0.0);
        }
        for b in [&mut self.v, &mut self.trial_v] {
            b.resize(m, [0.0; 2]);
        }
        for b in [&mut self.faces, &mut self.trial_faces] {
            b.resize(m, Face::Inside);
        }
        self.z.resize(sectors, [0.0; 2]);
        self.acc.resize(sectors, [0.0; 2]);
        self.weights.resize(sectors, [0.0; 3]);
        self.h.resize(n * n, 0.0);
    }

    /// Warm start u = (2k/n) e(V), the optimality relation u* = (2k/n)(f(V*) − y).
    pub fn warm_start(&mut self, setup: &Setup, v: &[[f64; 2]]) {
        setup.outputs(v, &mut self.f);
        let scale = 1.0 / setup.dual_curvature();
        for ((u, f), y) in self.u.iter_mut().zip(&self.f).zip(&setup.y) {
            *u = scale * (f - y);
        }
    }

    /// Maximises g from the current u; V(u*) is left in `v`. Returns (g(u*), Newton iterations).
    pub fn solve(&mut self, region: &Region) -> (f64, u64) {
        let mut g = self.evaluate(region, false);
        let scale = region.setup.y.iter().chain(&self.f).fold(1.0f64, |a, b| a.max(b.abs()));
        let tol = 1e-14 * scale;
        let mut iterations = 0u64;
        while iterations < MAX_NEWTON as u64 {
            let norm = norm2(&self.grad);
            if norm <= tol {
                break;
            }
            iterations += 1;
            self.newton_direction(region);
            let slope: f64 = self.grad.iter().zip(&self.dir).map(|(a, b)| a * b).sum();
            let (mut t, mut accepted) = (1.0, None);
            while t > 1e-20 {
                for ((tu, u), d) in self.trial_u.iter_mut().zip(&self.u).zip(&self.dir) {
                    *tu = u + t * d;
                }
                let trial = self.evaluate(region, true);
                let slack = 4.0 * f64::EPSILON * g.abs();
                let armijo = trial >= g + 1e-4 * t * slope - slack;
                if armijo || (t == 1.0 && norm2(&self.trial_grad) <= 0.5 * norm) {
                    accepted = Some((trial, t));
                    break;
                }
                t *= 0.5;
            }
            let Some((trial, t)) = accepted else { break };
            let same_faces = self.faces == self.trial_faces;
            self.accept_trial();
            g = trial;
            // A full step on unchanged faces solved the quadratic exactly; if the gradient did not
            // halve, what is left is rounding.
            if t == 1.0 && same_faces && norm2(&self.grad) > 0.5 * norm {
                break;
            }
        }
        (g, iterations)
    }

    fn accept_trial(&mut self) {
        std::mem::swap(&mut self.u, &mut self.trial_u);
        std::mem::swap(&mut self.v, &mut self.trial_v);
        std::mem::swap(&mut self.faces, &mut self.trial_faces);
        std::mem::swap(&mut self.grad, &mut self.trial_grad);
    }

    /// g at u (or at trial_u), writing V(u), faces, f and ∇g into the matching buffers.
    fn evaluate(&mut self, region: &Region, trial: bool) -> f64 {
        let Region { setup, geo, target, sector, rho } = *region;
        let n = setup.n();
        let (u, v, faces, grad) = if trial {
            (&self.trial_u, &mut self.trial_v, &mut self.trial_faces, &mut self.trial_grad)
        } else {
            (&self.u, &mut self.v, &mut self.faces, &mut self.grad)
        };
        for (s, z) in self.z.iter_mut().enumerate() {
            let pattern = geo.pattern_of(s);
            *z = [0.0; 2];
            for j in 0..n {
                let w = pattern[j] * u[j];
                z[0] += w * setup.x[j][0];
                z[1] += w * setup.x[j][1];
            }
        }
        self.acc.iter_mut().for_each(|a| *a = [0.0; 2]);
        let mut inner = 0.0;
        for i in 0..setup.m() {
            let (s, ca) = (sector[i], setup.c * setup.alpha[i]);
            let b = [ca * self.z[s][0], ca * self.z[s][1]];
            let (value, vi, face) = geo.sector_minimum(s, b, target[i], rho);
            inner += value;
            (v[i], faces[i]) = (vi, face);
            self.acc[s][0] += setup.alpha[i] * vi[0];
            self.acc[s][1] += setup.alpha[i] * vi[1];
        }
        let curvature = setup.dual_curvature();
        let mut g = inner;
        for j in 0..n {
            let mut fj = 0.0;
            for (s, a) in self.acc.iter().enumerate() {
                fj += geo.pattern[s * n + j] * dot(*a, setup.x[j]);
            }
            self.f[j] = setup.c * fj;
            grad[j] = -curvature * u[j] - setup.y[j] + self.f[j];
            g -= 0.5 * curvature * u[j] * u[j] + u[j] * setup.y[j];
        }
        g
    }

    /// Solves H dir = ∇g (H from the faces at u).
    fn newton_direction(&mut self, region: &Region) {
        let Region { setup, geo, rho, sector, .. } = *region;
        let n = setup.n();
        self.weights.iter_mut().for_each(|w| *w = [0.0; 3]);
        for i in 0..setup.m() {
            let a2 = setup.alpha[i] * setup.alpha[i];
            match self.faces[i] {
                Face::Inside => self.weights[sector[i]][0] += a2,
                Face::Ray(e) => self.weights[sector[i]][1 + e as usize] += a2,
                Face::Origin => {}
            }
        }
        self.h.iter_mut().for_each(|h| *h = 0.0);
        let factor = setup.c * setup.c / rho;
        for (s, w) in self.weights.iter().enumerate() {
            if w[0] != 0.0 {
                let block = &geo.gram[s * n * n..(s + 1) * n * n];
                self.h.iter_mut().zip(block).for_each(|(h, b)| *h += factor * w[0] * b);
            }
            for e in 0..2 {
                if w[1 + e] != 0.0 {
                    let q = &geo.ray_dots[(s * 2 + e) * n..(s * 2 + e + 1) * n];
                    for j in 0..n {
                        for l in 0..n {
                            self.h[j * n + l] += factor * w[1 + e] * q[j] * q[l];
                        }
                    }
                }
            }
        }
        for j in 0..n {
            self.h[j * n + j] += setup.dual_curvature();
        }
        self.dir.copy_from_slice(&self.grad);
        cholesky_solve(&mut self.h, &mut self.dir, n);
    }
}

pub(crate) fn norm2(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Solves A x = b in place for symmetric positive definite A (n × n, overwritten by its
/// Cholesky factor). H ⪰ (n/(2k)) I, so the pivots stay positive.
pub(crate) fn cholesky_solve(a: &mut [f64], b: &mut [f64], n: usize) {
    for j in 0..n {
        let mut d = a[j * n + j];
        for p in 0..j {
            d -= a[j * n + p] * a[j * n + p];
        }
        let d = d.max(f64::MIN_POSITIVE).sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for p in 0..j {
                s -= a[i * n + p] * a[j * n + p];
            }
            a[i * n + j] = s / d;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for p in 0..i {
            s -= a[i * n + p] * b[p];
        }
        b[i] = s / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for p in i + 1..n {
            s -= a[p * n + i] * b[p];
        }
        b[i] = s / a[i * n + i];
    }
}
