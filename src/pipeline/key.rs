//! Content-hash keys (METHODS.md §4): sha256 over a canonical serialisation of kind, algorithm version, source hash,
//! resolved parameters and input keys. Canonical means: mapping keys sorted, floats by their exact IEEE bits, integers and
//! strings tagged, so that YAML comments, key order or `1.0` vs `1.00` can never change a key, and `1` vs `1.5`
//! always does.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// A sha256 content key, as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Key(String);

/// Keys read back from disk (manifests, current.json, Slurm records) go through [`Key::parse`]: a crafted file can
/// then never make a key name a path such as `../../x`.
impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let s = String::deserialize(d)?;
        Key::parse(&s).ok_or_else(|| {
            let shown: String = s.chars().take(70).collect();
            serde::de::Error::custom(format!("`{shown}` is not a key (64 lowercase hex digits)"))
        })
    }
}

impl Key {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> &str {
        &self.0[..12.min(self.0.len())]
    }
    /// Accepts only what `Key` itself produces, so a key read from disk cannot name a path outside the store.
    pub fn parse(s: &str) -> Option<Key> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())).then(|| Key(s.into()))
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hex sha256 of raw bytes (table checksums).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends the canonical form of `v` to `out`.
pub fn canonical_bytes(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(b'n'),
        Value::Bool(b) => out.extend_from_slice(if *b { b"T" } else { b"F" }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.extend_from_slice(format!("u{u};").as_bytes());
            } else if let Some(i) = n.as_i64() {
                out.extend_from_slice(format!("i{i};").as_bytes());
            } else {
                let bits = n.as_f64().unwrap_or(f64::NAN).to_bits();
                out.extend_from_slice(format!("f{bits:016x};").as_bytes());
            }
        }
        Value::String(s) => {
            out.extend_from_slice(format!("s{}:", s.len()).as_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            out.extend_from_slice(format!("[{}:", items.len()).as_bytes());
            items.iter().for_each(|x| canonical_bytes(x, out));
            out.push(b']');
        }
        Value::Object(map) => {
            // serde_json's Map is a BTreeMap here (no `preserve_order`), but sort anyway: the key must not depend
            // on a feature flag somewhere in the dependency tree.
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.extend_from_slice(format!("{{{}:", sorted.len()).as_bytes());
            for (k, x) in sorted {
                canonical_bytes(&Value::String(k.clone()), out);
                canonical_bytes(x, out);
            }
            out.push(b'}');
        }
    }
}

/// A hash of the sources that compute results (`src/numerics`, `src/experiments`; see build.rs): part of every
/// key, so results computed by other code never pass for current ones, whether or not a VERSION was bumped.
pub const SOURCE_HASH: &str = env!("WGF_SOURCE_HASH");

/// The key of one point of a stage.
pub fn point_key(kind: &str, version: u32, params: &Value, inputs: &BTreeMap<String, Key>) -> Key {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(b"wgf-point-v1\0");
    canonical_bytes(&Value::String(kind.into()), &mut bytes);
    bytes.extend_from_slice(format!("version{version};source{SOURCE_HASH};").as_bytes());
    canonical_bytes(params, &mut bytes);
    for (name, key) in inputs {
        canonical_bytes(&Value::String(name.clone()), &mut bytes);
        canonical_bytes(&Value::String(key.0.clone()), &mut bytes);
    }
    Key(hex(&Sha256::digest(&bytes)))
}

/// The key of a whole stage: its points' keys in plan order. Downstream stages hash this as their input key.
pub fn stage_key(kind: &str, point_keys: &[Key]) -> Key {
    let mut h = Sha256::new();
    h.update(b"wgf-stage-v1\0");
    h.update(kind.as_bytes());
    for k in point_keys {
        h.update(b"\0");
        h.update(k.0.as_bytes());
    }
    Key(hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(v: Value) -> Key {
        point_key("k", 1, &v, &BTreeMap::new())
    }

    #[test]
    fn order_insensitive_value_sensitive() {
        assert_eq!(key(json!({"a": 1.0, "b": "x"})), key(json!({"b": "x", "a": 1.0})));
        assert_ne!(key(json!({"a": 1.0})), key(json!({"a": 1.0000000000000002})));
        assert_ne!(key(json!({"a": 1})), key(json!({"a": 1.0})), "typed params decide; raw ints differ");
        assert_ne!(key(json!({"a": "1"})), key(json!({"a": 1})));
        assert_ne!(key(json!(["ab", "c"])), key(json!(["a", "bc"])));
    }

    #[test]
    fn version_and_inputs_matter() {
        let p = json!({"a": 1});
        let none = BTreeMap::new();
        let one: BTreeMap<String, Key> = [("up".to_string(), key(json!(1)))].into();
        assert_ne!(point_key("k", 1, &p, &none), point_key("k", 2, &p, &none));
        assert_ne!(point_key("k", 1, &p, &none), point_key("k", 1, &p, &one));
        assert_ne!(point_key("k", 1, &p, &none), point_key("j", 1, &p, &none));
    }

    #[test]
    fn key_parse_rejects_paths() {
        let k = key(json!(1));
        assert_eq!(Key::parse(k.as_str()), Some(k.clone()));
        assert!(Key::parse("../../etc/passwd").is_none());
        assert!(Key::parse(&k.as_str().to_uppercase()).is_none());
    }
}
