//! wgf: gradient flows of two-layer ReLU networks — plain gradient descent, the Frobenius and Wasserstein
//! proximal point methods on particles, and an entropic JKO scheme on a grid — as one declarative, cached
//! pipeline.
//!
//! Layers, dependencies pointing down only: [`cli`] → [`pipeline`] → [`experiments`] → [`numerics`];
//! [`figures`] and [`results`] read what the pipeline stored. [`tables`] (table schemas and column helpers) is a
//! leaf that experiments, figures and results all use.

pub mod cli;
pub mod experiments;
pub mod figures;
pub mod numerics;
pub mod pipeline;
pub mod results;
pub mod tables;

/// The polars and plotters this crate is built with, re-exported so notebooks (`:dep wgf`) query and plot with
/// exactly the same versions and features: `use wgf::polars::prelude::*;`.
pub use plotters;
pub use polars;
