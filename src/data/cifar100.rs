//! CIFAR-100 in both official layouts (python pickles and binary records), found, unpacked or
//! downloaded under the data root.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::pickle::{self, Value};

/// Where torchvision fetches the python version from.
pub const CIFAR100_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz";
/// torchvision's MD5 of `cifar-100-python.tar.gz`.
pub const CIFAR100_MD5: &str = "eb9058c3a382ffc7106e4002c42a8d85";

pub const PYTHON_DIR: &str = "cifar-100-python";
pub const BINARY_DIR: &str = "cifar-100-binary";
pub const PYTHON_ARCHIVE: &str = "cifar-100-python.tar.gz";
pub const BINARY_ARCHIVE: &str = "cifar-100-binary.tar.gz";

pub const NUM_CLASSES: i64 = 100;
/// Bytes of one image: 3 channel planes (R, G, B) of 32 rows of 32 pixels.
pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes of one binary record: coarse label, fine label, pixels.
pub const RECORD_BYTES: usize = 2 + IMAGE_BYTES;

/// Which official layout a split was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Python,
    Binary,
}

/// One split in memory.
#[derive(Debug, Clone)]
pub struct CifarSplit {
    /// N x 3072 bytes, each image channel-major (R plane, G plane, B plane; rows of 32).
    pub images: Vec<u8>,
    /// Fine labels, 0..=99.
    pub labels: Vec<i64>,
    /// Fine class names when the meta file is present (empty otherwise).
    pub class_names: Vec<String>,
    pub layout: Layout,
    /// The file the split was read from.
    pub path: PathBuf,
}

impl CifarSplit {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Keep only the images at `keep` (in that order).
    pub fn select(&self, keep: &[usize]) -> CifarSplit {
        let mut images = Vec::with_capacity(keep.len() * IMAGE_BYTES);
        for &i in keep {
            images.extend_from_slice(&self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]);
        }
        CifarSplit {
            images,
            labels: keep.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            layout: self.layout,
            path: self.path.clone(),
        }
    }
}

/// The training-set reduction of the reference (DATASET.REDUCTION): the images to keep, in file
/// order. Classes `0..class_num` survive and of each class the first `floor(count * rate)` images
/// in file order, `count` being the class's number of images (500 in CIFAR-100, so
/// `floor(500 * rate)` as in the reference).
pub fn reduction_indices(labels: &[i64], class_num: i64, rate: f64) -> Vec<usize> {
    let mut counts = vec![0usize; NUM_CLASSES as usize];
    for &l in labels {
        if (0..NUM_CLASSES).contains(&l) {
            counts[l as usize] += 1;
        }
    }
    let quota: Vec<usize> = counts.iter().map(|&c| (c as f64 * rate).floor() as usize).collect();
    let mut taken = vec![0usize; NUM_CLASSES as usize];
    let mut keep = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        if l < 0 || l >= class_num {
            continue;
        }
        let c = l as usize;
        if taken[c] < quota[c] {
            taken[c] += 1;
            keep.push(i);
        }
    }
    keep
}

/// Load the training (`train = true`) or test split from `root`, unpacking an archive found there
/// and, when `download` is set and nothing else is there, downloading the python version.
pub fn load_split(root: &Path, train: bool, download: bool) -> Result<CifarSplit> {
    let (layout, path) = locate(root, train, download)?;
    let mut split = match layout {
        Layout::Python => read_python_file(&path)?,
        Layout::Binary => read_binary_file(&path)?,
    };
    split.class_names = match layout {
        Layout::Python => read_python_meta(&path.with_file_name("meta")).unwrap_or_default(),
        Layout::Binary => read_names_txt(&path.with_file_name("fine_label_names.txt")).unwrap_or_default(),
    };
    Ok(split)
}

/// Find the split's file: an unpacked python or binary folder, else an archive to unpack, else a
/// download (when allowed).
pub fn locate(root: &Path, train: bool, download: bool) -> Result<(Layout, PathBuf)> {
    let py = root.join(PYTHON_DIR).join(if train { "train" } else { "test" });
    let bin = root.join(BINARY_DIR).join(if train { "train.bin" } else { "test.bin" });
    if py.is_file() {
        return Ok((Layout::Python, py));
    }
    if bin.is_file() {
        return Ok((Layout::Binary, bin));
    }
    for (archive, dir, layout, file) in [
        (PYTHON_ARCHIVE, PYTHON_DIR, Layout::Python, &py),
        (BINARY_ARCHIVE, BINARY_DIR, Layout::Binary, &bin),
    ] {
        let archive = root.join(archive);
        if archive.is_file() && !root.join(dir).exists() {
            tracing::info!("unpacking {}", archive.display());
            super::download::unpack_tar_gz(&archive, root, dir)?;
            if file.is_file() {
                return Ok((layout, file.clone()));
            }
            bail!(
                "{} was unpacked but holds no {}; the archive is incomplete",
                archive.display(),
                file.display()
            );
        }
    }
    if download && !root.join(PYTHON_DIR).exists() {
        download_python(root, CIFAR100_URL, CIFAR100_MD5)?;
        if py.is_file() {
            return Ok((Layout::Python, py));
        }
    }
    bail!(
        "CIFAR-100 {} data not found: looked for {}, {} and the archives {} / {} in {}; run `catkd data download --root {}` or put one of the archives there (or set DATASET.DOWNLOAD True)",
        if train { "training" } else { "test" },
        py.display(),
        bin.display(),
        PYTHON_ARCHIVE,
        BINARY_ARCHIVE,
        root.display(),
        root.display()
    )
}

