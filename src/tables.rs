//! Result tables: the typed schema each experiment declares once (columns with type, nullability, unit and
//! meaning), the check the runner applies to every table a point produces, the renderings `wgf schema` prints
//! (docs/TABLES.md is the Markdown one, tests/parquet_schema.py reads the JSON one), and the column helpers that
//! experiments, figures and notebooks read tables with.
//!
//! A leaf module: it uses polars and serde, nothing else of this crate, so experiments, results and figures can
//! all depend on it without depending on each other.

use std::collections::BTreeMap;

use polars::prelude::{Column, DataFrame, DataType};
use serde::Serialize;

/// One named result table of a point, e.g. `iterates`.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub frame: DataFrame,
}

impl Table {
    pub fn new(name: &str, frame: DataFrame) -> Table {
        Table { name: name.to_string(), frame }
    }
}

/// The tables of a stage, by table name, all points concatenated in plan order.
pub type StageTables = BTreeMap<String, DataFrame>;

/// A column's type, as written in the docs and the JSON schema (`u64`, `f64`, `str`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    U64,
    U32,
    I8,
    F64,
    Str,
    Bool,
}

impl DType {
    pub fn word(self) -> &'static str {
        match self {
            DType::U64 => "u64",
            DType::U32 => "u32",
            DType::I8 => "i8",
            DType::F64 => "f64",
            DType::Str => "str",
            DType::Bool => "bool",
        }
    }

    /// The polars type a column of this type has in memory.
    pub fn polars(self) -> DataType {
        match self {
            DType::U64 => DataType::UInt64,
            DType::U32 => DataType::UInt32,
            DType::I8 => DataType::Int8,
            DType::F64 => DataType::Float64,
            DType::Str => DataType::String,
            DType::Bool => DataType::Boolean,
        }
    }
}

/// One column of a table: its name, type, whether it may hold nulls, its unit and what it means.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ColumnSchema {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub dtype: DType,
    pub nullable: bool,
    /// `1` for a dimensionless number, `index`, `count`, `s` (seconds), `id` or `label`.
    pub unit: &'static str,
    pub meaning: &'static str,
}

/// A column that never holds nulls; chain [`ColumnSchema::nullable`] for one that may.
pub const fn col(name: &'static str, dtype: DType, unit: &'static str, meaning: &'static str) -> ColumnSchema {
    ColumnSchema { name, dtype, nullable: false, unit, meaning }
}

impl ColumnSchema {
    pub const fn nullable(self) -> ColumnSchema {
        ColumnSchema { nullable: true, ..self }
    }
}

/// One table every point of a kind produces, its columns in order.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TableSchema {
    pub name: &'static str,
    /// What one row is.
    pub about: &'static str,
    pub columns: &'static [ColumnSchema],
}

/// The tables of one stage kind, for `wgf schema`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KindSchema {
    pub kind: &'static str,
    pub about: &'static str,
    pub tables: &'static [TableSchema],
}

/// Checks a point's tables against its kind's declaration: the same tables in the same order, each with the
/// declared columns in order, of the declared types, with nulls only where declared. The error names the table
/// and the column.
pub fn check_tables(declared: &[TableSchema], tables: &[Table]) -> Result<(), String> {
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let expected: Vec<&str> = declared.iter().map(|t| t.name).collect();
    if names != expected {
        return Err(format!("produced tables [{}], declared [{}]", names.join(", "), expected.join(", ")));
    }
    declared.iter().zip(tables).try_for_each(|(schema, table)| check_frame(schema, &table.frame))
}

