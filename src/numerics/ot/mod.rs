//! Entropic optimal transport on a 2-D parameter grid (seed 001 §9, METHODS.md E5).
//!
//! - [`grid`]: the grid θ = (w, b), densities, the ReLU feature map Φ;
//! - [`gibbs`]: the Gibbs kernel ξ = exp(−c/ε), separable and log-domain;
//! - [`sinkhorn`]: entropic OT between two grid densities;
//! - [`kl_prox`]: objectives f with their KL proximal maps;
//! - [`jko`]: the entropic JKO step (Peyré 2015, Algorithm 1 of seed 001) and a flow loop.
//!
//! Everything is single-threaded and deterministic: a result is bit-identical on every
//! rerun on the same machine, whatever the thread count of the caller.

pub mod error;
pub mod gibbs;
pub mod grid;
pub mod jko;
pub mod kl_prox;
pub mod sinkhorn;

pub use error::OtError;
