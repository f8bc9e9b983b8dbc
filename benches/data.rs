//! Data pipeline throughput on the CPU: CIFAR-100 training batches (augment + normalise, batch
//! 64) over a synthetic 50k set, and ImageNet decode + transform on small JPEGs.
//!
//! `cargo bench --bench data`. The reference's per-image PIL pipeline (RandomCrop + flip +
//! ToTensor + Normalize in two DataLoader workers) does about 2.3k images/s on the same 2 cores.

use std::time::Instant;

use catkd::data::imagenet::ImageFolderSource;
use catkd::data::memory::InMemorySource;
use catkd::data::rng::SplitMix64;
use catkd::data::BatchSource;
use image::{ImageFormat, Rgb, RgbImage};
use tch::Device;

fn time_epoch(src: &dyn BatchSource, seed: u64) -> (usize, f64) {
    let t = Instant::now();
    let mut n = 0;
    for b in src.epoch(seed) {
        n += b.expect("batch").labels.size()[0] as usize;
    }
    (n, t.elapsed().as_secs_f64())
}

fn main() {
    println!("torch threads: {}", tch::get_num_threads());

    // CIFAR-100: 50k synthetic images in memory.
    let (images, labels) = catkd::data::synthetic::generate(50_000, &mut SplitMix64::new(0));
    let train = InMemorySource::new(&images, &labels, 64, true, 100, Device::Cpu).expect("source");
    let _ = time_epoch(&train, 0); // warm-up
    let mut rates = Vec::new();
    for seed in 1..=3 {
        let (n, s) = time_epoch(&train, seed);
        rates.push(n as f64 / s);
    }
    println!(
        "cifar100 train (crop+flip+normalise, batch 64): {:.0} images/s (epochs: {:?})",
        median(&mut rates),
        rates.iter().map(|r| r.round()).collect::<Vec<_>>()
    );
    let test =
        InMemorySource::new(&images[..10_000 * 3072], &labels[..10_000], 64, false, 100, Device::Cpu).expect("source");
    let (n, s) = time_epoch(&test, 0);
    println!("cifar100 test (normalise, batch 64): {:.0} images/s", n as f64 / s);

    // ImageNet: small JPEGs (ImageNet-like 500 x 375).
    let dir = tempfile::tempdir().expect("tempdir");
    let count = 96;
    for i in 0..count {
        let class = dir.path().join(format!("c{}", i % 4));
        std::fs::create_dir_all(&class).expect("mkdir");
        let img = RgbImage::from_fn(500, 375, |x, y| {
            Rgb([(x + i) as u8, (y * 3) as u8, ((x ^ y) + i) as u8])
        });
        img.save_with_format(class.join(format!("{i}.jpg")), ImageFormat::Jpeg)
            .expect("jpeg");
    }
    for (train, name) in [
        (true, "train (RandomResizedCrop+flip)"),
        (false, "val (resize 256 + centre crop)"),
    ] {
        let src = ImageFolderSource::open(dir.path(), train, 32, 2, Device::Cpu).expect("imagenet");
        let _ = time_epoch(&src, 0);
        let (n, s) = time_epoch(&src, 1);
        println!(
            "imagenet {name}, 2 workers, 500x375 JPEGs: {:.0} images/s",
            n as f64 / s
        );
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}
