//! The content-addressed result store: `results/<stage>/<key>/` holds one Parquet file per table and a
//! `manifest.json` (parameters, inputs, versions, times, table checksums).
//!
//! An entry is written into a temporary directory and renamed into place, so a reader sees a whole entry or
//! none; the manifest is written last and lists a sha256 per table, so a truncated, flipped or swapped file is
//! caught on read. Distinct entries never share a file, so concurrent writers (threads, processes, Slurm tasks)
//! need no lock to stay correct; the runner lock only keeps two runners from doing the same work twice.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Cursor, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::key::{sha256_hex, Key};

pub const MANIFEST: &str = "manifest.json";
pub const CURRENT: &str = "current.json";
pub const TMP_PREFIX: &str = ".tmp-";
pub const LOCK_FILE: &str = ".wgf-runner.lock";

/// Longest stage name: it names a directory and starts figure file names (`NAME_trajectories_gamma_….png`), which
/// must stay under the 255-byte file name limit.
pub const MAX_STAGE_NAME: usize = 100;

/// A stage name: 1 to 100 lowercase letters, digits and `_` (it names a directory, so never `..` or a `/`).
pub fn valid_stage_name(name: &str) -> bool {
    (1..=MAX_STAGE_NAME).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// True if `path` is a symbolic link (not followed). wgf never writes through a link planted in the results or
/// figures directory: another account sharing it could point one at the user's files.
pub fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// The last line of defence for names that came from a file (a Slurm plan): only a stage name becomes a directory.
fn stage_name_ok(stage: &str, dir: &Path) -> StoreResult<()> {
    if valid_stage_name(stage) {
        return Ok(());
    }
    Err(corrupt(
        dir,
        "not a stage name (1 to 100 lowercase letters, digits and _); the plan that named it is damaged".into(),
    ))
}

/// Refuses a directory wgf would write into that is a symbolic link or not a directory at all.
fn real_dir(dir: &Path) -> StoreResult<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(StoreError::Symlink { path: dir.to_path_buf() }),
        Ok(m) if !m.is_dir() => Err(StoreError::NotADir { path: dir.to_path_buf() }),
        _ => Ok(()),
    }
}

/// Creates a new file for writing; fails if anything (a file or a symbolic link) already has that name.
pub fn create_new(path: &Path) -> std::io::Result<File> {
    fs::OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).open(path)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("cannot write a result into {dir}: {cause}; check that the results directory is writable and the disk has space")]
    Unwritable { dir: PathBuf, cause: std::io::Error },
    #[error("corrupted cache entry {path}: {problem}")]
    Corrupt { path: PathBuf, problem: String },
    #[error("{path}: cannot encode table `{table}` as Parquet: {problem}")]
    Encode { path: PathBuf, table: String, problem: String },
    #[error(
        "{path} is a symbolic link; wgf never writes through a link in its results or figures directory: remove it"
    )]
    Symlink { path: PathBuf },
    #[error("{path} is a file where wgf keeps a stage's results; move it away")]
    NotADir { path: PathBuf },
    #[error(
        "another `wgf run` is using {dir} ({holder}); wait for it to finish, or pass a different --results directory"
    )]
    Locked { dir: PathBuf, holder: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |cause| StoreError::Io { path: path.to_path_buf(), cause }
}

/// Checksum and size of one table file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRecord {
    pub file: String,
    pub sha256: String,
    pub rows: usize,
    pub bytes: usize,
}

/// Everything known about how an entry was produced (DVC's `dvc.lock`, per entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub stage: String,
    pub kind: String,
    pub version: u32,
    pub key: Key,
    pub params: Value,
    pub coords: BTreeMap<String, Value>,
    pub inputs: BTreeMap<String, Key>,
    pub crate_version: String,
    /// The source hash of the code that computed it (see `key::SOURCE_HASH`).
    #[serde(default)]
    pub source: String,
    pub started_unix: f64,
    pub finished_unix: f64,
    pub wall_seconds: f64,
    pub tables: BTreeMap<String, TableRecord>,
    #[serde(default)]
    pub extra: BTreeMap<String, Value>,
}

/// The stage's last complete run: which point keys make up its tables now (read by `wgf::results`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentRecord {
    pub stage: String,
    pub kind: String,
    pub version: u32,
    pub stage_key: Key,
    /// The source hash of the code that computed it (see `key::SOURCE_HASH`).
    #[serde(default)]
    pub source: String,
    pub inputs: BTreeMap<String, Key>,
    pub points: Vec<CurrentPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentPoint {
    pub key: Key,
    pub coords: BTreeMap<String, Value>,
    pub params: Value,
}

