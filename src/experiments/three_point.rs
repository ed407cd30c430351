//! E2 `three_point` (seed 000 §7): one ReLU neuron, three data points on the line y = 2x, plain GD.
//! With λ = 1 and the half-MSE loss the first step is W¹ = (8, 7/3) (the seed's s_1 = 0 is a typo).

use ndarray::{array, Array2};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::params::LossNormParam;
use super::{check, Experiment, ParamError, RunContext, Table, Validate};
use crate::numerics::model::{Data, ReluNet, Scaling};
use crate::tables::{col, DType, TableSchema};

pub struct ThreePoint;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreePointParams {
    /// GD learning rate λ.
    pub lambda: f64,
    /// Number of GD steps T.
    pub steps: u32,
    /// Initial neuron W⁰ = (w, b).
    #[serde(default = "default_w0")]
    pub w0: [f64; 2],
    /// Slope a of the labels y = a x.
    #[serde(default = "default_slope")]
    pub slope: f64,
    #[serde(default = "default_loss_norm")]
    pub loss_norm: LossNormParam,
}

fn default_w0() -> [f64; 2] {
    [1.0, 0.0]
}
fn default_slope() -> f64 {
    2.0
}
fn default_loss_norm() -> LossNormParam {
    LossNormParam::HalfMse
}

impl Validate for ThreePointParams {
    fn validate(&self) -> Result<(), ParamError> {
        check::positive("lambda", self.lambda)?;
        check::at_least("steps", self.steps.into(), 1)?;
        check::at_most("steps", self.steps.into(), 10_000_000, "one row per step")?;
        if !self.w0.iter().chain([&self.slope]).all(|v| v.is_finite()) {
            return Err(ParamError::new("w0", "must be finite"));
        }
        Ok(())
    }
}

/// The data of SPEC E2: X = [(1,1), (2,1), (4,1)], y = a x.
pub fn three_point_data(slope: f64) -> Data {
    let inputs = array![[1.0], [2.0], [4.0]];
    let y = inputs.column(0).mapv(|x| slope * x);
    Data::from_inputs(inputs.view(), y)
}

/// One GD run: the iterates W⁰ … W^T, their losses and activation patterns.
pub struct GdPath {
    pub w: Vec<[f64; 2]>,
    pub loss: Vec<f64>,
    pub pattern: Vec<String>,
}

pub fn gradient_descent_path(p: &ThreePointParams) -> GdPath {
    let data = three_point_data(p.slope);
    let net = ReluNet { alpha: vec![1.0], scaling: Scaling::Sum, loss_norm: p.loss_norm.into() };
    let mut w = Array2::from_shape_vec((1, 2), p.w0.to_vec()).expect("1 × 2");
    let mut grad = Array2::zeros((1, 2));
    let mut path = GdPath { w: vec![], loss: vec![], pattern: vec![] };
    for step in 0..=p.steps {
        let loss = net.loss_and_gradient(&data, w.view(), grad.view_mut());
        let pattern = net.activation_pattern(&data, w.view()).iter().map(|&s| if s { '1' } else { '0' }).collect();
        path.w.push([w[[0, 0]], w[[0, 1]]]);
        path.loss.push(loss);
        path.pattern.push(pattern);
        if step < p.steps {
            w.scaled_add(-p.lambda, &grad);
        }
    }
    path
}

const LAMBDA: crate::tables::ColumnSchema = col("lambda", DType::F64, "1", "GD learning rate λ");

const ITERATES: TableSchema = TableSchema {
    name: "iterates",
    about: "one row per GD step",
    columns: &[
        LAMBDA,
        col("step", DType::U32, "index", "GD step t (0 = W⁰)"),
        col("w", DType::F64, "1", "weight of the neuron W^t = (w, b)"),
        col("b", DType::F64, "1", "bias of the neuron W^t = (w, b)"),
        col("loss", DType::F64, "1", "F(W^t) in the `loss_norm` normalisation"),
        col("pattern", DType::Str, "label", "activation pattern s_j = 1[w x_j + b > 0] for x = 1, 2, 4, e.g. `111`"),
        col("loss_norm", DType::Str, "label", "`half_mse` = (1/2n) Σ e² or `mse` = (1/n) Σ e²"),
    ],
};

const DATA: TableSchema = TableSchema {
    name: "data",
    about: "one row per data point (repeated per sweep point)",
    columns: &[LAMBDA, col("x", DType::F64, "1", "data input x_j"), col("y", DType::F64, "1", "label y_j = a x_j")],
};

impl Experiment for ThreePoint {
    const KIND: &'static str = "three_point";
    const VERSION: u32 = 1;
    const TABLES: &'static [TableSchema] = &[ITERATES, DATA];
    const ABOUT: &'static str = "E2: one ReLU neuron, three points on y = 2x, plain GD (seed 000 §7)";
    type Params = ThreePointParams;

    fn run(p: &ThreePointParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let path = gradient_descent_path(p);
        let rows = path.w.len();
        let iterates = df!(
            "lambda" => vec![p.lambda; rows],
            "step" => (0..rows as u32).collect::<Vec<_>>(),
            "w" => path.w.iter().map(|w| w[0]).collect::<Vec<_>>(),
            "b" => path.w.iter().map(|w| w[1]).collect::<Vec<_>>(),
            "loss" => path.loss,
            "pattern" => path.pattern,
            "loss_norm" => vec![p.loss_norm.as_str(); rows],
        )?;
        let data = three_point_data(p.slope);
        let data = df!(
            "lambda" => vec![p.lambda; data.n()],
            "x" => data.x.column(0).to_vec(),
            "y" => data.y.to_vec(),
        )?;
        (ctx.progress)(1.0);
        Ok(vec![Table::new("iterates", iterates), Table::new("data", data)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(lambda: f64, steps: u32) -> ThreePointParams {
        ThreePointParams { lambda, steps, w0: default_w0(), slope: 2.0, loss_norm: LossNormParam::HalfMse }
    }

    #[test]
    fn first_step_is_8_and_7_over_3() {
        let path = gradient_descent_path(&params(1.0, 1));
        assert!((path.w[1][0] - 8.0).abs() < 1e-12, "{:?}", path.w[1]);
        assert!((path.w[1][1] - 7.0 / 3.0).abs() < 1e-12, "{:?}", path.w[1]);
        assert_eq!(path.pattern[0], "111", "all three points are active at W⁰ (the seed's s_1 = 0 is a typo)");
        // F(W⁰) = (1/6) (1 + 4 + 16)
        assert!((path.loss[0] - 21.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn small_step_converges_to_the_line() {
        let path = gradient_descent_path(&params(0.1, 2000));
        let last = path.w.last().unwrap();
        assert!((last[0] - 2.0).abs() < 1e-8 && last[1].abs() < 1e-8, "{last:?}");
        assert!(path.loss.windows(2).all(|l| l[1] <= l[0] + 1e-15), "GD with λ < 2/L decreases the loss");
    }
}
