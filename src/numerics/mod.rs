//! Numerical core of wgf: the two-layer ReLU model, linear assignment / Wasserstein distances,
//! gradient descent and Frobenius / Wasserstein proximal point steps on particles, and the
//! two-point toy of SPEC E1, and ot/ (entropic optimal transport and JKO on a grid, SPEC E5). Pure computation:
//! no I/O, no serde, no polars, no threads, deterministic.

pub mod assignment;
pub mod descent;
pub mod error;
pub mod exact;
pub mod model;
pub mod objective;
pub mod ot;
pub mod prox;
pub mod two_point;

pub use error::NumericsError;