/// Checks one table against its declaration (see [`check_tables`]).
pub fn check_frame(schema: &TableSchema, frame: &DataFrame) -> Result<(), String> {
    let names: Vec<&str> = frame.columns().iter().map(|c| c.name().as_str()).collect();
    let expected: Vec<&str> = schema.columns.iter().map(|c| c.name).collect();
    if let Some(i) = (0..names.len().max(expected.len())).find(|&i| names.get(i) != expected.get(i)) {
        let (got, want) = (names.get(i).copied().unwrap_or("(none)"), expected.get(i).copied().unwrap_or("(none)"));
        return Err(format!(
            "table `{}`, column {i}: `{got}` where the declaration has `{want}` (columns [{}], declared [{}])",
            schema.name,
            names.join(", "),
            expected.join(", ")
        ));
    }
    for (column, decl) in frame.columns().iter().zip(schema.columns) {
        if column.dtype() != &decl.dtype.polars() {
            return Err(format!(
                "table `{}`, column `{}`: type {}, declared {}",
                schema.name,
                decl.name,
                column.dtype(),
                decl.dtype.word()
            ));
        }
        let nulls = column.null_count();
        if nulls > 0 && !decl.nullable {
            return Err(format!(
                "table `{}`, column `{}`: {nulls} null(s), declared without nulls",
                schema.name, decl.name
            ));
        }
    }
    Ok(())
}

/// The command that regenerates docs/TABLES.md, named by the staleness test and the file itself.
pub const REGENERATE: &str = "cargo run --quiet -- schema > docs/TABLES.md";

/// Every kind's tables as Markdown: the text of docs/TABLES.md.
pub fn markdown(kinds: &[KindSchema]) -> String {
    let mut out = String::from("# Result tables\n\n");
    out.push_str(&format!(
        "<!-- Generated from the table declarations in src/experiments by `{REGENERATE}`; do not edit. -->\n\n"
    ));
    out.push_str(
        "Long format, one Parquet file per table per sweep point; `wgf::results::Results` stacks the points in plan \
         order. The runner checks every table a point produces against these declarations (names, order, types, \
         nulls) before caching it; `wgf schema --json` prints the same as JSON (tests/parquet_schema.py reads it).\n\n\
         Units: `1` a dimensionless number (parameters and losses are dimensionless), `index` counts from 0 (step 0 \
         is the initial point), `count` a number of things, `s` seconds, `id` an identifier, `label` a name.\n",
    );
    for kind in kinds {
        out.push_str(&format!("\n## `{}`\n\n{}\n", kind.kind, kind.about));
        for table in kind.tables {
            out.push_str(&format!("\n### `{}/{}`\n\n{}\n\n", kind.kind, table.name, table.about));
            out.push_str("| column | type | nulls | unit | meaning |\n|---|---|---|---|---|\n");
            for c in table.columns {
                let nulls = if c.nullable { "yes" } else { "" };
                let meaning = c.meaning.replace('|', "\\|");
                out.push_str(&format!("| `{}` | {} | {nulls} | {} | {meaning} |\n", c.name, c.dtype.word(), c.unit));
            }
        }
    }
    out
}

/// Every kind's tables as JSON: `{"kinds": [{"kind", "about", "tables": [{"name", "about", "columns": [{"name",
/// "type", "nullable", "unit", "meaning"}]}]}]}`.
pub fn json(kinds: &[KindSchema]) -> String {
    #[derive(Serialize)]
    struct Document<'a> {
        kinds: &'a [KindSchema],
    }
    serde_json::to_string_pretty(&Document { kinds }).expect("the schema is plain strings and booleans") + "\n"
}

/// A column by name, found by comparing names rather than through the frame's cached schema: in an evcxr notebook
/// a DataFrame kept from an earlier cell can have a schema cache that a later cell's polars code cannot look up in
/// (every column then seems "not found").
fn find_column<'a>(frame: &'a DataFrame, name: &str) -> anyhow::Result<&'a Column> {
    frame.columns().iter().find(|c| c.name().as_str() == name).ok_or_else(|| {
        let names: Vec<&str> = frame.columns().iter().map(|c| c.name().as_str()).collect();
        anyhow::anyhow!("column `{name}` not found; the columns are: {}", names.join(", "))
    })
}