pub fn now_unix() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> StoreResult<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!("{TMP_PREFIX}{name}-{}-{}", std::process::id(), unique_suffix()));
    let write = || -> std::io::Result<()> {
        let mut f = create_new(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        StoreError::Io { path: path.to_path_buf(), cause: e }
    })
}

/// Removes the `.tmp-` files in `dir` left by a `wgf` that was killed (its pid, in the name, is no longer alive on
/// this machine); another process's unfinished file is left alone. Directories and other names are never touched.
pub fn remove_dead_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(TMP_PREFIX) else { continue };
        // `.tmp-NAME-PID-SUFFIX` (write_atomic); older releases wrote `.tmp-NAME-PID.png`.
        let mut parts = rest.trim_end_matches(".png").rsplit('-');
        let pid = if rest.ends_with(".png") { parts.next() } else { parts.nth(1) };
        let Some(pid) = pid.and_then(|p| p.parse::<libc::pid_t>().ok()).filter(|&p| p > 0) else { continue };
        if entry.file_type().is_ok_and(|t| !t.is_dir()) && !process_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn process_alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists; no signal is delivered.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{nanos:08x}{:04x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Encodes a table as Parquet. Uncompressed-free options are fixed so equal tables give equal bytes.
pub fn parquet_bytes(frame: &DataFrame) -> PolarsResult<Vec<u8>> {
    let mut buf = Vec::new();
    let mut frame = frame.clone();
    ParquetWriter::new(&mut buf)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::default())
        .finish(&mut frame)?;
    Ok(buf)
}

pub fn parquet_frame(bytes: Vec<u8>) -> PolarsResult<DataFrame> {
    ParquetReader::new(Cursor::new(bytes)).finish()
}

