//! Synthetic CIFAR-100 look-alikes written in the real file formats, for demos and tests.
//!
//! Every class has its own colour and stripe pattern under pixel noise, so a small network learns
//! them in a few epochs. The images, labels and their order depend only on the seed; both formats
//! hold the same data for the same seed.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::cifar100::{BINARY_DIR, IMAGE_BYTES, NUM_CLASSES, PYTHON_DIR};
use super::rng::SplitMix64;
use crate::cli::SynthFormat;

/// Coarse classes: 20 super-classes of 5 fine classes each, as in CIFAR-100.
const NUM_COARSE: i64 = 20;

/// `catkd data synth`.
pub fn run_cli(args: &crate::cli::SynthArgs) -> Result<()> {
    write_synthetic(&args.out, args.train, args.test, args.format, args.seed)?;
    let dir = match args.format {
        SynthFormat::Python => PYTHON_DIR,
        SynthFormat::Binary => BINARY_DIR,
    };
    println!(
        "wrote a synthetic CIFAR-100 ({} training, {} test images) to {}; train with DATASET.ROOT {}",
        args.train,
        args.test,
        args.out.join(dir).display(),
        args.out.display()
    );
    Ok(())
}

/// Write `train` training and `test` test images under `out` (`cifar-100-python/` or
/// `cifar-100-binary/`).
pub fn write_synthetic(out: &Path, train: usize, test: usize, format: SynthFormat, seed: u64) -> Result<()> {
    if train == 0 || test == 0 {
        bail!(
            "a synthetic data set needs at least one training and one test image (got --train {train} --test {test})"
        );
    }
    let mut rng = SplitMix64::new(seed);
    let (train_images, train_labels) = generate(train, &mut rng);
    let (test_images, test_labels) = generate(test, &mut rng);
    let names: Vec<String> = (0..NUM_CLASSES).map(|c| format!("class_{c:02}")).collect();
    let coarse_names: Vec<String> = (0..NUM_COARSE).map(|c| format!("superclass_{c:02}")).collect();
    match format {
        SynthFormat::Python => {
            let dir = out.join(PYTHON_DIR);
            fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
            write_file(
                &dir.join("train"),
                &python_split(&train_images, &train_labels, "training batch 1 of 1", "train")?,
            )?;
            write_file(
                &dir.join("test"),
                &python_split(&test_images, &test_labels, "testing batch 1 of 1", "test")?,
            )?;
            write_file(&dir.join("meta"), &python_meta(&names, &coarse_names))?;
        }
        SynthFormat::Binary => {
            let dir = out.join(BINARY_DIR);
            fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
            write_file(&dir.join("train.bin"), &binary_split(&train_images, &train_labels))?;
            write_file(&dir.join("test.bin"), &binary_split(&test_images, &test_labels))?;
            write_file(&dir.join("fine_label_names.txt"), (names.join("\n") + "\n").as_bytes())?;
            write_file(
                &dir.join("coarse_label_names.txt"),
                (coarse_names.join("\n") + "\n").as_bytes(),
            )?;
        }
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).with_context(|| format!("could not write {}", path.display()))
}

/// `n` images (N x 3072, channel-major) with balanced labels in a seeded random order.
pub fn generate(n: usize, rng: &mut SplitMix64) -> (Vec<u8>, Vec<i64>) {
    let mut labels: Vec<i64> = (0..n).map(|i| i as i64 % NUM_CLASSES).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        labels.swap(i, j);
    }
    let mut images = Vec::with_capacity(n * IMAGE_BYTES);
    for &l in &labels {
        draw_image(l, rng, &mut images);
    }
    (images, labels)
}

/// Class `c`: a base colour from a 5 x 5 x 4 grid (100 distinct colours), a stripe pattern
/// (horizontal, vertical, diagonal or checks, by `c % 4`, period by `c / 4 % 3`), and noise.
fn draw_image(c: i64, rng: &mut SplitMix64, out: &mut Vec<u8>) {
    let base = [40 + (c % 5) * 45, 40 + (c / 5 % 5) * 45, 50 + (c / 25) * 50];
    let period = 4 + 2 * (c / 4 % 3);
    let start = out.len();
    out.resize(start + IMAGE_BYTES, 0);
    let img = &mut out[start..];
    for y in 0..32i64 {
        for x in 0..32i64 {
            let phase = match c % 4 {
                0 => y,
                1 => x,
                2 => x + y,
                _ => x / 2 + y / 2 * 3,
            };
            let stripe = if phase % period < period / 2 { 30 } else { -30 };
            for (ch, b) in base.iter().enumerate() {
                let noise = rng.below(41) as i64 - 20;
                let v = (b + stripe + noise).clamp(0, 255);
                img[ch * 1024 + (y * 32 + x) as usize] = v as u8;
            }
        }
    }
}

/// Binary records: coarse label, fine label, 3072 pixels.
fn binary_split(images: &[u8], labels: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.len() * (IMAGE_BYTES + 2));
    for (i, &l) in labels.iter().enumerate() {
        out.push((l / 5) as u8);
        out.push(l as u8);
        out.extend_from_slice(&images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]);
    }
    out
}

