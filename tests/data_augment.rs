//! CIFAR augmentation and batching: the reference's transform, seeded and batched.

use catkd::data::augment::{crop_flip, normalize_table, Normalizer, CIFAR100_MEAN, CIFAR100_STD};
use catkd::data::memory::{EpochPlan, InMemorySource};
use catkd::data::rng::SplitMix64;
use catkd::data::BatchSource;
use tch::{Device, Kind, Tensor};

fn random_images(n: usize, seed: u64) -> Vec<u8> {
    let mut g = SplitMix64::new(seed);
    (0..n * 3072).map(|_| g.below(256) as u8).collect()
}

/// The reference transform for one image, pixel by pixel: pad 4 with zeros, crop at (dy, dx),
/// flip. `img` is 3 x 32 x 32 channel-major.
fn naive_crop_flip(img: &[u8], dy: i64, dx: i64, flip: bool) -> Vec<u8> {
    let mut out = vec![0u8; 3072];
    for c in 0..3 {
        for i in 0..32i64 {
            for j in 0..32i64 {
                let jj = if flip { 31 - j } else { j };
                let (y, x) = (dy + i - 4, dx + jj - 4);
                let v = if (0..32).contains(&y) && (0..32).contains(&x) {
                    img[(c * 1024 + y * 32 + x) as usize]
                } else {
                    0
                };
                out[(c * 1024 + i * 32 + j) as usize] = v;
            }
        }
    }
    out
}

fn to_vec_u8(t: &Tensor) -> Vec<u8> {
    Vec::<u8>::try_from(t.reshape([-1])).unwrap()
}

fn to_vec_f32(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.reshape([-1])).unwrap()
}

#[test]
fn plan_draws_every_offset_and_flips_about_half() {
    let plan = EpochPlan::draw(20_000, 42);
    for v in [&plan.dy, &plan.dx] {
        let mut counts = [0usize; 9];
        for &o in v.iter() {
            assert!((0..=8).contains(&o));
            counts[o as usize] += 1;
        }
        // Uniform: each offset about 1/9 of the draws.
        assert!(counts.iter().all(|&c| (1900..2550).contains(&c)), "{counts:?}");
    }
    let flips = plan.flip.iter().filter(|&&f| f).count();
    assert!((9600..10400).contains(&flips), "{flips} flips of 20000");
    let mut order = plan.order.clone();
    order.sort();
    assert_eq!(order, (0..20_000).collect::<Vec<i64>>());
    assert_eq!(plan, EpochPlan::draw(20_000, 42));
    assert_ne!(plan.order, EpochPlan::draw(20_000, 43).order);
}

#[test]
fn crop_flip_matches_the_per_image_reference() {
    let n = 40;
    let raw = random_images(n, 1);
    let images = Tensor::from_slice(&raw).view([n as i64, 3, 32, 32]);
    let mut g = SplitMix64::new(5);
    let dy: Vec<i64> = (0..n)
        .map(|i| if i < 9 { i as i64 } else { g.below(9) as i64 })
        .collect();
    let dx: Vec<i64> = (0..n)
        .map(|i| if i < 9 { 8 - i as i64 } else { g.below(9) as i64 })
        .collect();
    let flip: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
    let out = to_vec_u8(&crop_flip(&images, &dy, &dx, &flip));
    for b in 0..n {
        let expected = naive_crop_flip(&raw[b * 3072..(b + 1) * 3072], dy[b], dx[b], flip[b]);
        assert_eq!(
            &out[b * 3072..(b + 1) * 3072],
            &expected[..],
            "image {b} (dy {}, dx {}, flip {})",
            dy[b],
            dx[b],
            flip[b]
        );
    }
}

#[test]
fn padding_is_zero_before_normalisation() {
    // All-white images: whatever is 0 after the crop came from the padding.
    let images = Tensor::full([2, 3, 32, 32], 255, (Kind::Uint8, Device::Cpu));
    let out = crop_flip(&images, &[0, 8], &[0, 8], &[false, true]);
    let v = to_vec_u8(&out);
    for c in 0..3 {
        for i in 0..32 {
            for j in 0..32 {
                // Image 0 at offset (0, 0): the first 4 rows and columns are padding.
                let pad0 = i < 4 || j < 4;
                assert_eq!(v[c * 1024 + i * 32 + j], if pad0 { 0 } else { 255 });
                // Image 1 at (8, 8), flipped: the last 4 rows, and the first 4 columns after the flip.
                let pad1 = i >= 28 || j < 4;
                assert_eq!(v[3072 + c * 1024 + i * 32 + j], if pad1 { 0 } else { 255 });
            }
        }
    }
}

