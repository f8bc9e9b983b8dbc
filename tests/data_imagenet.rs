//! ImageNet folders: torchvision's ImageFolder order, both transforms, decoding on threads.

use std::fs;
use std::path::Path;

use catkd::data::augment::{normalize_table, IMAGENET_MEAN, IMAGENET_STD};
use catkd::data::imagenet::{random_resized_crop_params, resize_shorter, scan, ImageFolderSource};
use catkd::data::rng::SplitMix64;
use catkd::data::BatchSource;
use image::{ImageFormat, Rgb, RgbImage};
use tch::{Device, Kind};

fn solid(w: u32, h: u32, c: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(w, h, Rgb(c))
}

fn save(img: &RgbImage, path: &Path, format: ImageFormat) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save_with_format(path, format).unwrap();
}

/// Three classes with JPEGs of assorted sizes, a PNG, a nested folder, an upper-case extension
/// and a file that is not an image.
fn make_split(dir: &Path) -> Vec<[u8; 3]> {
    let colours = vec![[200u8, 30, 30], [30, 200, 30], [30, 30, 200]];
    let classes = ["b_class", "n01", "n02"];
    for (k, class) in classes.iter().enumerate() {
        let d = dir.join(class);
        save(&solid(40, 30, colours[k]), &d.join("img_0.jpg"), ImageFormat::Jpeg);
        save(&solid(64, 80, colours[k]), &d.join("img_1.JPEG"), ImageFormat::Jpeg);
        save(&solid(300, 200, colours[k]), &d.join("sub/img_2.png"), ImageFormat::Png);
        fs::write(d.join("notes.txt"), "not an image").unwrap();
    }
    colours
}

#[test]
fn scan_follows_image_folder_order() {
    let t = tempfile::tempdir().unwrap();
    make_split(t.path());
    let f = scan(t.path()).unwrap();
    assert_eq!(f.classes, vec!["b_class", "n01", "n02"]);
    let names: Vec<String> = f
        .samples
        .iter()
        .map(|(p, _)| p.strip_prefix(t.path()).unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        &names[..3],
        &["b_class/img_0.jpg", "b_class/img_1.JPEG", "b_class/sub/img_2.png"]
    );
    assert_eq!(
        f.samples.iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![0, 0, 0, 1, 1, 1, 2, 2, 2]
    );
}

#[test]
fn test_transform_resizes_crops_and_normalises() {
    let t = tempfile::tempdir().unwrap();
    let colours = make_split(t.path());
    let src = ImageFolderSource::open(t.path(), false, 4, 2, Device::Cpu).unwrap();
    assert_eq!((src.num_images(), src.num_batches(), src.num_classes()), (9, 3, 3));
    let table = normalize_table(IMAGENET_MEAN, IMAGENET_STD);
    let mut labels = Vec::new();
    for b in src.epoch(0) {
        let b = b.unwrap();
        let n = b.images.size()[0];
        assert_eq!(b.images.size(), vec![n, 3, 224, 224]);
        assert_eq!(b.images.kind(), Kind::Float);
        let l = Vec::<i64>::try_from(&b.labels).unwrap();
        for (k, &label) in l.iter().enumerate() {
            // A solid colour stays solid through resize and crop (JPEG may move it a few levels).
            for c in 0..3 {
                let plane = b.images.get(k as i64).get(c);
                let (lo, hi) = (
                    plane.min().double_value(&[]) as f32,
                    plane.max().double_value(&[]) as f32,
                );
                let v = colours[label as usize][c as usize] as usize;
                let expect_lo = table[c as usize * 256 + v.saturating_sub(6)];
                let expect_hi = table[c as usize * 256 + (v + 6).min(255)];
                assert!(
                    lo >= expect_lo && hi <= expect_hi,
                    "class {label} channel {c}: {lo}..{hi}"
                );
            }
        }
        labels.extend(l);
    }
    assert_eq!(labels, vec![0, 0, 0, 1, 1, 1, 2, 2, 2], "file order");
}

#[test]
fn png_test_transform_is_exact() {
    let t = tempfile::tempdir().unwrap();
    save(
        &solid(300, 260, [10, 128, 250]),
        &t.path().join("a/x.png"),
        ImageFormat::Png,
    );
    let src = ImageFolderSource::open(t.path(), false, 8, 1, Device::Cpu).unwrap();
    let b = src.epoch(0).next().unwrap().unwrap();
    let table = normalize_table(IMAGENET_MEAN, IMAGENET_STD);
    for (c, v) in [10usize, 128, 250].into_iter().enumerate() {
        let plane = b.images.get(0).get(c as i64);
        assert_eq!(plane.min().double_value(&[]) as f32, table[c * 256 + v]);
        assert_eq!(plane.max().double_value(&[]) as f32, table[c * 256 + v]);
    }
}