/// The result store rooted at a results directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.root.join(stage)
    }

    pub fn entry_dir(&self, stage: &str, key: &Key) -> PathBuf {
        self.stage_dir(stage).join(key.as_str())
    }

    /// The verified manifest of an entry, `None` if there is no entry, an error if it is damaged.
    pub fn read_entry(&self, stage: &str, key: &Key) -> StoreResult<Option<Manifest>> {
        let dir = self.entry_dir(stage, key);
        if fs::symlink_metadata(&dir).is_err() {
            return Ok(None);
        }
        if is_symlink(&dir) || is_symlink(&self.stage_dir(stage)) {
            return Err(corrupt(&dir, "a symbolic link, not an entry wgf wrote".into()));
        }
        let manifest = self.read_manifest(&dir)?;
        if &manifest.key != key || manifest.stage != stage {
            return Err(corrupt(&dir, format!("manifest names {}/{}, not this entry", manifest.stage, manifest.key)));
        }
        for record in manifest.tables.values() {
            self.verified_bytes(&dir, record)?;
        }
        Ok(Some(manifest))
    }

    /// Like [`Store::read_entry`], and the entry must hold every table in `tables` (an entry written by code that
    /// produced other tables is damaged as far as this code is concerned).
    pub fn read_complete_entry(&self, stage: &str, key: &Key, tables: &[&str]) -> StoreResult<Option<Manifest>> {
        let manifest = self.read_entry(stage, key)?;
        if let Some(m) = &manifest {
            if let Some(missing) = tables.iter().find(|t| !m.tables.contains_key(**t)) {
                let dir = self.entry_dir(stage, key);
                return Err(corrupt(&dir, format!("no table `{missing}` (written by an older version of the stage?)")));
            }
        }
        Ok(manifest)
    }

    fn read_manifest(&self, dir: &Path) -> StoreResult<Manifest> {
        let path = dir.join(MANIFEST);
        let text = fs::read(&path).map_err(|e| corrupt(&path, format!("manifest unreadable ({e})")))?;
        serde_json::from_slice(&text).map_err(|e| corrupt(&path, format!("manifest is not valid ({e})")))
    }

    fn verified_bytes(&self, dir: &Path, record: &TableRecord) -> StoreResult<Vec<u8>> {
        let path = dir.join(&record.file);
        if record.file.contains(['/', '\\']) || record.file.starts_with('.') || is_symlink(&path) {
            return Err(corrupt(&path, "table file name escapes the entry".into()));
        }
        let bytes = fs::read(&path).map_err(|e| corrupt(&path, format!("table unreadable ({e})")))?;
        let sum = sha256_hex(&bytes);
        if sum != record.sha256 {
            return Err(corrupt(
                &path,
                format!(
                    "checksum {} does not match the manifest's {}",
                    &sum[..12],
                    &record.sha256[..12.min(record.sha256.len())]
                ),
            ));
        }
        Ok(bytes)
    }

    /// One table of a verified entry.
    pub fn read_table(&self, stage: &str, key: &Key, table: &str) -> StoreResult<DataFrame> {
        let dir = self.entry_dir(stage, key);
        let manifest = self.read_manifest(&dir)?;
        let record =
            manifest.tables.get(table).ok_or_else(|| corrupt(&dir, format!("no table `{table}` in this entry")))?;
        let bytes = self.verified_bytes(&dir, record)?;
        let path = dir.join(&record.file);
        let frame = parquet_frame(bytes).map_err(|e| corrupt(&path, format!("not a readable Parquet file ({e})")))?;
        if frame.height() != record.rows {
            return Err(corrupt(&path, format!("{} rows, manifest says {}", frame.height(), record.rows)));
        }
        Ok(frame)
    }

    /// Writes a complete entry atomically; the tables' checksums are filled into the manifest.
    pub fn write_entry(&self, mut manifest: Manifest, tables: &[(String, DataFrame)]) -> StoreResult<PathBuf> {
        let stage_dir = self.stage_dir(&manifest.stage);
        stage_name_ok(&manifest.stage, &stage_dir)?;
        real_dir(&stage_dir)?;
        fs::create_dir_all(&stage_dir).map_err(io(&stage_dir))?;
        let final_dir = stage_dir.join(manifest.key.as_str());
        let tmp =
            stage_dir.join(format!("{TMP_PREFIX}{}-{}-{}", manifest.key.short(), std::process::id(), unique_suffix()));
        let result = self.fill_tmp(&tmp, &mut manifest, tables).and_then(|()| self.publish(&tmp, &final_dir));
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result.map(|()| final_dir).map_err(|e| match e {
            StoreError::Io { cause, .. } => StoreError::Unwritable { dir: stage_dir, cause },
            other => other,
        })
    }

    fn fill_tmp(&self, tmp: &Path, manifest: &mut Manifest, tables: &[(String, DataFrame)]) -> StoreResult<()> {
        fs::create_dir(tmp).map_err(io(tmp))?;
        manifest.tables.clear();
        for (name, frame) in tables {
            let file = format!("{name}.parquet");
            let bytes = parquet_bytes(frame).map_err(|e| StoreError::Encode {
                path: tmp.join(&file),
                table: name.clone(),
                problem: e.to_string(),
            })?;
            write_synced(&tmp.join(&file), &bytes)?;
            let record = TableRecord { file, sha256: sha256_hex(&bytes), rows: frame.height(), bytes: bytes.len() };
            manifest.tables.insert(name.clone(), record);
        }
        let json = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
        write_synced(&tmp.join(MANIFEST), &json)?;
        sync_dir(tmp);
        Ok(())
    }

    /// Renames the finished temp dir into place. If another writer got there first with a valid entry (same key,
    /// so same content), ours is dropped; a damaged one is moved aside first.
    fn publish(&self, tmp: &Path, final_dir: &Path) -> StoreResult<()> {
        if final_dir.exists() {
            let stage = final_dir.parent().and_then(|p| p.file_name()).and_then(|s| s.to_str()).unwrap_or("");
            let key = final_dir.file_name().and_then(|s| s.to_str()).and_then(Key::parse);
            match key.map(|k| self.read_entry(stage, &k)) {
                Some(Ok(Some(_))) => {
                    let _ = fs::remove_dir_all(tmp);
                    return Ok(());
                }
                _ => self.discard_dir(final_dir)?,
            }
        }
        match fs::rename(tmp, final_dir) {
            Ok(()) => {
                sync_dir(final_dir.parent().unwrap_or(Path::new(".")));
                Ok(())
            }
            // Lost a race with a concurrent writer of the same key: theirs is as good as ours.
            Err(_) if final_dir.join(MANIFEST).exists() => {
                let _ = fs::remove_dir_all(tmp);
                Ok(())
            }
            Err(e) => Err(StoreError::Io { path: final_dir.to_path_buf(), cause: e }),
        }
    }

    /// Removes a damaged entry: first renamed out of the key namespace (atomic), then deleted.
    pub fn discard(&self, stage: &str, key: &Key) -> StoreResult<()> {
        self.discard_dir(&self.entry_dir(stage, key))
    }

    fn discard_dir(&self, dir: &Path) -> StoreResult<()> {
        let name = dir.file_name().and_then(|s| s.to_str()).unwrap_or("entry");
        let aside = dir.with_file_name(format!("{TMP_PREFIX}discard-{name}-{}", unique_suffix()));
        match fs::rename(dir, &aside) {
            // A file or link where an entry should be is removed itself (a link's target is never touched).
            Ok(()) if !fs::symlink_metadata(&aside).is_ok_and(|m| m.is_dir()) => {
                fs::remove_file(&aside).map_err(io(&aside))
            }
            Ok(()) => fs::remove_dir_all(&aside).map_err(io(&aside)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Io { path: dir.to_path_buf(), cause: e }),
        }
    }

    /// The record of the stage's last complete run, checked to name this stage (its name, like its keys, later
    /// becomes part of paths: figure files, entry directories).
    pub fn read_current(&self, stage: &str) -> StoreResult<Option<CurrentRecord>> {
        let path = self.stage_dir(stage).join(CURRENT);
        if !valid_stage_name(stage) {
            return Ok(None);
        }
        if is_symlink(&self.stage_dir(stage)) || is_symlink(&path) {
            return Err(corrupt(&path, "a symbolic link, not a record wgf wrote; delete it".into()));
        }
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Io { path, cause: e }),
        };
        let record: CurrentRecord = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(&path, format!("not a valid record of the last run ({e}); delete it")))?;
        if record.stage != stage {
            let shown: String = record.stage.chars().take(70).collect();
            return Err(corrupt(&path, format!("names stage `{shown}`, not `{stage}`; delete it")));
        }
        Ok(Some(record))
    }

    pub fn write_current(&self, record: &CurrentRecord) -> StoreResult<()> {
        let json = serde_json::to_vec_pretty(record).expect("record serialises");
        let dir = self.stage_dir(&record.stage);
        stage_name_ok(&record.stage, &dir)?;
        real_dir(&dir)?;
        write_atomic(&dir.join(CURRENT), &json)
    }

    /// Stage directories present in the store.
    pub fn stages(&self) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        if !self.root.exists() {
            return Ok(out);
        }
        for entry in fs::read_dir(&self.root).map_err(io(&self.root))? {
            let entry = entry.map_err(io(&self.root))?;
            let name = entry.file_name().to_string_lossy().to_string();
            // file_type() does not follow links: a link planted here is not a stage directory.
            if entry.file_type().is_ok_and(|t| t.is_dir()) && valid_stage_name(&name) {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Entry keys present for a stage, and leftover temp dirs (interrupted writes) beside them.
    pub fn entries(&self, stage: &str) -> StoreResult<(Vec<Key>, Vec<PathBuf>)> {
        let dir = self.stage_dir(stage);
        let (mut keys, mut tmps) = (Vec::new(), Vec::new());
        if !dir.exists() {
            return Ok((keys, tmps));
        }
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(TMP_PREFIX) {
                tmps.push(entry.path());
            } else if let Some(k) = Key::parse(&name) {
                keys.push(k);
            }
        }
        keys.sort();
        tmps.sort();
        Ok((keys, tmps))
    }

    /// Takes the single-runner lock, failing at once with the holder's identity if another runner has it.
    pub fn lock(&self) -> StoreResult<RunnerLock> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let path = self.root.join(LOCK_FILE);
        // O_NOFOLLOW: a link planted as the lock file must not have its target truncated.
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => StoreError::Symlink { path: path.clone() },
                _ => StoreError::Io { path: path.clone(), cause: e },
            })?;
        match file.try_lock() {
            Ok(()) => {
                let me = format!("pid {} since unix time {:.0}\n", std::process::id(), now_unix());
                let _ = file.set_len(0);
                let _ = file.write_all(me.as_bytes());
                Ok(RunnerLock { _file: file })
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default().trim().to_string();
                let holder = if holder.is_empty() { "holder unknown".to_string() } else { holder };
                Err(StoreError::Locked { dir: self.root.clone(), holder })
            }
            Err(fs::TryLockError::Error(e)) => Err(StoreError::Io { path, cause: e }),
        }
    }
}