#[test]
fn normalisation_matches_the_formula() {
    let values: Vec<u8> = (0..=255).collect();
    let x = Tensor::from_slice(&values)
        .view([1, 1, 1, 256])
        .expand([2, 3, 1, 256], false)
        .contiguous();
    let out = to_vec_f32(&Normalizer::cifar100(Device::Cpu).apply(&x));
    // torchvision: ToTensor (divide by 255 in f32), then Normalize (subtract mean, divide by std).
    let mean = Tensor::from_slice(&CIFAR100_MEAN).view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&CIFAR100_STD).view([1, 3, 1, 1]);
    let reference = to_vec_f32(&((x.to_kind(Kind::Float) / 255.0 - mean) / std));
    assert_eq!(out, reference, "bit for bit");
    let table = normalize_table(CIFAR100_MEAN, CIFAR100_STD);
    let per_value: Vec<f32> = (0..2 * 3 * 256).map(|p| table[(p / 256 % 3) * 256 + p % 256]).collect();
    assert_eq!(out, per_value, "equals the f32 formula evaluated on the CPU");
    assert!((table[0] - (-0.5071 / 0.2675)).abs() < 1e-6);
    assert!((table[2 * 256 + 255] - (1.0 - 0.4408) / 0.2761).abs() < 1e-6);
}

#[test]
fn training_batches_follow_the_plan_and_the_seed() {
    let n = 150;
    let raw = random_images(n, 2);
    let labels: Vec<i64> = (0..n as i64).collect();
    let src = InMemorySource::new(&raw, &labels, 64, true, 100, Device::Cpu).unwrap();
    assert_eq!(src.num_batches(), 3);
    let batches: Vec<_> = src.epoch(7).map(|b| b.unwrap()).collect();
    let plan = src.plan(7);
    let table = normalize_table(CIFAR100_MEAN, CIFAR100_STD);
    let mut pos = 0;
    for b in &batches {
        let got_labels = Vec::<i64>::try_from(&b.labels).unwrap();
        let got = to_vec_f32(&b.images);
        assert_eq!(b.images.kind(), Kind::Float);
        for (k, &l) in got_labels.iter().enumerate() {
            assert_eq!(l, plan.order[pos]);
            let i = l as usize;
            let img = naive_crop_flip(
                &raw[i * 3072..(i + 1) * 3072],
                plan.dy[pos],
                plan.dx[pos],
                plan.flip[pos],
            );
            let expected: Vec<f32> = img
                .iter()
                .enumerate()
                .map(|(p, &v)| table[(p / 1024) * 256 + v as usize])
                .collect();
            assert_eq!(&got[k * 3072..(k + 1) * 3072], &expected[..]);
            pos += 1;
        }
    }
    assert_eq!(pos, n, "an epoch visits every image");

    // Same seed: identical batches; another seed: different ones.
    let again: Vec<_> = src.epoch(7).map(|b| b.unwrap()).collect();
    for (a, b) in batches.iter().zip(&again) {
        assert!(a.images.equal(&b.images) && a.labels.equal(&b.labels));
    }
    let other: Vec<_> = src.epoch(8).map(|b| b.unwrap()).collect();
    assert!(!batches[0].labels.equal(&other[0].labels));
}

#[test]
fn an_epoch_visits_every_training_image_exactly_once() {
    let n = 1000;
    let raw = random_images(n, 3);
    let labels: Vec<i64> = (0..n as i64).collect();
    let src = InMemorySource::new(&raw, &labels, 96, true, 100, Device::Cpu).unwrap();
    for seed in [0, 1] {
        let mut seen: Vec<i64> = src
            .epoch(seed)
            .flat_map(|b| Vec::<i64>::try_from(b.unwrap().labels).unwrap())
            .collect();
        assert_eq!(seen.len(), n);
        seen.sort();
        assert_eq!(seen, labels);
    }
    // Abandoning an epoch half way is fine (the prefetch thread stops).
    let first = src.epoch(9).next().unwrap().unwrap();
    assert_eq!(first.images.size(), vec![96, 3, 32, 32]);
}

#[test]
fn test_transform_is_normalisation_only_in_file_order() {
    let n = 70;
    let raw = random_images(n, 4);
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 100).collect();
    let src = InMemorySource::new(&raw, &labels, 32, false, 100, Device::Cpu).unwrap();
    let table = normalize_table(CIFAR100_MEAN, CIFAR100_STD);
    let expected: Vec<f32> = raw
        .iter()
        .enumerate()
        .map(|(p, &v)| table[(p % 3072 / 1024) * 256 + v as usize])
        .collect();
    for seed in [0, 99] {
        let got: Vec<f32> = src.epoch(seed).flat_map(|b| to_vec_f32(&b.unwrap().images)).collect();
        assert_eq!(got, expected);
    }
}
