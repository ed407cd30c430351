//! Parameter vocabularies shared by several stage kinds, spelled as in pipeline.yaml.

use serde::{Deserialize, Serialize};

use crate::numerics::model::{LossNorm, Scaling};
use crate::numerics::prox::ProxDistance;

/// `loss_norm: mse | half_mse`: (1/n) Σ e² or (1/(2n)) Σ e².
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossNormParam {
    Mse,
    HalfMse,
}

impl LossNormParam {
    pub fn as_str(self) -> &'static str {
        match self {
            LossNormParam::Mse => "mse",
            LossNormParam::HalfMse => "half_mse",
        }
    }
}

impl From<LossNormParam> for LossNorm {
    fn from(p: LossNormParam) -> LossNorm {
        match p {
            LossNormParam::Mse => LossNorm::Mse,
            LossNormParam::HalfMse => LossNorm::HalfMse,
        }
    }
}

/// `scaling: sum | mean`: f = Σ_i … or the mean-field f = (1/m) Σ_i ….
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingParam {
    Sum,
    Mean,
}

impl From<ScalingParam> for Scaling {
    fn from(p: ScalingParam) -> Scaling {
        match p {
            ScalingParam::Sum => Scaling::Sum,
            ScalingParam::Mean => Scaling::Mean,
        }
    }
}

/// `distance: frobenius | wasserstein`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistanceParam {
    Frobenius,
    Wasserstein,
}

impl DistanceParam {
    pub fn as_str(self) -> &'static str {
        match self {
            DistanceParam::Frobenius => "frobenius",
            DistanceParam::Wasserstein => "wasserstein",
        }
    }
}

impl From<DistanceParam> for ProxDistance {
    fn from(p: DistanceParam) -> ProxDistance {
        match p {
            DistanceParam::Frobenius => ProxDistance::Frobenius,
            DistanceParam::Wasserstein => ProxDistance::Wasserstein,
        }
    }
}