#[test]
fn training_epochs_are_shuffled_complete_and_seeded() {
    let t = tempfile::tempdir().unwrap();
    make_split(t.path());
    // A gradient image so crops and flips show.
    let g = RgbImage::from_fn(120, 90, |x, y| Rgb([(x * 2) as u8, (y * 2) as u8, 77]));
    save(&g, &t.path().join("n02/grad.png"), ImageFormat::Png);
    let src = ImageFolderSource::open(t.path(), true, 3, 2, Device::Cpu).unwrap();
    let run = |seed| -> Vec<(Vec<i64>, tch::Tensor)> {
        src.epoch(seed)
            .map(|b| b.unwrap())
            .map(|b| (Vec::<i64>::try_from(&b.labels).unwrap(), b.images))
            .collect()
    };
    let a = run(5);
    let mut labels: Vec<i64> = a.iter().flat_map(|(l, _)| l.clone()).collect();
    labels.sort();
    assert_eq!(labels, vec![0, 0, 0, 1, 1, 1, 2, 2, 2, 2]);
    for (_, x) in &a {
        assert_eq!(x.size()[1..], [3, 224, 224]);
    }
    let b = run(5);
    for ((la, xa), (lb, xb)) in a.iter().zip(&b) {
        assert_eq!(la, lb);
        assert!(xa.equal(xb), "same seed, same pixels");
    }
    // Abandoning an epoch after one batch stops the workers.
    let first = src.epoch(1).next().unwrap().unwrap();
    assert_eq!(first.labels.size(), vec![3]);
    let c = run(6);
    let differs = a.iter().zip(&c).any(|((la, xa), (lc, xc))| la != lc || !xa.equal(xc));
    assert!(differs);
}

#[test]
fn random_resized_crop_follows_torchvision() {
    let mut rng = SplitMix64::new(1);
    for _ in 0..2000 {
        let (i, j, h, w) = random_resized_crop_params(500, 375, &mut rng);
        assert!(h >= 1 && w >= 1 && i + h <= 375 && j + w <= 500);
        let area = f64::from(h * w) / (500.0 * 375.0);
        assert!(area > 0.07 && area < 1.01, "{area}");
        let ratio = f64::from(w) / f64::from(h);
        assert!(ratio > 0.7 && ratio < 1.4, "{ratio}");
    }
    // No try can fit a 1000 x 10 strip: the central crop with the ratio clamped to 4/3.
    assert_eq!(random_resized_crop_params(1000, 10, &mut rng), (0, 493, 10, 13));
    assert_eq!(random_resized_crop_params(10, 1000, &mut rng), (493, 0, 13, 10));
    assert_eq!(resize_shorter(500, 375, 256), (341, 256));
    assert_eq!(resize_shorter(375, 500, 256), (256, 341));
}

#[test]
fn undecodable_images_are_skipped_and_bad_folders_refused() {
    let t = tempfile::tempdir().unwrap();
    make_split(t.path());
    fs::write(t.path().join("n01/broken.jpg"), b"\xff\xd8\xff garbage").unwrap();
    let src = ImageFolderSource::open(t.path(), false, 4, 1, Device::Cpu).unwrap();
    assert_eq!(src.num_images(), 10);
    let n: i64 = src.epoch(0).map(|b| b.unwrap().labels.size()[0]).sum();
    assert_eq!(n, 9, "the broken file is left out of the epoch");

    // Nothing decodes: an error rather than an empty epoch.
    let junk = tempfile::tempdir().unwrap();
    fs::create_dir_all(junk.path().join("a")).unwrap();
    fs::write(junk.path().join("a/x.jpg"), b"not a jpeg").unwrap();
    let src = ImageFolderSource::open(junk.path(), true, 4, 1, Device::Cpu).unwrap();
    let results: Vec<_> = src.epoch(0).collect();
    assert_eq!(results.len(), 1);
    let e = format!("{:#}", results.into_iter().next().unwrap().err().unwrap());
    assert!(e.contains("none of the 1 images"), "{e}");

    let empty = tempfile::tempdir().unwrap();
    make_split(empty.path());
    fs::create_dir_all(empty.path().join("z_empty")).unwrap();
    let e = format!(
        "{:#}",
        ImageFolderSource::open(empty.path(), true, 4, 1, Device::Cpu)
            .err()
            .unwrap()
    );
    assert!(e.contains("z_empty") && e.contains("holds no image files"), "{e}");

    let e = format!(
        "{:#}",
        ImageFolderSource::open(&t.path().join("missing"), true, 4, 1, Device::Cpu)
            .err()
            .unwrap()
    );
    assert!(e.contains("not found") && e.contains("imagenet/{train,val}"), "{e}");
}

#[test]
fn bilinear_resampling_matches_pillow_within_one_level() {
    let img = RgbImage::from_fn(50, 40, |x, y| {
        Rgb([
            ((x * 7 + y * 3) % 256) as u8,
            ((x * x + y) % 251) as u8,
            (((x ^ y) * 5) % 256) as u8,
        ])
    });
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pil_bilinear");
    let mut r = fast_image_resize::Resizer::new();
    for (name, w, h) in [("down_12x10.rgb", 12, 10), ("up_45x40.rgb", 45, 40)] {
        let golden = fs::read(dir.join(name)).unwrap();
        let ours = catkd::data::imagenet::resample(&img, (3, 2, 30, 25), w, h, &mut r).unwrap();
        assert_eq!(golden.len(), ours.as_raw().len());
        let worst = golden
            .iter()
            .zip(ours.as_raw())
            .map(|(&a, &b)| (i16::from(a) - i16::from(b)).abs())
            .max()
            .unwrap();
        assert!(worst <= 1, "{name}: off by {worst} from Pillow");
    }
}