/// A split as Python 2's cPickle (protocol 2) writes CIFAR-100: a dict of BINSTRING keys with
/// `data` as a numpy `_reconstruct` + BUILD array.
fn python_split(images: &[u8], labels: &[i64], batch_label: &str, prefix: &str) -> Result<Vec<u8>> {
    let n = labels.len();
    if images.len() > u32::MAX as usize {
        bail!("{n} images do not fit in one Python 2 pickle string (4 GiB); write fewer");
    }
    let mut p = Py2Pickler::new();
    p.out.push(b'}');
    p.put();
    p.out.push(b'(');
    p.string(b"data");
    p.numpy_u8(&[n, IMAGE_BYTES], images);
    p.string(b"fine_labels");
    p.int_list(labels);
    p.string(b"batch_label");
    p.string(batch_label.as_bytes());
    p.string(b"coarse_labels");
    p.int_list(&labels.iter().map(|l| l / 5).collect::<Vec<_>>());
    p.string(b"filenames");
    let names: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{prefix}_class_{l:02}_s_{i:06}.png"))
        .collect();
    p.string_list(&names);
    p.out.push(b'u');
    p.out.push(b'.');
    Ok(p.out)
}

fn python_meta(fine: &[String], coarse: &[String]) -> Vec<u8> {
    let mut p = Py2Pickler::new();
    p.out.push(b'}');
    p.put();
    p.out.push(b'(');
    p.string(b"fine_label_names");
    p.string_list(fine);
    p.string(b"coarse_label_names");
    p.string_list(coarse);
    p.out.push(b'u');
    p.out.push(b'.');
    p.out
}

/// Just enough of a protocol-2 pickler, emitting the opcodes Python 2 chooses.
struct Py2Pickler {
    out: Vec<u8>,
    memo: u32,
}

impl Py2Pickler {
    fn new() -> Self {
        Py2Pickler {
            out: vec![0x80, 2],
            memo: 0,
        }
    }

    /// BINPUT / LONG_BINPUT the top of the stack, as the pickler memoises every container and string.
    fn put(&mut self) {
        if self.memo < 256 {
            self.out.extend_from_slice(&[b'q', self.memo as u8]);
        } else {
            self.out.push(b'r');
            self.out.extend_from_slice(&self.memo.to_le_bytes());
        }
        self.memo += 1;
    }

    /// SHORT_BINSTRING or BINSTRING (Python 2 `str`).
    fn string(&mut self, s: &[u8]) {
        if s.len() < 256 {
            self.out.extend_from_slice(&[b'U', s.len() as u8]);
        } else {
            self.out.push(b'T');
            self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        }
        self.out.extend_from_slice(s);
        self.put();
    }

    fn int(&mut self, v: i64) {
        if (0..256).contains(&v) {
            self.out.extend_from_slice(&[b'K', v as u8]);
        } else if (0..65536).contains(&v) {
            self.out.push(b'M');
            self.out.extend_from_slice(&(v as u16).to_le_bytes());
        } else {
            self.out.push(b'J');
            self.out.extend_from_slice(&(v as i32).to_le_bytes());
        }
    }

    fn global(&mut self, module: &str, name: &str) {
        self.out.push(b'c');
        self.out.extend_from_slice(module.as_bytes());
        self.out.push(b'\n');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'\n');
        self.put();
    }

    /// EMPTY_LIST then APPENDS in batches of 1000, like the pickler.
    fn int_list(&mut self, v: &[i64]) {
        self.out.push(b']');
        self.put();
        for chunk in v.chunks(1000) {
            self.out.push(b'(');
            for &x in chunk {
                self.int(x);
            }
            self.out.push(b'e');
        }
    }

    fn string_list(&mut self, v: &[String]) {
        self.out.push(b']');
        self.put();
        for chunk in v.chunks(1000) {
            self.out.push(b'(');
            for s in chunk {
                self.string(s.as_bytes());
            }
            self.out.push(b'e');
        }
    }

    /// `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b')` then BUILD with
    /// `(1, shape, dtype('u1'), False, raw bytes)`.
    fn numpy_u8(&mut self, shape: &[usize], data: &[u8]) {
        self.global("numpy.core.multiarray", "_reconstruct");
        self.global("numpy", "ndarray");
        self.int(0);
        self.out.push(0x85); // TUPLE1
        self.put();
        self.string(b"b");
        self.out.push(0x87); // TUPLE3
        self.put();
        self.out.push(b'R');
        self.put();
        self.out.push(b'(');
        self.int(1);
        self.out.push(b'(');
        for &d in shape {
            self.int(d as i64);
        }
        self.out.push(b't');
        self.put();
        self.global("numpy", "dtype");
        self.string(b"u1");
        self.int(0);
        self.int(1);
        self.out.push(0x87);
        self.put();
        self.out.push(b'R');
        self.put();
        // dtype state: (3, '|', None, None, None, -1, -1, 0)
        self.out.push(b'(');
        self.int(3);
        self.string(b"|");
        self.out.extend_from_slice(b"NNN");
        self.int(-1);
        self.int(-1);
        self.int(0);
        self.out.push(b't');
        self.put();
        self.out.push(b'b');
        self.out.push(0x89); // NEWFALSE: C order
        self.out.push(b'T');
        self.out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.out.extend_from_slice(data);
        self.put();
        self.out.push(b't');
        self.put();
        self.out.push(b'b');
    }
}
