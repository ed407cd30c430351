//! pipeline.yaml → typed stage declarations, every error with its file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::slurm::options::{ExecutorName, SlurmOptions};
use super::yaml::{self, LocatedDocument, Location};

/// One problem in the pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    pub file: PathBuf,
    pub location: Option<Location>,
    /// Where in the document, e.g. `stages[1].params.gamma` (empty for the file as a whole).
    pub path: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.location {
            write!(f, ":{}:{}", l.line, l.col)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All problems found before anything runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{} problem{} in the pipeline file; nothing was run:", n, if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    stages: Vec<StageDecl>,
    #[serde(default)]
    executor: ExecutorName,
    #[serde(default)]
    slurm: SlurmOptions,
}

/// A stage as declared, before sweeps are expanded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDecl {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub about: Option<String>,
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Cartesian product over listed values.
    #[serde(default)]
    pub sweep: Map<String, Value>,
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Overrides of the top-level `slurm:` options for this stage's array jobs.
    #[serde(default)]
    pub slurm: SlurmOptions,
}

/// The declarations and the located document they came from.
pub struct Declared {
    pub file: PathBuf,
    pub doc: LocatedDocument,
    pub stages: Vec<StageDecl>,
    /// The executor `wgf run` uses when `--executor` is not given.
    pub executor: ExecutorName,
    pub slurm: SlurmOptions,
}

impl Declared {
    /// An error located at `path` in the document.
    pub fn error(&self, path: &str, message: impl Into<String>) -> SpecError {
        SpecError {
            file: self.file.clone(),
            location: Some(self.doc.locate(path)),
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// Reads and parses the pipeline file into declarations (structure and types only; meaning is checked in plan).
pub fn read(file: &Path) -> Result<Declared, SpecErrors> {
    let whole = |message: String| {
        SpecErrors(vec![SpecError { file: file.into(), location: None, path: String::new(), message }])
    };
    let text = read_bounded(file).map_err(|e| {
        whole(match e.kind() {
            std::io::ErrorKind::NotFound => {
                "file not found; run wgf from the project root or pass --pipeline FILE".into()
            }
            std::io::ErrorKind::FileTooLarge => e.to_string(),
            _ => format!("cannot read the file: {e}"),
        })
    })?;
    parse(file, &text)
}

/// Largest pipeline file read: the repository's is 4.5 KB; `--pipeline /dev/zero` must not read gigabytes.
pub const MAX_PIPELINE_BYTES: u64 = 1 << 20;

fn read_bounded(file: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(file)?.take(MAX_PIPELINE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_PIPELINE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {} KiB; is this the pipeline file?", MAX_PIPELINE_BYTES >> 10),
        ));
    }
    // A byte-order mark (some Windows editors) is not part of the first key.
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

pub fn parse(file: &Path, text: &str) -> Result<Declared, SpecErrors> {
    let doc = yaml::parse(text).map_err(|e| {
        SpecErrors(vec![SpecError {
            file: file.into(),
            location: Some(e.location),
            path: String::new(),
            message: format!("YAML syntax: {}", e.message),
        }])
    })?;
    if !doc.value.is_object() || doc.value.get("stages").is_none() {
        return Err(SpecErrors(vec![SpecError {
            file: file.into(),
            location: Some(doc.locate("")),
            path: String::new(),
            message: "expected a mapping with a `stages:` list at the top".into(),
        }]));
    }
    match serde_path_to_error::deserialize::<_, PipelineFile>(&doc.value) {
        Ok(p) => Ok(Declared { file: file.into(), doc, stages: p.stages, executor: p.executor, slurm: p.slurm }),
        Err(e) => {
            let path = e.path().to_string();
            let message = explain_serde(&e.inner().to_string());
            let location = Some(doc.locate(&path));
            Err(SpecErrors(vec![SpecError { file: file.into(), location, path, message }]))
        }
    }
}

/// Adds a did-you-mean to serde's "unknown field `x`, expected one of `a`, `b`" style messages.
pub fn explain_serde(message: &str) -> String {
    let names: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let msg = message.replace("invalid type: ", "wrong type: ");
    match names.split_first() {
        Some((bad, expected)) if msg.starts_with("unknown") => match did_you_mean(bad, expected) {
            Some(s) => format!("{msg} (did you mean `{s}`?)"),
            None => msg,
        },
        _ => msg,
    }
}

/// The closest candidate within a small edit distance.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("gama", &["gamma", "steps"]), Some("gamma"));
        assert_eq!(did_you_mean("zzz", &["gamma", "steps"]), None);
        let m = explain_serde("unknown field `sweeep`, expected one of `name`, `kind`, `sweep`");
        assert!(m.ends_with("(did you mean `sweep`?)"), "{m}");
    }

    #[test]
    fn unknown_top_level_key_is_located() {
        let e = parse(Path::new("p.yaml"), "stages: []\nstagez: 1\n").err().unwrap();
        let e = &e.0[0];
        assert_eq!(e.location.map(|l| l.line), Some(2), "{e}");
        assert!(e.message.contains("unknown field `stagez`"), "{e}");
    }
}
