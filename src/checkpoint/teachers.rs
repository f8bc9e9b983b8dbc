//! Teacher checkpoints: locate, unpack (`--from`), download (`--download`).
//!
//! The reference's archive `cifar_teachers.tar` holds `cifar_teachers/<model>_vanilla/
//! ckpt_epoch_240.pth`; unpacked into `download_ckpts/` it gives the paths the model registry
//! names. Archives are checked whole before anything is written: an entry that would land outside
//! the folder (absolute, `..`, a link pointing out) rejects the archive. Every file is written
//! atomically, so an interrupted unpack never leaves a truncated checkpoint behind.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};

use super::atomic::{atomic_write_with, TEMP_PREFIX};
use crate::models::ModelInfo;

/// The reference's CIFAR-100 teacher archive.
pub const DEFAULT_TEACHERS_URL: &str =
    "https://github.com/megvii-research/mdistiller/releases/download/checkpoints/cifar_teachers.tar";

/// The six CIFAR-100 teachers the archive holds, by registry name.
pub const CIFAR_TEACHERS: [&str; 6] = ["resnet56", "resnet110", "resnet32x4", "ResNet50", "wrn_40_2", "vgg13"];

/// How to install the teachers, for error messages.
const INSTALL_HINT: &str = "install the reference teachers with `catkd teachers --download`, or download cifar_teachers.tar by hand and run `catkd teachers --from cifar_teachers.tar`";

/// Where a CIFAR teacher lies once the archive is unpacked into `dir`.
pub fn teacher_path(dir: &Path, model: &str) -> PathBuf {
    dir.join("cifar_teachers")
        .join(format!("{model}_vanilla"))
        .join("ckpt_epoch_240.pth")
}

/// Teacher checkpoint path a run uses: CAT_KD.teacher_dir when set, else the registry default
/// (relative to the working folder, like the reference). A missing file is an error naming the
/// path looked at and the command that installs it.
pub fn resolve_teacher(cfg: &crate::config::Config, info: &ModelInfo) -> Result<PathBuf> {
    let path = match cfg.CAT_KD.teacher_dir.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match info.teacher_checkpoint {
            Some(p) => PathBuf::from(p),
            None => bail!(
                "teacher {} ({}) has no default checkpoint; set CAT_KD.teacher_dir to a checkpoint file",
                info.name,
                info.dataset.as_str()
            ),
        },
    };
    if path.is_file() {
        return Ok(path);
    }
    if cfg.CAT_KD.teacher_dir.as_deref().is_some_and(|d| !d.is_empty()) {
        bail!(
            "teacher checkpoint {} (CAT_KD.teacher_dir) does not exist; fix CAT_KD.teacher_dir or {INSTALL_HINT}",
            path.display()
        );
    }
    bail!(
        "teacher checkpoint for {} not found at {}; {INSTALL_HINT}",
        info.name,
        path.display()
    )
}

/// `catkd teachers [--from FILE.tar] [--download] [--url URL] [--dir DIR]`.
pub fn run_cli(args: &crate::cli::TeachersArgs) -> Result<()> {
    if args.from.is_some() && args.download {
        bail!("--from and --download both install the teachers; give only one of them");
    }
    if let Some(tar) = &args.from {
        let n = unpack_archive(tar, &args.dir)?;
        println!("unpacked {n} files from {} into {}", tar.display(), args.dir.display());
    } else if args.download {
        download_and_unpack(&args.url, &args.dir)?;
    }
    print!("{}", status_report(&args.dir));
    Ok(())
}

/// One line per CIFAR-100 teacher (present or missing, and its path), then how to install the
/// missing ones.
pub fn status_report(dir: &Path) -> String {
    let mut out = String::new();
    let mut missing = 0;
    for model in CIFAR_TEACHERS {
        let p = teacher_path(dir, model);
        let present = p.is_file();
        missing += usize::from(!present);
        out.push_str(&format!(
            "{model:<11} {:<8} {}\n",
            if present { "present" } else { "missing" },
            p.display()
        ));
    }
    if missing > 0 {
        out.push_str(&format!(
            "{missing} of {} CIFAR-100 teachers missing: {INSTALL_HINT}\n",
            CIFAR_TEACHERS.len()
        ));
    }
    out
}

