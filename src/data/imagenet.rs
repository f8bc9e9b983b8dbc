//! ImageNet in torchvision's ImageFolder layout (`<split>/<class folder>/<image>`), decoded on a
//! pool of threads and normalised on the device.
//!
//! Training: RandomResizedCrop(224) with torchvision's sampling (scale 0.08..1, ratio 3/4..4/3,
//! ten tries, then the central-crop fallback) and a horizontal flip with probability 0.5. Test:
//! the shorter side resized to 256 (bilinear), a 224 x 224 centre crop. Then ToTensor +
//! Normalize with the ImageNet statistics.
//!
//! An image that fails to decode is skipped with a warning naming the file (the batch is one
//! image shorter) and the number skipped is logged at the end of the epoch: one bad file among a
//! million should not end a days-long run.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{bail, Context, Result};
use fast_image_resize as fr;
use image::imageops;
use image::RgbImage;
use tch::{Device, Tensor};

use super::augment::Normalizer;
use super::rng::SplitMix64;
use super::{Batch, BatchSource};

/// Output side of both transforms.
pub const CROP: u32 = 224;
/// Shorter side before the test centre crop.
pub const RESIZE: u32 = 256;
/// File name endings torchvision's ImageFolder accepts (compared case-insensitively). Only JPEG
/// and PNG decode here; other formats are skipped with a warning.
pub const IMG_EXTENSIONS: &[&str] = &[
    ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
];

/// The images of one split: class names sorted by folder name, and (file, class index) pairs.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    pub classes: Vec<String>,
    pub samples: Vec<(PathBuf, i64)>,
}

/// Scan `dir` like torchvision's ImageFolder: class folders sorted by name, each walked
/// recursively, files in sorted order, kept when their extension is an image's.
pub fn scan(dir: &Path) -> Result<ImageFolder> {
    if !dir.is_dir() {
        bail!(
            "ImageNet folder {} not found: catkd reads DATASET.ROOT/imagenet/{{train,val}}/<class folder>/<image files> (torchvision's ImageFolder layout); put the data there or point DATASET.ROOT at its parent",
            dir.display()
        );
    }
    let mut classes = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("could not list {}", dir.display()))?;
        if entry.path().is_dir() {
            match entry.file_name().into_string() {
                Ok(name) => classes.push(name),
                Err(name) => bail!(
                    "class folder {:?} in {} has a name that is not UTF-8; rename it",
                    name,
                    dir.display()
                ),
            }
        }
    }
    if classes.is_empty() {
        bail!(
            "{} holds no class folders; ImageFolder expects one folder of images per class",
            dir.display()
        );
    }
    classes.sort();
    let mut samples = Vec::new();
    for (ci, class) in classes.iter().enumerate() {
        let mut files = Vec::new();
        walk(&dir.join(class), &mut files)?;
        files.sort();
        if files.is_empty() {
            bail!(
                "class folder {} holds no image files ({}); add its images or remove the folder",
                dir.join(class).display(),
                IMG_EXTENSIONS.join(" ")
            );
        }
        samples.extend(files.into_iter().map(|(parent, name)| (parent.join(name), ci as i64)));
    }
    Ok(ImageFolder { classes, samples })
}

/// Collect (folder, file name) of every image below `dir`; sorting these pairs gives the order of
/// torchvision's `sorted(os.walk(...))` + `sorted(fnames)`.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("could not list {}", dir.display()))?;
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if let Some(name) = entry.file_name().to_str() {
            let lower = name.to_ascii_lowercase();
            if IMG_EXTENSIONS.iter().any(|e| lower.ends_with(e)) {
                out.push((dir.to_path_buf(), name.to_string()));
            }
        }
    }
    Ok(())
}

