//! YAML → `serde_json::Value` with the source location of every node.
//!
//! serde_norway (the maintained serde_yaml fork) reports a line only for syntax and type errors; the pipeline also
//! needs one for semantic errors found later (γ ≤ 0, a cycle, an unknown input). So the file is read once with
//! yaml-rust2's marked event parser into a plain JSON value plus a map from each node's path (in
//! `serde_path_to_error`'s notation, e.g. `stages[1].params.gamma`) to its line and column.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

/// A 1-based line and column in the pipeline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub line: usize,
    pub col: usize,
}

impl Location {
    fn from_marker(m: Marker) -> Self {
        Location { line: m.line(), col: m.col() + 1 }
    }
}

/// A syntax or structure error in the YAML text itself.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub location: Location,
    pub message: String,
}

/// The parsed document and where each of its nodes came from.
#[derive(Debug, Clone)]
pub struct LocatedDocument {
    pub value: Value,
    locations: HashMap<String, Location>,
}

impl LocatedDocument {
    /// The location of `path`, or of its nearest enclosing node that has one.
    pub fn locate(&self, path: &str) -> Location {
        let mut p = path.to_string();
        loop {
            if let Some(loc) = self.locations.get(&p) {
                return *loc;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => return self.locations.get("").copied().unwrap_or(Location { line: 1, col: 1 }),
            }
        }
    }
}

/// Nesting deeper than this is refused: the pipeline needs 5 levels, and deep values are built and dropped by
/// recursion (a 10^5-deep `[[[…` would overflow the stack).
pub const MAX_DEPTH: usize = 64;
/// Nodes after alias expansion: the repository's pipeline.yaml has ≈ 400; a 441-byte alias bomb (9 aliases of 9
/// aliases…) would otherwise expand to 10^9 nodes and several GB.
pub const MAX_NODES: usize = 1_000_000;
/// Total length of the node paths kept for error locations (the repository's pipeline.yaml: ≈ 12 KB).
const MAX_PATH_BYTES: usize = 64 << 20;

/// Parses one YAML document. An empty document is an empty mapping. Events are pulled one at a time (yaml-rust2's
/// `load` recurses once per nesting level) and parsing stops at the first problem.
pub fn parse(text: &str) -> Result<LocatedDocument, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    loop {
        let (ev, mark) = parser
            .next_token()
            .map_err(|e| YamlError { location: Location::from_marker(*e.marker()), message: e.info().to_string() })?;
        let end = ev == Event::StreamEnd;
        builder.on_event(ev, mark);
        if let Some(err) = builder.error.take() {
            return Err(err);
        }
        if end {
            break;
        }
    }
    let value = builder.root.unwrap_or(Value::Object(Map::new()));
    Ok(LocatedDocument { value, locations: builder.locations })
}

/// An open container while events stream in.
enum Frame {
    Seq { items: Vec<Value>, path: String },
    Map { map: Map<String, Value>, path: String, pending_key: Option<String> },
}

#[derive(Default)]
struct Builder {
    stack: Vec<(Frame, usize)>,
    /// Each anchored value with its node count and depth, so an alias is charged for what it expands to.
    anchors: HashMap<usize, (Value, usize, usize)>,
    nodes: usize,
    documents: usize,
    /// Bytes of the located paths: long keys repeated in every child's path must not exhaust memory either.
    path_bytes: usize,
    locations: HashMap<String, Location>,
    root: Option<Value>,
    error: Option<YamlError>,
}

