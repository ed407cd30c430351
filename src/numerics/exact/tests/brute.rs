//! Brute force over every region (all sector combinations) at m ≤ 4.

use super::*;

/// Every region's optimum value, indexed by the sector code Σ_i s_i R^i.
struct Regions {
    values: Vec<f64>,
    count: usize,
    m: usize,
}

impl Regions {
    fn solve_all(setup: &Setup, geo: &Sectors, t: &[[f64; 2]], rho: f64) -> (Regions, Vec<Vec<[f64; 2]>>) {
        let (m, count) = (setup.m(), geo.count());
        let mut work = RegionWork::default();
        work.resize(m, setup.n(), count);
        let (mut values, mut points) = (vec![], vec![]);
        for code in 0..count.pow(m as u32) {
            let sector: Vec<usize> = (0..m).map(|i| (code / count.pow(i as u32)) % count).collect();
            work.u.iter_mut().for_each(|u| *u = 0.0);
            work.solve(&Region { setup, geo, target: t, sector: &sector, rho });
            values.push(phi(setup, &work.v, t, rho));
            points.push(work.v.clone());
        }
        (Regions { values, count, m }, points)
    }

    fn global_min(&self) -> f64 {
        self.values.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// min of the region optima over every region that contains V (V's pieces of Φ).
    fn min_around(&self, geo: &Sectors, v: &[[f64; 2]]) -> f64 {
        let holding: Vec<Vec<usize>> = v
            .iter()
            .map(|vi| (0..self.count).filter(|&s| *vi == [0.0, 0.0] || in_sector_loose(geo, s, *vi)).collect())
            .collect();
        let mut best = f64::INFINITY;
        let mut idx = vec![0usize; self.m];
        loop {
            let code: usize = (0..self.m).map(|i| holding[i][idx[i]] * self.count.pow(i as u32)).sum();
            best = best.min(self.values[code]);
            let Some(i) = (0..self.m).find(|&i| idx[i] + 1 < holding[i].len()) else { break };
            idx[i] += 1;
            idx[..i].iter_mut().for_each(|k| *k = 0);
        }
        best
    }
}

/// In closed sector s up to the kink tolerance of the ray test.
fn in_sector_loose(geo: &Sectors, s: usize, v: [f64; 2]) -> bool {
    let tol = 1e-9 * dot(v, v).sqrt();
    let (r1, r2) = (geo.rays[s], geo.rays[(s + 1) % geo.count()]);
    cross(r1, v) >= -tol && cross(v, r2) >= -tol
}

/// Whether the ray test passes at every neuron of V.
fn ray_test_passes(setup: &Setup, geo: &Sectors, v: &[[f64; 2]], t: &[[f64; 2]], rho: f64) -> bool {
    let mut f = vec![0.0; setup.n()];
    setup.outputs(v, &mut f);
    let e: Vec<f64> = f.iter().zip(&setup.y).map(|(a, b)| a - b).collect();
    (0..setup.m()).all(|i| Slope::new(setup, rho, v[i], t[i], setup.alpha[i], &e).min_over(geo).0 >= -RAY_TOL)
}

struct Case {
    net: ReluNet,
    data: Data,
    w: Array2<f64>,
    gamma: f64,
}

fn cases() -> Vec<Case> {
    let mut out = vec![];
    for seed in 0..3u64 {
        for (g, gamma) in [1.0, 0.1, 1e-2, 1e-3].into_iter().enumerate() {
            let m = 2 + (seed as usize + g) % 3;
            let scale = [0.02, 0.3, 1.0][(seed as usize + g) % 3];
            let net = ReluNet::alternating(m, Scaling::Sum, LossNorm::Mse);
            out.push(Case { net, data: Data::sine(5), w: gaussian_init(m, 2, scale, seed), gamma });
        }
    }
    out
}

#[test]
fn at_small_m_local_steps_are_brute_force_local_minima_and_global_steps_the_global_minimum() {
    let (mut certified_global, mut local_minima) = (0, 0);
    for (c, case) in cases().iter().enumerate() {
        let problem = ReluProblem::new(&case.net, &case.data).expect("problem");
        let setup = Setup::new(&problem).expect("d = 2");
        let geo = Sectors::new(&setup.x).expect("sectors");
        let (m, rho) = (case.net.m(), 1.0 / (case.net.m() as f64 * case.gamma));
        let t = rows(&case.w);
        let (regions, points) = Regions::solve_all(&setup, &geo, &t, rho);
        let scale = regions.global_min().abs().max(1.0);
        let mut ws = ExactWorkspace::new();
        let mut rng = ChaCha8Rng::seed_from_u64(c as u64);
        for solver in [ExactSolver::Local, ExactSolver::Global] {
            let cfg = ExactProxConfig::new(case.gamma, ProxDistance::Frobenius, solver);
            let mut starts = vec![case.w.clone()];
            starts.extend((0..6).map(|_| to_array(&random_points(&mut rng, m, 1.5))));
            for start in &starts {
                let r = polish(&problem, case.w.view(), start.view(), &cfg, &mut ws).expect("step");
                let v = rows(&r.v);
                assert!((phi(&setup, &v, &t, rho) - r.objective).abs() <= 1e-13 * scale);
                assert!(r.objective >= regions.global_min() - 1e-12 * scale, "case {c}: below the brute-force minimum");
                if solver == ExactSolver::Local {
                    assert!(r.certified, "case {c}: uncertified local step");
                    assert!(
                        regions.min_around(&geo, &v) >= r.objective - 1e-10 * scale,
                        "case {c}: not a local minimum"
                    );
                    local_minima += 1;
                } else {
                    let (bound, gap) = (r.lower_bound.expect("bound"), r.gap.expect("gap"));
                    assert!(bound <= regions.global_min() + 1e-12 * scale, "case {c}: bound above the minimum");
                    assert!((gap - (r.objective - bound)).abs() <= 1e-15 * scale);
                    if r.certified {
                        assert!(
                            r.objective <= regions.global_min() + 2e-9 * scale,
                            "case {c}: certified but not global"
                        );
                        certified_global += 1;
                    }
                }
            }
        }
        // The certificate is exact on this problem: a region optimum passes the ray test iff it
        // is a brute-force local minimum (no region around it goes lower).
        for (v, value) in points.iter().zip(&regions.values) {
            let around = regions.min_around(&geo, v);
            let passes = ray_test_passes(&setup, &geo, v, &t, rho);
            if passes {
                assert!(around >= value - 1e-10 * scale, "case {c}: ray test passed at a non-minimum");
            } else {
                assert!(around < value - 1e-13 * scale, "case {c}: ray test failed at a local minimum");
            }
        }
    }
    assert_eq!(local_minima, 12 * 7);
    assert!(certified_global >= 12 * 7 / 2, "certified global steps: {certified_global} of 84");
}