/// torchvision's `RandomResizedCrop.get_params` for a `width` x `height` image: the crop's
/// (top, left, height, width).
pub fn random_resized_crop_params(width: u32, height: u32, rng: &mut SplitMix64) -> (u32, u32, u32, u32) {
    let (wf, hf) = (f64::from(width), f64::from(height));
    let area = wf * hf;
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let target_area = area * rng.uniform(0.08, 1.0);
        let aspect = rng.uniform(lo, hi).exp();
        // Python's round() rounds halves to even.
        let w = (target_area * aspect).sqrt().round_ties_even();
        let h = (target_area / aspect).sqrt().round_ties_even();
        if w > 0.0 && w <= wf && h > 0.0 && h <= hf {
            let (w, h) = (w as u32, h as u32);
            let i = rng.below(u64::from(height - h) + 1) as u32;
            let j = rng.below(u64::from(width - w) + 1) as u32;
            return (i, j, h, w);
        }
    }
    // Fallback: the central crop with the ratio clamped to the allowed range.
    let in_ratio = wf / hf;
    let (w, h) = if in_ratio < 3.0 / 4.0 {
        (width, (wf / (3.0 / 4.0)).round_ties_even() as u32)
    } else if in_ratio > 4.0 / 3.0 {
        ((hf * (4.0 / 3.0)).round_ties_even() as u32, height)
    } else {
        (width, height)
    };
    ((height - h) / 2, (width - w) / 2, h, w)
}

/// torchvision's `Resize(256)` output size: shorter side 256, longer side scaled and truncated.
pub fn resize_shorter(width: u32, height: u32, size: u32) -> (u32, u32) {
    if width <= height {
        (size, (f64::from(size) * f64::from(height) / f64::from(width)) as u32)
    } else {
        ((f64::from(size) * f64::from(width) / f64::from(height)) as u32, size)
    }
}

fn decode(path: &Path) -> Result<RgbImage> {
    let img = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .decode()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if img.width() == 0 || img.height() == 0 {
        bail!("the image is empty");
    }
    Ok(img.to_rgb8())
}

/// Bilinear resampling of the `(left, top, width, height)` region of `img` to `out_w` x `out_h`,
/// with the filter widened when shrinking (antialiasing), as PIL's `crop` + `resize(BILINEAR)`
/// that torchvision uses on PIL images (within one grey level of PIL). The region is copied out
/// first: resampling it in place would let the filter read pixels beyond its edges, which PIL
/// never sees.
pub fn resample(
    img: &RgbImage,
    region: (u32, u32, u32, u32),
    out_w: u32,
    out_h: u32,
    resizer: &mut fr::Resizer,
) -> Result<RgbImage> {
    let (left, top, w, h) = region;
    let cropped;
    let src_img = if region == (0, 0, img.width(), img.height()) {
        img
    } else {
        cropped = imageops::crop_imm(img, left, top, w, h).to_image();
        &cropped
    };
    let src = fr::images::ImageRef::new(src_img.width(), src_img.height(), src_img.as_raw(), fr::PixelType::U8x3)?;
    let mut dst = fr::images::Image::new(out_w, out_h, fr::PixelType::U8x3);
    let options = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
    resizer.resize(&src, &mut dst, &options)?;
    RgbImage::from_raw(out_w, out_h, dst.into_vec())
        .ok_or_else(|| anyhow::anyhow!("resampled image has the wrong size"))
}

/// The training transform (before ToTensor/Normalize): 224 x 224 RGB, row-major, interleaved.
pub fn train_transform(img: &RgbImage, rng: &mut SplitMix64, resizer: &mut fr::Resizer) -> Result<RgbImage> {
    let (i, j, h, w) = random_resized_crop_params(img.width(), img.height(), rng);
    let mut out = resample(img, (j, i, w, h), CROP, CROP, resizer)?;
    if rng.next_f64() < 0.5 {
        imageops::flip_horizontal_in_place(&mut out);
    }
    Ok(out)
}

