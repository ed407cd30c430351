//! Where a figure came from, carried inside the figure file so that a PNG pasted into a slide still knows: the
//! same JSON (figure, caption, stages with their keys and point keys, wgf version, git commit) sits in a PNG `tEXt`
//! chunk and in an SVG `<metadata>` element. Nothing in it depends on the time, so a redraw with nothing changed
//! gives the same bytes.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::pipeline::key::Key;
use crate::results::{Results, StageInfo};

/// The `tEXt` keyword (PNG) and `<metadata>` id (SVG) of the provenance JSON.
pub const KEYWORD: &str = "wgf-provenance";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// File stem under figures/, e.g. `three_point_loss`.
    pub figure: String,
    /// One sentence: what the figure shows.
    pub caption: String,
    pub wgf_version: String,
    /// `git rev-parse HEAD` where the figure was drawn (`+modified` if tracked files differed from it).
    pub commit: String,
    /// The drawn stage first, then the input stages whose tables it also read.
    pub stages: Vec<StageSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSource {
    pub stage: String,
    pub kind: String,
    pub stage_key: Key,
    /// The point keys of the stage's last complete run, in plan order.
    pub points: Vec<Key>,
}

impl StageSource {
    fn of(info: &StageInfo) -> StageSource {
        let points = info.record.points.iter().map(|p| p.key.clone()).collect();
        StageSource { stage: info.name.clone(), kind: info.kind.clone(), stage_key: info.key.clone(), points }
    }
}

impl Provenance {
    /// The sources of a stage's figures (figure name and caption left empty: each figure fills in its own).
    pub fn of_stage(results: &Results, info: &StageInfo) -> anyhow::Result<Provenance> {
        let mut stages = vec![StageSource::of(info)];
        for input in info.record.inputs.keys() {
            stages.push(StageSource::of(&results.stage(input)?));
        }
        let wgf_version = env!("CARGO_PKG_VERSION").to_string();
        Ok(Provenance { figure: String::new(), caption: String::new(), wgf_version, commit: git_commit(), stages })
    }

    /// The JSON with every non-ASCII character escaped (`\uXXXX`), as a PNG `tEXt` chunk holds Latin-1 only.
    pub fn to_ascii_json(&self) -> String {
        let json = serde_json::to_string(self).expect("provenance serialises");
        let mut out = String::with_capacity(json.len());
        for c in json.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        out
    }
}

/// The commit of the work tree the figures are drawn in, asked once per process; `unknown` outside git.
pub fn git_commit() -> String {
    static COMMIT: OnceLock<String> = OnceLock::new();
    COMMIT
        .get_or_init(|| {
            let git = |args: &[&str]| {
                let out = std::process::Command::new("git").args(args).output().ok()?;
                out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            };
            match git(&["rev-parse", "HEAD"]) {
                Some(head) if !head.is_empty() => {
                    let modified =
                        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
                    if modified {
                        format!("{head}+modified")
                    } else {
                        head
                    }
                }
                _ => "unknown".into(),
            }
        })
        .clone()
}

/// Reads the provenance of a figure file (`.png` or `.svg`).
pub fn read(path: &Path) -> anyhow::Result<Provenance> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let json = if bytes.starts_with(PNG_SIGNATURE) {
        png_text(&bytes, KEYWORD)?
    } else {
        svg_metadata(&String::from_utf8_lossy(&bytes))
    };
    let json = json.with_context(|| {
        format!(
            "{} carries no wgf provenance (drawn by an older wgf? redraw with `wgf figures --force`)",
            path.display()
        )
    })?;
    serde_json::from_str(&json).with_context(|| format!("{}: the wgf provenance is not valid", path.display()))
}

// ---- SVG: one <metadata> element right after the opening <svg …> tag. ----

/// `svg` with the provenance as a `<metadata>` element.
pub fn svg_with_metadata(svg: &str, prov: &Provenance) -> String {
    let json = serde_json::to_string(prov).expect("provenance serialises");
    let escaped = json.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let element = format!("\n<metadata id=\"{KEYWORD}\">{escaped}</metadata>");
    let at = svg.find("<svg").and_then(|s| svg[s..].find('>').map(|e| s + e + 1));
    match at {
        Some(at) => format!("{}{element}{}", &svg[..at], &svg[at..]),
        None => svg.to_string(),
    }
}

