//! The step-size question of E7 (docs/FINDINGS.md "E7 Williams et al."): on the adaptive side (δ = 1, 10, +∞) GD
//! with η = fraction / λ_max(tangent kernel at init) stops at L ≈ 1.08 (a three-piece fit) for fractions 0.5 and
//! 0.05, and leaves that plateau only at 0.005 and ≫ 10⁴ steps. Sine, 10 samples, m = 1000, PyTorch-style init:
//!
//!     cargo run --release --example williams_eta      (≈ 30 CPU-s)

use wgf::numerics::model::Data;
use wgf::numerics::williams::*;

fn main() {
    let sine10 = Data::sine(10);
    for delta in [1.0, 10.0, f64::INFINITY] {
        for fraction in [0.5, 0.05, 0.005] {
            for steps in [10_000usize, 100_000] {
                let (start, trained) = prepare(&pytorch_init(1000, 1).expect("init"), delta).expect("δ");
                let problem = WilliamsProblem::new(&sine10, 1000, Normalisation::SqrtM, trained).expect("problem");
                let eta = ntk_step_size(&problem, &start, fraction).expect("η");
                match train(&problem, &start, eta, steps, |_, _| {}) {
                    Ok(out) => {
                        let l = &out.losses;
                        let score = knot_clustering_score(&start, &out.neurons, problem.inputs(), 0.02, 0.01)
                            .expect("score")
                            .unwrap_or(f64::NAN);
                        println!(
                            "δ={delta:<4} fraction={fraction:<6} steps={steps:<6} η={eta:.3e}  L at 0, 1 %, 10 %, \
                             end: {:.3e} {:.3e} {:.3e} {:.3e}  clustering {score:.3}",
                            l[0],
                            l[steps / 100],
                            l[steps / 10],
                            l[steps]
                        );
                    }
                    Err(e) => println!("δ={delta} fraction={fraction}: {e}"),
                }
            }
        }
    }
}