/// Where a link's target resolves, relative to the archive root, or None when it leaves it.
fn resolve_inside(base: &[String], target: &Path) -> Option<Vec<String>> {
    let mut parts = base.to_vec();
    for c in target.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts)
}

/// The entry's path as plain relative components, or an error naming it.
fn safe_parts(archive: &Path, path: &Path) -> Result<Vec<String>> {
    resolve_inside(&[], path)
        .filter(|_| !path.components().any(|c| matches!(c, Component::ParentDir)))
        .ok_or_else(|| {
            anyhow!(
                "archive {} has an entry {} that would be written outside the target folder (absolute path or ..); refusing to unpack it, use the reference's cifar_teachers.tar",
                archive.display(),
                path.display()
            )
        })
}

/// What to do with one archive entry, decided before anything is written.
enum Plan {
    Dir(PathBuf),
    File(PathBuf),
    Symlink(PathBuf, PathBuf),
    /// A hard link, written as a copy of the archive file it names (already unpacked).
    Copy(PathBuf, PathBuf),
    Skip,
}

fn plan_entry<R: Read>(archive: &Path, dir: &Path, entry: &tar::Entry<R>) -> Result<Plan> {
    use tar::EntryType as T;
    let path = entry.path().map_err(|e| {
        anyhow!(
            "archive {} has an unreadable entry name ({e}); it is damaged",
            archive.display()
        )
    })?;
    let kind = entry.header().entry_type();
    if matches!(kind, T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink) {
        return Ok(Plan::Skip);
    }
    let parts = safe_parts(archive, &path)?;
    if parts.is_empty() {
        return Ok(Plan::Skip); // the archive's "./"
    }
    let out = parts.iter().fold(dir.to_path_buf(), |p, c| p.join(c));
    let escapes = |what: &str, target: &Path| {
        anyhow!(
            "archive {} has a {what} {} -> {} that points outside the target folder; refusing to unpack it, use the reference's cifar_teachers.tar",
            archive.display(),
            path.display(),
            target.display()
        )
    };
    Ok(match kind {
        T::Directory => Plan::Dir(out),
        T::Regular | T::Continuous | T::GNUSparse => Plan::File(out),
        T::Symlink | T::Link => {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .ok_or_else(|| {
                    anyhow!(
                        "archive {} has a link {} without a target; it is damaged",
                        archive.display(),
                        path.display()
                    )
                })?
                .into_owned();
            if kind == T::Symlink {
                // A symlink's target is relative to the link's own folder.
                resolve_inside(&parts[..parts.len() - 1], &target).ok_or_else(|| escapes("symbolic link", &target))?;
                Plan::Symlink(out, target)
            } else {
                // A hard link's target is a path inside the archive.
                let t = safe_parts(archive, &target).map_err(|_| escapes("hard link", &target))?;
                Plan::Copy(out, t.iter().fold(dir.to_path_buf(), |p, c| p.join(c)))
            }
        }
        other => bail!(
            "archive {} has an entry {} of unsupported type {other:?}; refusing to unpack it",
            archive.display(),
            path.display()
        ),
    })
}

