//! The Slurm executor: the points a plan still needs are frozen into a plan file under the results directory and
//! submitted as one job array per stage (`--dependency=afterok` on the arrays of its inputs). Each array task runs
//! the hidden `wgf slurm-task` on its slice of points and writes through the same store as the local runner, so
//! the cache, atomic entries and bit-identical tables hold whichever executor computed a point.

pub mod options;
pub mod plan_file;
pub mod queue;
pub mod records;
pub mod script;
pub mod status;
pub mod submit;
pub mod task;
pub mod wait;

/// What went wrong talking to Slurm or preparing a submission.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("cannot run `{command}`: {problem}; is Slurm installed and SLURM_CONF set on this machine?")]
    Command { command: String, problem: String },
    #[error("`{command}` failed: {stderr}{}", hint(stderr))]
    Refused { command: String, stderr: String },
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
}

/// Slurm's client errors when no controller is configured are cryptic (DNS SRV lookups); say what they mean.
fn hint(stderr: &str) -> &'static str {
    if stderr.contains("configuration source") || stderr.contains("Unable to contact slurm controller") {
        "\nthis machine cannot reach a Slurm controller: run on a submit host of your cluster (where `sinfo` works), \
         or set SLURM_CONF"
    } else {
        ""
    }
}