impl Builder {
    /// The path the next node will have, or `None` if it is a mapping key.
    fn next_path(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some((Frame::Seq { items, path }, _)) => Some(format!("{path}[{}]", items.len())),
            Some((Frame::Map { path, pending_key: Some(k), .. }, _)) => {
                Some(if path.is_empty() { k.clone() } else { format!("{path}.{k}") })
            }
            Some((Frame::Map { pending_key: None, .. }, _)) => None,
        }
    }

    fn fail(&mut self, mark: Marker, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError { location: Location::from_marker(mark), message });
        }
    }

    /// Attaches a finished node to its parent (or makes it the root).
    fn push_value(&mut self, value: Value, anchor: usize, mark: Marker) {
        if anchor > 0 {
            // The stored copy counts too, or nested anchors could hold 64 copies of the document.
            let (nodes, depth) = size(&value);
            if !self.within_limits(nodes, 0, mark) {
                return;
            }
            self.anchors.insert(anchor, (value.clone(), nodes, depth));
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some((Frame::Seq { items, .. }, _)) => items.push(value),
            Some((Frame::Map { map, pending_key, .. }, _)) => match pending_key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                None => match value {
                    Value::String(k) => {
                        if map.contains_key(&k) {
                            self.fail(mark, format!("duplicate key `{k}` in the same mapping"));
                        }
                        if let Some((Frame::Map { pending_key, .. }, _)) = self.stack.last_mut() {
                            *pending_key = Some(k);
                        }
                    }
                    other => self.fail(mark, format!("mapping keys must be plain strings, found {other}")),
                },
            },
        }
    }

    fn scalar(&mut self, text: String, style: TScalarStyle, mark: Marker) -> Value {
        if style != TScalarStyle::Plain {
            return Value::String(text);
        }
        match Yaml::from_str(&text) {
            Yaml::Null => Value::Null,
            Yaml::Boolean(b) => Value::Bool(b),
            Yaml::Integer(i) => Value::Number(i.into()),
            Yaml::Real(r) => match r.parse::<f64>().ok().or_else(|| yaml_special_float(&r)) {
                Some(x) if x.is_finite() => Value::Number(Number::from_f64(x).expect("finite")),
                _ => {
                    self.fail(mark, format!("`{text}` is not a finite number; use a finite value"));
                    Value::Null
                }
            },
            _ => Value::String(text),
        }
    }
}

fn yaml_special_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches('+') {
        ".inf" => Some(f64::INFINITY),
        "-.inf" => Some(f64::NEG_INFINITY),
        ".nan" => Some(f64::NAN),
        _ => None,
    }
}

/// Nodes in `v` and its nesting depth (a scalar: 1 node, depth 0). Recursion is bounded by [`MAX_DEPTH`].
fn size(v: &Value) -> (usize, usize) {
    let children: Box<dyn Iterator<Item = &Value>> = match v {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return (1, 0),
    };
    children.map(size).fold((1, 1), |(n, d), (cn, cd)| (n + cn, d.max(cd + 1)))
}

