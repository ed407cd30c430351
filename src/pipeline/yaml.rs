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

/// Parses one YAML document. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<LocatedDocument, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        return Err(YamlError { location: Location::from_marker(*e.marker()), message: e.info().to_string() });
    }
    if let Some(err) = builder.error {
        return Err(err);
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
    anchors: HashMap<usize, Value>,
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
            self.anchors.insert(anchor, value.clone());
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

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
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
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
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

    #[test]
    fn syntax_error_has_location() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.location.line >= 2, "{e:?}");
    }
}
