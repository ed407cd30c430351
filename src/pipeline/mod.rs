//! The declarative pipeline: YAML spec → validated plan → content-hash keys → store → runner.

pub mod clean;
pub mod key;
pub mod params_diff;
pub mod plan;
pub mod progress;
pub mod runner;
pub mod slurm;
pub mod spec;
pub mod status;
pub mod store;
pub mod yaml;