impl Builder {
    /// Charges `nodes` more nodes reaching `depth` levels below the current one; false (and an error) past a limit.
    fn within_limits(&mut self, nodes: usize, depth: usize, mark: Marker) -> bool {
        self.nodes += nodes;
        if self.stack.len() + depth > MAX_DEPTH {
            self.fail(mark, format!("nested more than {MAX_DEPTH} levels deep; a pipeline needs far fewer"));
            return false;
        }
        if self.nodes > MAX_NODES {
            self.fail(
                mark,
                format!(
                    "more than {MAX_NODES} values once aliases (`*name`) are expanded; use fewer or smaller aliases"
                ),
            );
            return false;
        }
        true
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let (nodes, depth) = match &ev {
            Event::Alias(id) => self.anchors.get(id).map_or((0, 0), |a| (a.1, a.2)),
            Event::Scalar(..) => (1, 0),
            Event::SequenceStart(..) | Event::MappingStart(..) => (1, 1),
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    return self.fail(
                        mark,
                        "a second YAML document (after `---`); the pipeline file holds one document: remove it".into(),
                    );
                }
                (0, 0)
            }
            _ => (0, 0),
        };
        if !self.within_limits(nodes, depth, mark) {
            return;
        }
        // `!!str 5` would silently become the number 5 here, and `!foo` means nothing to wgf: refuse every tag.
        if let Event::Scalar(.., Some(tag)) | Event::SequenceStart(_, Some(tag)) | Event::MappingStart(_, Some(tag)) =
            &ev
        {
            return self
                .fail(mark, format!("YAML tags (`{}{}`) are not used by wgf; remove it", tag.handle, tag.suffix));
        }
        let path = self.next_path();
        // A key's location stands for its value too: errors then point at `gamma:`, where the user looks.
        let located = match (&path, &ev, self.stack.last()) {
            (Some(p), _, _) => Some(p.clone()),
            (None, Event::Scalar(k, ..), Some((Frame::Map { path, .. }, _))) => {
                Some(if path.is_empty() { k.clone() } else { format!("{path}.{k}") })
            }
            _ => None,
        };
        if let Some(p) = located {
            self.path_bytes += p.len();
            if self.path_bytes > MAX_PATH_BYTES {
                return self.fail(mark, "keys too long or too many; a pipeline file is far smaller".into());
            }
            self.locations.entry(p).or_insert(Location::from_marker(mark));
        }
        let child_path = path.clone().unwrap_or_default();
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let v = if path.is_none() { Value::String(text) } else { self.scalar(text, style, mark) };
                self.push_value(v, anchor, mark);
            }
            Event::SequenceStart(anchor, _) => {
                if path.is_none() {
                    return self.fail(mark, "mapping keys must be plain strings, found a list".into());
                }
                self.stack.push((Frame::Seq { items: Vec::new(), path: child_path }, anchor));
            }
            Event::MappingStart(anchor, _) => {
                if path.is_none() {
                    return self.fail(mark, "mapping keys must be plain strings, found a mapping".into());
                }
                let frame = Frame::Map { map: Map::new(), path: child_path, pending_key: None };
                self.stack.push((frame, anchor));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some((frame, anchor)) = self.stack.pop() else { return };
                let v = match frame {
                    Frame::Seq { items, .. } => Value::Array(items),
                    Frame::Map { map, .. } => Value::Object(map),
                };
                self.push_value(v, anchor, mark);
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|a| a.0.clone()) {
                Some(v) => self.push_value(v, 0, mark),
                None => self.fail(mark, "alias refers to an unknown anchor".into()),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_locations() {
        let doc = parse("stages:\n  - name: a\n    params:\n      gamma: 1e-3\n      n: 5\n").unwrap();
        assert_eq!(doc.value["stages"][0]["params"]["gamma"], serde_json::json!(1e-3));
        assert_eq!(doc.value["stages"][0]["params"]["n"], serde_json::json!(5));
        assert_eq!(doc.locate("stages[0].params.gamma"), Location { line: 4, col: 7 });
        assert_eq!(doc.locate("stages[0].params.missing").line, 3, "falls back to `params:`");
    }

    #[test]
    fn rejects_duplicates_and_non_finite() {
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.contains("duplicate key `a`"), "{}", e.message);
        assert_eq!(e.location.line, 2);
        let e = parse("x: .nan\n").unwrap_err();
        assert!(e.message.contains("not a finite number"));
        assert!(parse("x: '.nan'\n").is_ok(), "quoted text stays a string");
    }

    /// `name: &name [*prev × 9]` for each name: level k holds 9^k leaves.
    fn bomb(levels: &str) -> String {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for (prev, name) in levels.chars().zip(levels.chars().skip(1)) {
            s += &format!("{name}: &{name} [{}]\n", vec![format!("*{prev}"); 9].join(", "));
        }
        s
    }

    fn leaves(v: &Value) -> usize {
        match v {
            Value::Array(items) => items.iter().map(leaves).sum(),
            _ => 1,
        }
    }

    #[test]
    fn aliases_expand_exactly_until_the_node_limit() {
        // a..e: 9^5 = 59 049 leaves, ≈ 1.5·10^5 nodes with the anchored copies: parsed in full.
        let doc = parse(&bomb("abcde")).unwrap();
        assert_eq!(leaves(&doc.value["e"]), 59_049);
        // a..f: 9^6 leaves, ≈ 1.3·10^6 nodes with the copies: refused at the alias that crosses 10^6.
        let e = parse(&bomb("abcdef")).unwrap_err();
        assert!(e.message.contains("aliases") && e.location.line == 6, "{e:?}");
    }

    #[test]
    fn nesting_limit_counts_levels() {
        let nested = |n: usize| format!("x: {}{}\n", "[".repeat(n), "]".repeat(n));
        assert!(parse(&nested(MAX_DEPTH - 1)).is_ok(), "the root mapping is one level");
        let e = parse(&nested(MAX_DEPTH)).unwrap_err();
        assert!(e.message.contains("nested more than 64"), "{e:?}");
    }

    #[test]
    fn one_document_no_tags() {
        assert!(parse("---\na: 1\n...\n").is_ok(), "explicit start and end of the only document");
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(e.message.contains("second YAML document") && e.location.line == 2, "{e:?}");
        let e = parse("a: !!str 5\n").unwrap_err();
        assert!(e.message.contains("YAML tags"), "{e:?}");
    }

    #[test]
    fn syntax_error_has_location() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.location.line >= 2, "{e:?}");
    }
}