pub fn svg_metadata(svg: &str) -> Option<String> {
    let open = format!("<metadata id=\"{KEYWORD}\">");
    let start = svg.find(&open)? + open.len();
    let end = start + svg[start..].find("</metadata>")?;
    Some(svg[start..end].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
}

// ---- PNG: tEXt chunks inserted after IHDR (PNG spec §11.3.4: keyword, NUL, Latin-1 text). ----

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// `png` with one `tEXt` chunk per (keyword, text) inserted after its header chunk.
pub fn png_with_text(png: &[u8], texts: &[(&str, &str)]) -> anyhow::Result<Vec<u8>> {
    let chunks = png_chunks(png)?;
    let Some(&(_, _, header_end)) = chunks.first() else { bail!("PNG has no chunks") };
    let mut out = png[..header_end].to_vec();
    for (keyword, text) in texts {
        if !text.is_ascii() || keyword.is_empty() || keyword.len() > 79 {
            bail!("PNG tEXt chunk `{keyword}` must have a 1–79 byte keyword and ASCII text");
        }
        let mut data = keyword.as_bytes().to_vec();
        data.push(0);
        data.extend_from_slice(text.as_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut typed = b"tEXt".to_vec();
        typed.extend_from_slice(&data);
        out.extend_from_slice(&typed);
        out.extend_from_slice(&crc32(&typed).to_be_bytes());
    }
    out.extend_from_slice(&png[header_end..]);
    Ok(out)
}

/// The text of the first `tEXt` chunk named `keyword`, if any; an error if the file is not a whole PNG.
pub fn png_text(png: &[u8], keyword: &str) -> anyhow::Result<Option<String>> {
    for (kind, data, _) in png_chunks(png)? {
        if kind == *b"tEXt" {
            let data = &png[data];
            if let Some(nul) = data.iter().position(|&b| b == 0) {
                if &data[..nul] == keyword.as_bytes() {
                    return Ok(Some(data[nul + 1..].iter().map(|&b| b as char).collect()));
                }
            }
        }
    }
    Ok(None)
}

/// A PNG chunk: its type, the byte range of its data, the offset where it ends.
type Chunk = ([u8; 4], std::ops::Range<usize>, usize);

/// Every chunk, CRCs checked.
fn png_chunks(png: &[u8]) -> anyhow::Result<Vec<Chunk>> {
    if !png.starts_with(PNG_SIGNATURE) {
        bail!("not a PNG file");
    }
    let mut chunks = Vec::new();
    let mut at = PNG_SIGNATURE.len();
    while at < png.len() {
        let len = png.get(at..at + 4).context("PNG chunk length cut off")?;
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        let end = at + 12 + len;
        let chunk = png.get(at + 4..end).context("PNG chunk cut off")?;
        let (typed, crc) = chunk.split_at(4 + len);
        if crc32(typed).to_be_bytes() != crc {
            bail!("PNG chunk at byte {at} has a wrong CRC");
        }
        chunks.push((typed[..4].try_into().expect("4 bytes"), at + 8..at + 8 + len, end));
        at = end;
    }
    Ok(chunks)
}

/// CRC-32 of PNG (ISO 3309, reflected polynomial 0xedb88320), bitwise: a chunk of a few kB takes microseconds.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_png_spec_check_value() {
        // The standard CRC-32 check value of "123456789".
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        // The IEND chunk every PNG ends with: 00 00 00 00 IEND AE 42 60 82.
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
    }

    #[test]
    fn svg_metadata_round_trips_escaped_text() {
        let prov = Provenance {
            figure: "f".into(),
            caption: "loss < 1e-10 & γ > 1/3".into(),
            wgf_version: "0.1.0".into(),
            commit: "abc".into(),
            stages: vec![],
        };
        let svg = svg_with_metadata("<?xml?>\n<svg width=\"1\" height=\"1\">\n<rect/>\n</svg>", &prov);
        assert!(svg.starts_with("<?xml?>\n<svg width=\"1\" height=\"1\">\n<metadata id=\"wgf-provenance\">"));
        let back: Provenance = serde_json::from_str(&svg_metadata(&svg).unwrap()).unwrap();
        assert_eq!(back, prov);
    }
}