/// Download the python version from `url` into `root`, check its MD5 and unpack it.
pub fn download_python(root: &Path, url: &str, md5: &str) -> Result<PathBuf> {
    fs::create_dir_all(root).with_context(|| format!("could not create the data folder {}", root.display()))?;
    let archive = root.join(PYTHON_ARCHIVE);
    if archive.is_file() && super::download::file_md5(&archive)?.eq_ignore_ascii_case(md5) {
        tracing::info!("{} is already there and intact", archive.display());
    } else {
        tracing::info!("downloading {url} to {}", archive.display());
        super::download::fetch(url, &archive, md5)?;
    }
    let dir = root.join(PYTHON_DIR);
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("could not replace {}", dir.display()))?;
    }
    super::download::unpack_tar_gz(&archive, root, PYTHON_DIR)
}

/// `catkd data download`.
pub fn download_cli(args: &crate::cli::DownloadArgs) -> Result<()> {
    let root = &args.root;
    let dir = root.join(PYTHON_DIR);
    if dir.join("train").is_file() && dir.join("test").is_file() {
        println!(
            "{} already holds CIFAR-100 (python version); delete it to download again",
            dir.display()
        );
        return Ok(());
    }
    download_python(root, &args.url, CIFAR100_MD5)?;
    let train = load_split(root, true, false)?;
    let test = load_split(root, false, false)?;
    println!(
        "CIFAR-100 is in {}: {} training and {} test images",
        dir.display(),
        train.len(),
        test.len()
    );
    Ok(())
}

/// Read a python-version split (`train` or `test`): a pickled dict with `data` (a numpy uint8
/// array N x 3072) and `fine_labels`.
pub fn read_python_file(path: &Path) -> Result<CifarSplit> {
    let bytes = fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let (value, _) = pickle::load(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a readable CIFAR-100 python file ({e}); delete it and unpack or download the data again",
            path.display()
        )
    })?;
    drop(bytes);
    let kind = value.kind();
    let Value::Dict(entries) = value else {
        bail!(
            "{} holds {kind} instead of a dict; it is not a CIFAR-100 python file",
            path.display()
        );
    };
    let mut data = None;
    let mut labels = None;
    for (k, v) in entries {
        match k.as_str() {
            Some("data") => data = Some(v),
            Some("fine_labels") => labels = Some(v),
            _ => {}
        }
    }
    let data = data.ok_or_else(|| {
        anyhow::anyhow!(
            "{} has no `data` entry; it is not a CIFAR-100 python file",
            path.display()
        )
    })?;
    let labels = labels.ok_or_else(|| {
        anyhow::anyhow!(
            "{} has no `fine_labels` entry; it is not a CIFAR-100 python file (CIFAR-10 has `labels`)",
            path.display()
        )
    })?;
    let (shape, images) = numpy_u8_array(data).map_err(|e| anyhow::anyhow!("{}: `data` {e}", path.display()))?;
    if shape.len() != 2 || shape[1] != IMAGE_BYTES {
        bail!(
            "{}: `data` has shape {shape:?}, expected N x {IMAGE_BYTES} (N images of 3 x 32 x 32)",
            path.display()
        );
    }
    let n = shape[0];
    let seq = labels.as_seq().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: `fine_labels` is {}, expected a list of ints",
            path.display(),
            labels.kind()
        )
    })?;
    if seq.len() != n {
        bail!(
            "{}: `fine_labels` has {} entries but `data` has {n} images",
            path.display(),
            seq.len()
        );
    }
    let mut out = Vec::with_capacity(n);
    for (i, v) in seq.iter().enumerate() {
        match v.as_int() {
            Some(l) if (0..NUM_CLASSES).contains(&l) => out.push(l),
            Some(l) => bail!("{}: label {l} of image {i} is outside 0..99", path.display()),
            None => bail!("{}: label {i} is {}, expected an int", path.display(), v.kind()),
        }
    }
    Ok(CifarSplit {
        images,
        labels: out,
        class_names: Vec::new(),
        layout: Layout::Python,
        path: path.to_path_buf(),
    })
}

