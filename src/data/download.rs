//! Fetching and unpacking data archives: HTTP download with an MD5 check, atomic tar.gz unpack.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use md5::{Digest, Md5};

/// Download `url` to `dest`, checking the MD5 of the bytes against `expected_md5` (hex).
///
/// The bytes go to `dest` + `.part` first and are renamed only once complete and verified, so an
/// interrupted or corrupted download never looks like a finished archive.
pub fn fetch(url: &str, dest: &Path, expected_md5: &str) -> Result<()> {
    let part = with_suffix(dest, ".part");
    let response = ureq::get(url).timeout(std::time::Duration::from_secs(60)).call().map_err(|e| {
        anyhow::anyhow!("could not download the archive ({e}); check the address and the network, or put the archive at {} by hand", dest.display())
    })?;
    let expected_len: Option<u64> = response.header("Content-Length").and_then(|v| v.parse().ok());
    let mut reader = response.into_reader();
    let file = File::create(&part).with_context(|| format!("could not create {}", part.display()))?;
    let mut out = BufWriter::new(file);
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = fs::remove_file(&part);
                bail!("download of {url} broke off after {total} bytes ({e}); run the command again");
            }
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("could not write {}", part.display()))?;
        total += n as u64;
    }
    out.flush()
        .with_context(|| format!("could not write {}", part.display()))?;
    drop(out);
    if let Some(len) = expected_len {
        if len != total {
            let _ = fs::remove_file(&part);
            bail!("download of {url} ended after {total} of {len} bytes; run the command again");
        }
    }
    let got = hex(&hasher.finalize());
    if !got.eq_ignore_ascii_case(expected_md5) {
        let _ = fs::remove_file(&part);
        bail!("the file downloaded from {url} has MD5 {got}, expected {expected_md5}; it is corrupt or not the expected archive (nothing was kept)");
    }
    fs::rename(&part, dest).with_context(|| format!("could not move {} to {}", part.display(), dest.display()))?;
    Ok(())
}

/// MD5 of a file as lowercase hex.
pub fn file_md5(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("could not read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Unpack the tar.gz `archive` and move its top folder `folder` into `root`.
///
/// Unpacking happens in a scratch folder inside `root` that is renamed into place at the end, so
/// an interrupted unpack leaves no half-filled data folder behind.
pub fn unpack_tar_gz(archive: &Path, root: &Path, folder: &str) -> Result<PathBuf> {
    let target = root.join(folder);
    let scratch = root.join(format!(".unpack-{folder}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).with_context(|| format!("could not create {}", scratch.display()))?;
    let result = (|| -> Result<()> {
        let file = File::open(archive).with_context(|| format!("could not open {}", archive.display()))?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
        tar.unpack(&scratch).map_err(|e| {
            anyhow::anyhow!(
                "could not unpack {} ({e}); the archive is truncated or not a tar.gz file — delete it and get it again",
                archive.display()
            )
        })?;
        let inner = scratch.join(folder);
        if !inner.is_dir() {
            bail!(
                "{} does not contain the folder {folder}/; it is not the expected archive",
                archive.display()
            );
        }
        fs::rename(&inner, &target)
            .with_context(|| format!("could not move the unpacked {folder}/ to {}", target.display()))?;
        Ok(())
    })();
    let _ = fs::remove_dir_all(&scratch);
    result.map(|_| target)
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
