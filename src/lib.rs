//! wgf: gradient flows of two-layer ReLU networks — plain gradient descent, the Frobenius and Wasserstein
//! proximal point methods on particles, and an entropic JKO scheme on a grid — as one declarative, cached
//! pipeline.
//!
//! Layers, dependencies pointing down only: [`cli`] → [`pipeline`] → [`experiments`] → [`numerics`];
//! [`figures`] and [`results`] read what the pipeline stored.

pub mod cli;
pub mod experiments;
pub mod figures;
pub mod numerics;
pub mod pipeline;
pub mod results;
