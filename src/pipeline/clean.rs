//! `wgf clean`: deletes only what wgf itself wrote in a results directory — entries whose names are keys, its own
//! `.tmp-` leftovers, `current.json` records and the `.slurm` directory — and refuses a directory that does not
//! look like one wgf wrote. A user's files that happen to sit in the results directory (or in a stage directory)
//! are left alone, and a stage directory is removed only once nothing but wgf's files was in it.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::key::Key;
use super::plan::Plan;
use super::store::{Store, CURRENT, LOCK_FILE, MANIFEST, TMP_PREFIX};

#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error(
        "{0} does not look like a wgf results directory (no {LOCK_FILE}, no stage directory with cached entries); \
         nothing was deleted: pass the --results directory that `wgf run` wrote"
    )]
    NotResults(PathBuf),
    #[error("cannot remove {path}: {cause}; check the permissions of the results directory")]
    Remove { path: PathBuf, cause: std::io::Error },
}

/// What a clean did.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// Cache entries removed.
    pub entries: usize,
    /// Things in a stage directory wgf did not write, left in place (so their directory was kept).
    pub kept: Vec<PathBuf>,
}

/// A results directory holds wgf's runner lock (every run and clean takes it) or a stage directory with a record
/// or an entry; anything else is probably a wrong `--results`.
pub fn looks_like_results(store: &Store) -> Result<(), CleanError> {
    let root = store.root();
    if fs::symlink_metadata(root.join(LOCK_FILE)).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    let has_wgf_content = |stage: &String| {
        let dir = store.stage_dir(stage);
        dir.join(CURRENT).is_file()
            || fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.file_name().to_str().and_then(Key::parse).is_some() && e.path().join(MANIFEST).is_file())
    };
    match store.stages() {
        Ok(stages) if stages.iter().any(has_wgf_content) => Ok(()),
        _ => Err(CleanError::NotResults(root.to_path_buf())),
    }
}

/// Deletes every entry (`plan` = None) or those the plan no longer uses, with leftovers and stale records.
pub fn clean(store: &Store, plan: Option<&Plan>) -> Result<Cleaned, CleanError> {
    let mut done = Cleaned::default();
    for stage in store.stages().map_err(|e| remove_error(store.root(), e))? {
        let used: Option<HashSet<&Key>> =
            plan.and_then(|p| p.stage(&stage)).map(|st| st.points.iter().map(|p| &p.key).collect());
        clean_stage(store, &stage, used.as_ref(), &mut done)?;
    }
    if plan.is_none() {
        // wgf's own hidden directory: plans, scripts and logs of Slurm submissions (a link is removed, not followed).
        remove_any(&store.root().join(super::slurm::plan_file::SLURM_DIR))?;
    }
    Ok(done)
}

/// One stage directory: entries not in `used` (all if `None`), leftovers, and `current.json` once it lists a
/// removed entry; then the directory itself if that emptied it.
fn clean_stage(store: &Store, stage: &str, used: Option<&HashSet<&Key>>, done: &mut Cleaned) -> Result<(), CleanError> {
    let dir = store.stage_dir(stage);
    let mut removed: HashSet<Key> = HashSet::new();
    let mut foreign = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| CleanError::Remove { path: dir.clone(), cause: e })?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let path = entry.path();
        if name.starts_with(TMP_PREFIX) {
            remove_any(&path)?;
        } else if let Some(key) = Key::parse(&name) {
            if used.is_none_or(|u| !u.contains(&key)) {
                remove_any(&path)?;
                done.entries += 1;
                removed.insert(key);
            }
        } else if name != CURRENT {
            foreign.push(path);
        }
    }
    let current = dir.join(CURRENT);
    let stale = match used {
        None => true,
        // A record listing a removed entry would make `wgf figures` read a missing entry; an unreadable one is
        // wgf's own damaged file.
        Some(_) => store
            .read_current(stage)
            .map_or(true, |r| r.is_some_and(|r| r.points.iter().any(|p| removed.contains(&p.key)))),
    };
    if stale {
        remove_any(&current)?;
    }
    if used.is_none() && foreign.is_empty() {
        fs::remove_dir(&dir).map_err(|e| CleanError::Remove { path: dir.clone(), cause: e })?;
    }
    done.kept.extend(foreign);
    Ok(())
}

fn remove_error(path: &Path, e: impl std::fmt::Display) -> CleanError {
    CleanError::Remove { path: path.to_path_buf(), cause: std::io::Error::other(e.to_string()) }
}

/// Removes a directory tree, a file or a link (never what a link points to); a missing path is fine.
fn remove_any(path: &Path) -> Result<(), CleanError> {
    let result = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    result
        .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
        .map_err(|cause| CleanError::Remove { path: path.to_path_buf(), cause })
}