/// The test transform (before ToTensor/Normalize): resize the shorter side to 256, centre crop 224.
pub fn test_transform(img: &RgbImage, resizer: &mut fr::Resizer) -> Result<RgbImage> {
    let (w, h) = resize_shorter(img.width(), img.height(), RESIZE);
    let resized = if (w, h) == img.dimensions() {
        img.clone()
    } else {
        resample(img, (0, 0, img.width(), img.height()), w, h, resizer)?
    };
    let top = (f64::from(h - CROP) / 2.0).round_ties_even() as u32;
    let left = (f64::from(w - CROP) / 2.0).round_ties_even() as u32;
    Ok(imageops::crop_imm(&resized, left, top, CROP, CROP).to_image())
}

/// An image folder split as a [`BatchSource`].
pub struct ImageFolderSource {
    folder: Arc<ImageFolder>,
    train: bool,
    batch_size: usize,
    workers: usize,
    device: Device,
    normalizer: Normalizer,
}

impl ImageFolderSource {
    /// Scan `dir`; `train` selects the random transform and shuffling.
    pub fn open(dir: &Path, train: bool, batch_size: usize, workers: usize, device: Device) -> Result<Self> {
        if batch_size == 0 {
            bail!("the batch size must be at least 1");
        }
        let folder = scan(dir)?;
        tracing::info!(
            "{}: {} images in {} classes",
            dir.display(),
            folder.samples.len(),
            folder.classes.len()
        );
        Ok(ImageFolderSource {
            folder: Arc::new(folder),
            train,
            batch_size,
            workers: workers.max(1),
            device,
            normalizer: Normalizer::imagenet(device),
        })
    }

    pub fn classes(&self) -> &[String] {
        &self.folder.classes
    }
}

impl BatchSource for ImageFolderSource {
    fn num_images(&self) -> usize {
        self.folder.samples.len()
    }

    fn num_batches(&self) -> usize {
        self.folder.samples.len().div_ceil(self.batch_size)
    }

    fn num_classes(&self) -> i64 {
        self.folder.classes.len() as i64
    }

    fn epoch<'a>(&'a self, seed: u64) -> Box<dyn Iterator<Item = Result<Batch>> + 'a> {
        let n = self.folder.samples.len();
        let order: Vec<usize> = if self.train {
            SplitMix64::new(seed)
                .permutation(n)
                .into_iter()
                .map(|i| i as usize)
                .collect()
        } else {
            (0..n).collect()
        };
        Box::new(DecodeEpoch::start(self, order, seed))
    }
}

/// A batch's worth of work: positions in the epoch and where to send the result.
struct Job {
    positions: std::ops::Range<usize>,
    reply: std::sync::mpsc::SyncSender<Decoded>,
}

/// A decoded batch: N x 224 x 224 x 3 bytes, labels, and the files that failed.
struct Decoded {
    pixels: Vec<u8>,
    labels: Vec<i64>,
    failed: Vec<(PathBuf, String)>,
}

/// One epoch in flight: worker threads decode whole batches, at most `depth` batches ahead,
/// and batches come out in epoch order.
struct DecodeEpoch<'a> {
    source: &'a ImageFolderSource,
    jobs: Option<Sender<Job>>,
    /// Set when the epoch is dropped early, so workers skip the batches still queued.
    cancelled: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    pending: VecDeque<Receiver<Decoded>>,
    next_start: usize,
    total: usize,
    depth: usize,
    skipped: usize,
    delivered: usize,
}

