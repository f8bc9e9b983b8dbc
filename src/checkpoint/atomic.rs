//! Atomic file writes: a crash or kill at any moment leaves either the old file or the new one,
//! never a truncated mix. We write a temporary file in the same folder (so the final rename stays
//! on one file system), flush and fsync it, rename it over the target, then fsync the folder so
//! the rename itself survives a power loss.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

/// Prefix of our temporary files, so a leftover from a killed process is recognisable.
pub const TEMP_PREFIX: &str = ".catkd-tmp-";

/// Write `bytes` to `path` atomically.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(path, |f| f.write_all(bytes))
}

/// Write `path` atomically from a writer callback (used to stream large downloads and archive
/// members). On any failure the temporary file is removed and `path` is untouched.
pub fn atomic_write_with(path: &Path, fill: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("cannot write {}: the path does not name a file", path.display()))?;
    fs::create_dir_all(&dir).map_err(|e| {
        anyhow!(
            "cannot create folder {} to write {}: {e}; check the path and permissions",
            dir.display(),
            path.display()
        )
    })?;
    let tmp = dir.join(format!(
        "{TEMP_PREFIX}{}-{}",
        std::process::id(),
        name.to_string_lossy()
    ));
    let result = (|| -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        fill(&mut f)?;
        f.flush()?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(&dir);
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(anyhow!(
            "cannot write {}: {e}; check free disk space and permissions (the previous file, if any, is unchanged)",
            path.display()
        ));
    }
    Ok(())
}

/// fsync a folder so a rename in it is durable. Best effort: not every platform or file system
/// allows opening a folder for syncing, and the data itself is already synced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Remove temporary files left in `dir` by writers that were killed: ours, named
/// `.catkd-tmp-<pid>-<name>`, whose process no longer runs (checked through /proc, so on systems
/// without it nothing is removed). Returns how many were removed.
pub fn remove_stale_temp_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
            && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}