/// Unpack a teacher archive into `dir` after checking every entry. Returns the number of files.
pub fn unpack_archive(archive: &Path, dir: &Path) -> Result<usize> {
    let open = || -> Result<tar::Archive<File>> {
        let f = File::open(archive)
            .map_err(|e| anyhow!("cannot open archive {}: {e}; check the path", archive.display()))?;
        Ok(tar::Archive::new(f))
    };
    let damaged = |e: io::Error| {
        anyhow!(
            "archive {} is damaged or not a tar file ({e}); download it again",
            archive.display()
        )
    };
    // Pass 1: check everything, write nothing.
    let mut count = 0;
    let mut a = open()?;
    for entry in a.entries().map_err(damaged)? {
        let entry = entry.map_err(damaged)?;
        if matches!(plan_entry(archive, dir, &entry)?, Plan::File(_)) {
            count += 1;
        }
    }
    if count == 0 {
        bail!(
            "archive {} holds no files; download cifar_teachers.tar again",
            archive.display()
        );
    }
    // Pass 2: write.
    fs::create_dir_all(dir).map_err(|e| anyhow!("cannot create folder {}: {e}", dir.display()))?;
    let mut a = open()?;
    for entry in a.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        match plan_entry(archive, dir, &entry)? {
            Plan::Skip => {}
            Plan::Dir(p) => fs::create_dir_all(&p).map_err(|e| anyhow!("cannot create folder {}: {e}", p.display()))?,
            Plan::File(p) => atomic_write_with(&p, |f| io::copy(&mut entry, f).map(|_| ()))
                .map_err(|e| anyhow!("while unpacking archive {}: {e:#}", archive.display()))?,
            Plan::Symlink(p, target) => make_link(&p, |link| symlink(&target, link))?,
            Plan::Copy(p, from) => make_link(&p, |link| fs::copy(&from, link).map(|_| ()))?,
        }
    }
    Ok(count)
}

fn make_link(link: &Path, make: impl FnOnce(&Path) -> io::Result<()>) -> Result<()> {
    if let Some(parent) = link.parent() {
        fs::create_dir_all(parent).map_err(|e| anyhow!("cannot create folder {}: {e}", parent.display()))?;
    }
    let _ = fs::remove_file(link);
    make(link).map_err(|e| anyhow!("cannot create {}: {e}", link.display()))
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, link: &Path) -> io::Result<()> {
    Err(io::Error::other(format!(
        "symbolic links are not supported here ({})",
        link.display()
    )))
}

/// Fetch `url` into a temporary file in `dir` with a progress bar, unpack it, remove it.
pub fn download_and_unpack(url: &str, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| anyhow!("cannot create folder {}: {e}", dir.display()))?;
    let tmp = dir.join(format!("{TEMP_PREFIX}{}-download.tar", std::process::id()));
    let result = download(url, &tmp).and_then(|()| unpack_archive(&tmp, dir));
    let _ = fs::remove_file(&tmp);
    let n = result?;
    println!("downloaded {url} and unpacked {n} files into {}", dir.display());
    Ok(())
}

fn download(url: &str, to: &Path) -> Result<()> {
    let offline = |why: String| {
        anyhow!(
            "cannot download {url} ({why}); without network access, download cifar_teachers.tar by hand from that address and run `catkd teachers --from cifar_teachers.tar`"
        )
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(Duration::from_secs(60))
        .build();
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, _) => offline(format!("the server answered HTTP {code}")),
        ureq::Error::Transport(t) => offline(t.to_string()),
    })?;
    let total = resp.header("Content-Length").and_then(|v| v.parse::<u64>().ok());
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("cifar_teachers.tar");
    let mut reader = resp.into_reader();
    let mut file = File::create(to).map_err(|e| {
        anyhow!(
            "cannot create {}: {e}; check free disk space and permissions",
            to.display()
        )
    })?;
    let mut buf = vec![0u8; 1 << 16];
    let mut got: u64 = 0;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| offline(format!("the connection failed after {got} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])
            .map_err(|e| anyhow!("cannot write {}: {e}; check free disk space", to.display()))?;
        got += n as u64;
        bar.set_position(got);
    }
    file.sync_all()
        .map_err(|e| anyhow!("cannot write {}: {e}", to.display()))?;
    bar.finish_and_clear();
    if let Some(n) = total.filter(|n| *n != got) {
        return Err(offline(format!("the transfer stopped after {got} of {n} bytes")));
    }
    Ok(())
}
