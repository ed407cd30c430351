//! Sector geometry of one neuron for d = 2 (SPEC §1b): the n lines ⟨v, X_j⟩ = 0 cut R² into closed
//! sectors bounded by critical rays; inside a sector the activation pattern S_j = 1[⟨v, X_j⟩ > 0]
//! is constant, so relu(⟨v, X_j⟩) = S_j ⟨v, X_j⟩ on the whole closed sector.

use crate::numerics::error::{NumResult, NumericsError};
use crate::numerics::model::ReluProblem;

/// The prox problem in the exact solver's terms: f_j = c Σ_i α_i relu(⟨v_i, X_j⟩),
/// Φ(V) = (k/n) Σ_j (f_j − y_j)² + (ρ/2) Σ_i ‖v_i − W_i‖², ρ = (distance factor)/γ.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Setup {
    pub x: Vec<[f64; 2]>,
    pub y: Vec<f64>,
    pub alpha: Vec<f64>,
    /// Output scale c.
    pub c: f64,
    /// Loss factor k.
    pub k: f64,
}

impl Setup {
    /// Error unless the problem is d = 2 (the sector geometry is specific to the plane).
    pub fn new(problem: &ReluProblem) -> NumResult<Setup> {
        let (net, data) = (problem.net(), problem.data());
        if data.d() != 2 {
            return Err(NumericsError::InvalidParameter(format!(
                "exact prox steps need d = 2 (1-D inputs plus a bias), got d = {}; use inner_solver: gd",
                data.d()
            )));
        }
        let x = data.x.rows().into_iter().map(|r| [r[0], r[1]]).collect();
        let (c, k) = (net.output_scale(), net.loss_factor());
        Ok(Setup { x, y: data.y.to_vec(), alpha: net.alpha.clone(), c, k })
    }

    pub fn m(&self) -> usize {
        self.alpha.len()
    }

    pub fn n(&self) -> usize {
        self.y.len()
    }

    /// n/(2k): the curvature of the loss's conjugate, (k/n)‖e‖² = max_u u·e − (n/(4k))‖u‖².
    pub fn dual_curvature(&self) -> f64 {
        self.n() as f64 / (2.0 * self.k)
    }

    /// Outputs f_j and the loss F(V) for V (m rows), writing f into `f`.
    pub fn outputs(&self, v: &[[f64; 2]], f: &mut [f64]) -> f64 {
        let mut sq = 0.0;
        for (j, (xj, fj)) in self.x.iter().zip(f.iter_mut()).enumerate() {
            let s: f64 = v.iter().zip(&self.alpha).map(|(vi, a)| a * dot(*vi, *xj).max(0.0)).sum();
            *fj = self.c * s;
            sq += (*fj - self.y[j]).powi(2);
        }
        self.k * sq / self.n() as f64
    }

    /// Φ(V) = F(V) + (ρ/2) Σ_i ‖v_i − T_i‖² for targets T; `f` is scratch (n).
    pub fn objective(&self, v: &[[f64; 2]], target: &[[f64; 2]], rho: f64, f: &mut [f64]) -> f64 {
        let loss = self.outputs(v, f);
        let dist: f64 = v.iter().zip(target).map(|(a, b)| dist2(*a, *b)).sum();
        loss + 0.5 * rho * dist
    }
}

#[inline]
pub(crate) fn dot(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

#[inline]
pub(crate) fn cross(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[1] - a[1] * b[0]
}

#[inline]
pub(crate) fn dist2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

/// Where a projection onto a sector landed: its interior, one of its two boundary rays
/// (0 = ray s, 1 = ray s + 1), or the apex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Face {
    Inside,
    Ray(u8),
    Origin,
}

/// Critical rays sorted by angle and, per sector s (from ray s counter-clockwise to ray s + 1),
/// its activation pattern and the n × n blocks the dual Hessian needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sectors {
    pub rays: Vec<[f64; 2]>,
    angles: Vec<f64>,
    /// R × n, 0/1: S_sj.
    pub pattern: Vec<f64>,
    /// R × n × n: S_sj S_sl ⟨X_j, X_l⟩ (Hessian block of an interior neuron).
    pub gram: Vec<f64>,
    /// R × 2 × n: S_sj ⟨X_j, r⟩ for r = ray s, ray s + 1 (a neuron on that ray: q qᵀ).
    pub ray_dots: Vec<f64>,
    /// Directions tested by the ray test besides the rays (the bisectors when a sector is a
    /// half-plane, n distinct lines = 1: a linear map ≥ 0 on both rays may still be < 0 inside).
    pub extra_tests: Vec<[f64; 2]>,
    n: usize,
}