/// Held while a runner works on a results directory; released on drop or process death (flock).
pub struct RunnerLock {
    _file: File,
}

fn corrupt(path: &Path, problem: String) -> StoreError {
    StoreError::Corrupt { path: path.to_path_buf(), problem }
}

fn write_synced(path: &Path, bytes: &[u8]) -> StoreResult<()> {
    let mut f = create_new(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable across a power cut; failure only weakens durability, never correctness.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The named tables of a stage, its points' tables stacked in the given key order.
pub fn stage_tables(
    store: &Store,
    stage: &str,
    keys: &[Key],
    tables: &[&str],
) -> StoreResult<BTreeMap<String, DataFrame>> {
    let mut out = BTreeMap::new();
    for &table in tables {
        let mut stacked: Option<DataFrame> = None;
        for key in keys {
            let frame = store.read_table(stage, key, table)?;
            match &mut stacked {
                None => stacked = Some(frame),
                Some(acc) => {
                    acc.vstack_mut_owned(frame).map_err(|e| {
                        corrupt(
                            &store.entry_dir(stage, key),
                            format!("table `{table}` does not match the other points' columns ({e})"),
                        )
                    })?;
                }
            }
        }
        out.insert(table.to_string(), stacked.unwrap_or_default());
    }
    Ok(out)
}