impl<'a> DecodeEpoch<'a> {
    fn start(source: &'a ImageFolderSource, order: Vec<usize>, seed: u64) -> Self {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let order = Arc::new(order);
        let cancelled = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for w in 0..source.workers {
            let rx = Arc::clone(&rx);
            let folder = Arc::clone(&source.folder);
            let order = Arc::clone(&order);
            let train = source.train;
            let cancelled = Arc::clone(&cancelled);
            let spawned = std::thread::Builder::new()
                .name(format!("catkd-decode-{w}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if cancelled.load(Ordering::Relaxed) {
                        return;
                    }
                    let _ = job
                        .reply
                        .send(decode_batch(&folder, &order, job.positions, train, seed));
                });
            if let Ok(h) = spawned {
                workers.push(h);
            }
        }
        let total = order.len();
        DecodeEpoch {
            source,
            jobs: Some(tx),
            cancelled,
            depth: 2 * workers.len().max(1),
            workers,
            pending: VecDeque::new(),
            next_start: 0,
            total,
            skipped: 0,
            delivered: 0,
        }
    }

    fn submit(&mut self) {
        while self.pending.len() < self.depth && self.next_start < self.total {
            let end = (self.next_start + self.source.batch_size).min(self.total);
            let (reply, result) = sync_channel(1);
            let job = Job {
                positions: self.next_start..end,
                reply,
            };
            if let Some(jobs) = &self.jobs {
                let _ = jobs.send(job);
            }
            self.pending.push_back(result);
            self.next_start = end;
        }
    }

    fn to_batch(&self, d: Decoded) -> Result<Batch> {
        let k = d.labels.len() as i64;
        let side = i64::from(CROP);
        let hwc = Tensor::f_from_slice(&d.pixels)?
            .view([k, side, side, 3])
            .f_to_device(self.source.device)?;
        let images = self.source.normalizer.apply(&hwc.permute([0, 3, 1, 2]));
        let labels = Tensor::f_from_slice(&d.labels)?.f_to_device(self.source.device)?;
        Ok(Batch { images, labels })
    }
}

impl Iterator for DecodeEpoch<'_> {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        loop {
            self.submit();
            let Some(rx) = self.pending.pop_front() else {
                if self.skipped > 0 {
                    let skipped = std::mem::take(&mut self.skipped);
                    if self.delivered == 0 {
                        return Some(Err(anyhow::anyhow!("none of the {skipped} images of this epoch decoded (see the warnings above); check that the folder holds JPEG or PNG files")));
                    }
                    tracing::warn!("{skipped} image(s) failed to decode and were left out of this epoch");
                }
                return None;
            };
            let Ok(d) = rx.recv() else {
                self.pending.clear();
                self.next_start = self.total;
                return Some(Err(anyhow::anyhow!(
                    "an image decoding thread failed (see the message above); the epoch is incomplete"
                )));
            };
            for (path, err) in &d.failed {
                tracing::warn!("skipping {}: it does not decode as an image ({err})", path.display());
            }
            self.skipped += d.failed.len();
            if d.labels.is_empty() {
                continue;
            }
            self.delivered += d.labels.len();
            return Some(self.to_batch(d));
        }
    }
}

impl Drop for DecodeEpoch<'_> {
    fn drop(&mut self) {
        // Closing the job queue and raising the flag ends the workers once their current batch is done.
        self.cancelled.store(true, Ordering::Relaxed);
        self.jobs = None;
        self.pending.clear();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

fn decode_batch(
    folder: &ImageFolder,
    order: &[usize],
    positions: std::ops::Range<usize>,
    train: bool,
    seed: u64,
) -> Decoded {
    let per = (CROP * CROP * 3) as usize;
    let mut d = Decoded {
        pixels: Vec::with_capacity(positions.len() * per),
        labels: Vec::new(),
        failed: Vec::new(),
    };
    let mut resizer = fr::Resizer::new();
    for pos in positions {
        let (path, label) = &folder.samples[order[pos]];
        let out = decode(path).and_then(|img| {
            if train {
                // Per-position stream: the same seed gives the same crops whatever thread runs it.
                train_transform(&img, &mut SplitMix64::for_item(seed, pos as u64), &mut resizer)
            } else {
                test_transform(&img, &mut resizer)
            }
        });
        match out {
            Ok(out) => {
                d.pixels.extend_from_slice(out.as_raw());
                d.labels.push(*label);
            }
            Err(e) => d.failed.push((path.clone(), e.to_string())),
        }
    }
    d
}