impl Sectors {
    /// Error if no X_j is nonzero (no line, no sector).
    pub fn new(x: &[[f64; 2]]) -> NumResult<Sectors> {
        let n = x.len();
        let mut rays: Vec<(f64, [f64; 2])> = vec![];
        for xj in x {
            let norm = dot(*xj, *xj).sqrt();
            if norm > 0.0 {
                let r = [-xj[1] / norm, xj[0] / norm];
                rays.push((r[1].atan2(r[0]), r));
                rays.push(((-r[1]).atan2(-r[0]), [-r[0], -r[1]]));
            }
        }
        if rays.is_empty() {
            return Err(NumericsError::InvalidParameter("exact prox: every input X_j is zero".into()));
        }
        rays.sort_by(|a, b| a.0.total_cmp(&b.0));
        rays.dedup_by(|a, b| a.0 == b.0);
        let count = rays.len();
        let (angles, rays): (Vec<f64>, Vec<[f64; 2]>) = rays.into_iter().unzip();
        let mut sectors = Sectors {
            rays,
            angles,
            pattern: vec![0.0; count * n],
            gram: vec![0.0; count * n * n],
            ray_dots: vec![0.0; count * 2 * n],
            extra_tests: vec![],
            n,
        };
        sectors.fill_tables(x);
        Ok(sectors)
    }

    fn fill_tables(&mut self, x: &[[f64; 2]]) {
        let (n, count) = (self.n, self.count());
        for s in 0..count {
            let mid = self.bisector(s);
            if count == 2 {
                self.extra_tests.push(mid);
            }
            for (j, xj) in x.iter().enumerate() {
                self.pattern[s * n + j] = f64::from(u8::from(dot(mid, *xj) > 0.0));
            }
            for j in 0..n {
                let sj = self.pattern[s * n + j];
                for l in 0..n {
                    self.gram[(s * n + j) * n + l] = sj * self.pattern[s * n + l] * dot(x[j], x[l]);
                }
                for (e, r) in [self.rays[s], self.rays[(s + 1) % count]].iter().enumerate() {
                    self.ray_dots[(s * 2 + e) * n + j] = sj * dot(x[j], *r);
                }
            }
        }
    }

    /// Number of rays = number of sectors.
    pub fn count(&self) -> usize {
        self.rays.len()
    }

    /// The unit direction halfway through sector s.
    fn bisector(&self, s: usize) -> [f64; 2] {
        let count = self.count();
        let mut width = self.angles[(s + 1) % count] - self.angles[s];
        if width <= 0.0 {
            width += std::f64::consts::TAU;
        }
        let a = self.angles[s] + 0.5 * width;
        [a.cos(), a.sin()]
    }

    /// S_sj for sector s.
    pub fn pattern_of(&self, s: usize) -> &[f64] {
        &self.pattern[s * self.n..(s + 1) * self.n]
    }

    /// A closed sector containing v (the origin is in all: sector 0).
    pub fn sector_of(&self, v: [f64; 2]) -> usize {
        if v == [0.0, 0.0] {
            return 0;
        }
        let a = v[1].atan2(v[0]);
        let after = self.angles.partition_point(|&t| t <= a);
        if after == 0 {
            self.count() - 1
        } else {
            after - 1
        }
    }

    /// The ray whose direction is nearest to v's (v ≠ 0).
    pub fn nearest_ray(&self, v: [f64; 2]) -> usize {
        let mut best = (f64::NEG_INFINITY, 0);
        for (q, r) in self.rays.iter().enumerate() {
            let c = dot(*r, v);
            if c > best.0 {
                best = (c, q);
            }
        }
        best.1
    }

    /// Euclidean projection of p onto closed sector s (a convex cone of angle ≤ π): p itself if
    /// inside, else the nearer of its projections onto the two boundary rays, else the apex.
    #[inline]
    pub fn project(&self, s: usize, p: [f64; 2]) -> ([f64; 2], Face) {
        let r1 = self.rays[s];
        let r2 = self.rays[(s + 1) % self.count()];
        if cross(r1, p) >= 0.0 && cross(p, r2) >= 0.0 {
            return (p, Face::Inside);
        }
        let (t1, t2) = (dot(p, r1), dot(p, r2));
        if t1 <= 0.0 && t2 <= 0.0 {
            ([0.0, 0.0], Face::Origin)
        } else if t1 >= t2 {
            ([t1 * r1[0], t1 * r1[1]], Face::Ray(0))
        } else {
            ([t2 * r2[0], t2 * r2[1]], Face::Ray(1))
        }
    }

    /// min over v in sector s of b·v + (ρ/2)‖v − t‖² and its minimiser (SPEC §1b: a projection).
    #[inline]
    pub fn sector_minimum(&self, s: usize, b: [f64; 2], t: [f64; 2], rho: f64) -> (f64, [f64; 2], Face) {
        let p = [t[0] - b[0] / rho, t[1] - b[1] / rho];
        let (v, face) = self.project(s, p);
        (dot(b, v) + 0.5 * rho * dist2(v, t), v, face)
    }
}