/// A column as `f64`s (integers are converted), with an error naming the column if it is missing or not numeric.
pub fn column_f64(frame: &DataFrame, name: &str) -> anyhow::Result<Vec<f64>> {
    let col = find_column(frame, name)?;
    let col = col.cast(&DataType::Float64).map_err(|e| anyhow::anyhow!("column `{name}` is not numeric: {e}"))?;
    let values = col.f64().map_err(|e| anyhow::anyhow!("column `{name}`: {e}"))?;
    Ok(values.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// A string column, with an error naming the column if it is missing or not text.
pub fn column_str(frame: &DataFrame, name: &str) -> anyhow::Result<Vec<String>> {
    let col = find_column(frame, name)?;
    let values = col.str().map_err(|e| anyhow::anyhow!("column `{name}` is not text: {e}"))?;
    Ok(values.iter().map(|v| v.unwrap_or_default().to_string()).collect())
}

/// The spacing of a regular grid from its coordinates: the smallest gap between distinct values (∞ if fewer than
/// two distinct values).
pub fn grid_spacing(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v.windows(2).map(|p| p[1] - p[0]).fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;

    const STEPS: TableSchema = TableSchema {
        name: "steps",
        about: "one row per step",
        columns: &[
            col("step", DType::U32, "index", "step t"),
            col("distance", DType::Str, "label", "d"),
            col("residual", DType::F64, "1", "r").nullable(),
        ],
    };

    fn frame(step: Vec<u32>, residual: Vec<Option<f64>>) -> DataFrame {
        let n = step.len();
        df!("step" => step, "distance" => vec!["frobenius"; n], "residual" => residual).unwrap()
    }

    #[test]
    fn a_matching_table_passes_nulls_where_declared() {
        check_tables(&[STEPS], &[Table::new("steps", frame(vec![0, 1], vec![None, Some(0.5)]))]).unwrap();
    }

    #[test]
    fn each_kind_of_mismatch_names_table_and_column() {
        let good = frame(vec![0, 1], vec![None, Some(0.5)]);
        let swapped = good.select(["distance", "step", "residual"]).unwrap();
        let missing = good.select(["step", "distance"]).unwrap();
        let wrong_type = df!("step" => [0u64], "distance" => ["w"], "residual" => [1.0]).unwrap();
        const NOT_NULL: TableSchema = TableSchema {
            columns: &[STEPS.columns[0], STEPS.columns[1], col("residual", DType::F64, "1", "r")],
            ..STEPS
        };
        let cases = [
            (check_frame(&STEPS, &swapped), "table `steps`, column 0: `distance` where the declaration has `step`"),
            (check_frame(&STEPS, &missing), "table `steps`, column 2: `(none)` where the declaration has `residual`"),
            (check_frame(&STEPS, &wrong_type), "table `steps`, column `step`: type u64, declared u32"),
            (check_frame(&NOT_NULL, &good), "table `steps`, column `residual`: 1 null(s), declared without nulls"),
            (check_tables(&[STEPS], &[]), "produced tables [], declared [steps]"),
        ];
        for (result, expected) in cases {
            let message = result.expect_err(expected);
            assert!(message.starts_with(expected), "{message}");
        }
    }

    #[test]
    fn markdown_escapes_pipes_and_json_keeps_them() {
        const T: TableSchema =
            TableSchema { name: "t", about: "a", columns: &[col("gap", DType::F64, "1", "|a − b|").nullable()] };
        let kinds = [KindSchema { kind: "k", about: "k about", tables: &[T] }];
        assert!(markdown(&kinds).contains("| `gap` | f64 | yes | 1 | \\|a − b\\| |\n"));
        let parsed: serde_json::Value = serde_json::from_str(&json(&kinds)).unwrap();
        let column = &parsed["kinds"][0]["tables"][0]["columns"][0];
        assert_eq!((column["type"].as_str(), column["nullable"].as_bool()), (Some("f64"), Some(true)));
        assert_eq!(column["meaning"], "|a − b|");
    }

    #[test]
    fn grid_spacing_is_the_smallest_gap() {
        assert_eq!(grid_spacing([0.5, 0.0, 1.0, 0.5].into_iter()), 0.5);
        assert_eq!(grid_spacing([2.0].into_iter()), f64::INFINITY);
    }
}
