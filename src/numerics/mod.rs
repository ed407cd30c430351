//! Numerical core of wgf: the two-layer ReLU model, linear assignment / Wasserstein distances,
//! gradient descent and Frobenius / Wasserstein proximal point steps on particles, and the
//! two-point toy of METHODS.md E1, and ot/ (entropic optimal transport and JKO on a grid, METHODS.md E5), and
//! williams/ (the univariate model with trainable a, b, c of E7). Pure computation:
//! no I/O, no serde, no polars, no threads, deterministic.

pub mod assignment;
#[cfg(target_arch = "x86_64")]
mod avx;
pub mod descent;
pub mod error;
pub mod exact;
pub mod model;
pub mod objective;
pub mod ot;
pub mod prox;
pub mod two_point;
pub mod williams;

pub use error::NumericsError;