/// Decode a pickled numpy uint8 array (`numpy.core.multiarray._reconstruct` + `BUILD` state)
/// into its shape and C-order bytes.
fn numpy_u8_array(v: Value) -> Result<(Vec<usize>, Vec<u8>)> {
    let class = v.class_name().unwrap_or_default();
    let kind = v.kind();
    let Value::Object { state: Some(state), .. } = v else {
        bail!("is {kind}, expected a pickled numpy array");
    };
    if !class.ends_with("multiarray._reconstruct") {
        bail!("is an object of {class}, expected a pickled numpy array");
    }
    let Value::Tuple(mut st) = *state else {
        bail!("has a numpy state that is not a tuple");
    };
    // numpy writes (version, shape, dtype, is_fortran, data); older ones leave out the version.
    if st.len() == 5 {
        st.remove(0);
    }
    if st.len() != 4 {
        bail!("has a numpy state of {} items, expected 4 or 5", st.len());
    }
    let raw = st.pop().unwrap_or(Value::None);
    let fortran = st[2].as_int().unwrap_or(0) != 0;
    let dtype = match &st[1] {
        Value::Object { args, .. } => args.first().and_then(|a| a.as_str()).unwrap_or("?").to_string(),
        other => bail!("has a dtype that is {}", other.kind()),
    };
    if !matches!(dtype.trim_start_matches('|'), "u1" | "uint8") {
        bail!("has dtype {dtype}, expected uint8 (u1)");
    }
    let shape = st[0]
        .as_seq()
        .ok_or_else(|| anyhow::anyhow!("has a shape that is not a tuple"))?
        .iter()
        .map(|d| d.as_int().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| anyhow::anyhow!("has a shape with a non-integer or negative size"))?;
    let Value::Bytes(bytes) = raw else {
        bail!("holds {} instead of raw bytes", raw.kind());
    };
    let numel: usize = shape.iter().product();
    if bytes.len() != numel {
        bail!(
            "holds {} bytes but shape {shape:?} needs {numel}; the file is truncated or corrupt",
            bytes.len()
        );
    }
    if fortran && shape.len() == 2 {
        let (r, c) = (shape[0], shape[1]);
        let mut out = vec![0u8; numel];
        for i in 0..r {
            for j in 0..c {
                out[i * c + j] = bytes[j * r + i];
            }
        }
        return Ok((shape, out));
    }
    if fortran && shape.len() > 2 {
        bail!(
            "is a Fortran-ordered array of {} dimensions, which is not supported",
            shape.len()
        );
    }
    Ok((shape, bytes))
}

/// Fine class names from the python version's `meta` file.
pub fn read_python_meta(path: &Path) -> Result<Vec<String>> {
    let bytes = fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let (v, _) = pickle::load(&bytes)
        .map_err(|e| anyhow::anyhow!("{} is not a readable CIFAR-100 meta file ({e})", path.display()))?;
    let names = v
        .get("fine_label_names")
        .and_then(|n| n.as_seq())
        .ok_or_else(|| anyhow::anyhow!("{} has no `fine_label_names` list", path.display()))?;
    Ok(names.iter().map(|n| n.as_str().unwrap_or("?").to_string()).collect())
}

/// Read a binary-version split: records of coarse label, fine label and 3072 pixel bytes.
pub fn read_binary_file(path: &Path) -> Result<CifarSplit> {
    let bytes = fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    if bytes.is_empty() || bytes.len() % RECORD_BYTES != 0 {
        bail!(
            "{} is {} bytes, not a whole number of {RECORD_BYTES}-byte CIFAR-100 records (coarse label, fine label, 3072 pixels); the file is truncated or not CIFAR-100 binary",
            path.display(),
            bytes.len()
        );
    }
    let n = bytes.len() / RECORD_BYTES;
    let mut images = Vec::with_capacity(n * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let fine = i64::from(rec[1]);
        if fine >= NUM_CLASSES {
            bail!("{}: record {i} has fine label {fine}, outside 0..99; the file is corrupt or not CIFAR-100 (CIFAR-10 records are 3073 bytes)", path.display());
        }
        labels.push(fine);
        images.extend_from_slice(&rec[2..]);
    }
    Ok(CifarSplit {
        images,
        labels,
        class_names: Vec::new(),
        layout: Layout::Binary,
        path: path.to_path_buf(),
    })
}

/// One name per line (`fine_label_names.txt`).
pub fn read_names_txt(path: &Path) -> Result<Vec<String>> {
    let text = fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}
