//! CIFAR-100 files: both layouts, archives, download, reduction and bad input.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use catkd::cli::SynthFormat;
use catkd::config::Config;
use catkd::data::cifar100::{self, load_split, reduction_indices, Layout};
use catkd::data::synthetic::write_synthetic;
use catkd::data::{test_loader, train_loader};
use catkd::models::DatasetKind;
use tch::Device;

fn err_text<T>(r: anyhow::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn python_and_binary_versions_read_the_same_images_and_labels() {
    let py = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    write_synthetic(py.path(), 300, 120, SynthFormat::Python, 11).unwrap();
    write_synthetic(bin.path(), 300, 120, SynthFormat::Binary, 11).unwrap();
    for train in [true, false] {
        let a = load_split(py.path(), train, false).unwrap();
        let b = load_split(bin.path(), train, false).unwrap();
        assert_eq!(a.layout, Layout::Python);
        assert_eq!(b.layout, Layout::Binary);
        assert_eq!(a.len(), if train { 300 } else { 120 });
        assert_eq!(a.images, b.images);
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.class_names.len(), 100);
        assert_eq!(a.class_names, b.class_names);
        assert!(a.labels.iter().all(|&l| (0..100).contains(&l)));
    }
    // Another seed gives other data.
    let other = tempfile::tempdir().unwrap();
    write_synthetic(other.path(), 300, 120, SynthFormat::Binary, 12).unwrap();
    assert_ne!(
        load_split(other.path(), true, false).unwrap().images,
        load_split(bin.path(), true, false).unwrap().images
    );
}

#[test]
fn synth_command_writes_a_loadable_set() {
    let d = tempfile::tempdir().unwrap();
    let args = catkd::cli::SynthArgs {
        out: d.path().to_path_buf(),
        train: 200,
        test: 100,
        format: SynthFormat::Python,
        seed: 3,
    };
    catkd::data::synthetic::run_cli(&args).unwrap();
    let s = load_split(d.path(), true, false).unwrap();
    assert_eq!(s.len(), 200);
    // Balanced: two images of each class.
    assert!((0..100).all(|c| s.labels.iter().filter(|&&l| l == c).count() == 2));
}

#[test]
fn reads_a_python3_protocol2_pickle_written_by_numpy() {
    // Written by Python 3 + numpy 2 (`pickle.dump(d, f, protocol=2)`): `_codecs.encode` bytes and
    // `numpy._core.multiarray._reconstruct`.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cifar100_py3");
    let s = cifar100::read_python_file(&dir.join("test")).unwrap();
    assert_eq!(s.labels, vec![7, 99, 0]);
    assert_eq!(s.images, fs::read(dir.join("test.rgb")).unwrap());
}

#[test]
fn loaders_batch_the_splits() {
    let d = tempfile::tempdir().unwrap();
    write_synthetic(d.path(), 250, 70, SynthFormat::Python, 1).unwrap();
    let mut cfg = Config::defaults();
    cfg.DATASET.ROOT = d.path().to_string_lossy().into_owned();
    cfg.SOLVER.BATCH_SIZE = 64;
    let train = train_loader(&cfg, Device::Cpu).unwrap();
    assert_eq!(
        (train.num_images(), train.num_batches(), train.num_classes()),
        (250, 4, 100)
    );
    let sizes: Vec<i64> = train.epoch(0).map(|b| b.unwrap().images.size()[0]).collect();
    assert_eq!(sizes, vec![64, 64, 64, 58], "the last partial batch is kept");
    let test = test_loader(DatasetKind::Cifar100, d.path(), 32, 1, Device::Cpu).unwrap();
    assert_eq!((test.num_images(), test.num_batches()), (70, 3));
    let split = load_split(d.path(), false, false).unwrap();
    let labels: Vec<i64> = test
        .epoch(5)
        .flat_map(|b| Vec::<i64>::try_from(b.unwrap().labels).unwrap())
        .collect();
    assert_eq!(labels, split.labels, "test batches go in file order");
}

#[test]
fn reduction_keeps_the_first_images_of_the_first_classes() {
    let d = tempfile::tempdir().unwrap();
    // 1000 images: 10 per class.
    write_synthetic(d.path(), 1000, 10, SynthFormat::Binary, 4).unwrap();
    let split = load_split(d.path(), true, false).unwrap();
    let keep = reduction_indices(&split.labels, 30, 0.55);
    // floor(10 * 0.55) = 5 images of each of classes 0..29, the first 5 in file order.
    assert_eq!(keep.len(), 30 * 5);
    for c in 0..30i64 {
        let first: Vec<usize> = (0..split.len()).filter(|&i| split.labels[i] == c).take(5).collect();
        let kept: Vec<usize> = keep.iter().copied().filter(|&i| split.labels[i] == c).collect();
        assert_eq!(kept, first, "class {c}");
    }
    assert!(keep.windows(2).all(|w| w[0] < w[1]), "kept in file order");
    assert!(keep.iter().all(|&i| split.labels[i] < 30));

    let mut cfg = Config::defaults();
    cfg.DATASET.ROOT = d.path().to_string_lossy().into_owned();
    cfg.DATASET.REDUCTION = true;
    cfg.DATASET.RESERVED_CLASS_NUM = 30;
    cfg.DATASET.RESERVED_RATE = 0.55;
    let train = train_loader(&cfg, Device::Cpu).unwrap();
    assert_eq!(train.num_images(), 150);
    let mut labels: Vec<i64> = train
        .epoch(3)
        .flat_map(|b| Vec::<i64>::try_from(b.unwrap().labels).unwrap())
        .collect();
    labels.sort();
    let mut expected: Vec<i64> = keep.iter().map(|&i| split.labels[i]).collect();
    expected.sort();
    assert_eq!(labels, expected);
    // The test split is untouched.
    assert_eq!(
        test_loader(DatasetKind::Cifar100, d.path(), 64, 1, Device::Cpu)
            .unwrap()
            .num_images(),
        10
    );
}

fn tar_gz_of(src_root: &Path, folder: &str, archive: &Path) {
    let f = fs::File::create(archive).unwrap();
    let mut t = tar::Builder::new(flate2::write::GzEncoder::new(f, flate2::Compression::fast()));
    t.append_dir_all(folder, src_root.join(folder)).unwrap();
    t.into_inner().unwrap().finish().unwrap();
}

#[test]
fn archives_in_the_root_are_unpacked_on_first_use() {
    let src = tempfile::tempdir().unwrap();
    write_synthetic(src.path(), 200, 50, SynthFormat::Python, 2).unwrap();
    write_synthetic(src.path(), 200, 50, SynthFormat::Binary, 2).unwrap();
    for (folder, archive) in [
        ("cifar-100-python", "cifar-100-python.tar.gz"),
        ("cifar-100-binary", "cifar-100-binary.tar.gz"),
    ] {
        let root = tempfile::tempdir().unwrap();
        tar_gz_of(src.path(), folder, &root.path().join(archive));
        let s = load_split(root.path(), true, false).unwrap();
        assert_eq!(s.len(), 200);
        assert!(root.path().join(folder).is_dir());
        assert_eq!(load_split(root.path(), false, false).unwrap().len(), 50);
        // Nothing but the archive and the unpacked folder is left.
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 2);
    }
    // A truncated archive: one sentence, nothing half-unpacked left behind.
    let root = tempfile::tempdir().unwrap();
    let full = root.path().join("full.tar.gz");
    tar_gz_of(src.path(), "cifar-100-python", &full);
    let bytes = fs::read(&full).unwrap();
    fs::write(root.path().join("cifar-100-python.tar.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let e = err_text(load_split(root.path(), true, false));
    assert!(
        e.contains("could not unpack") && e.contains("cifar-100-python.tar.gz"),
        "{e}"
    );
    assert!(!root.path().join("cifar-100-python").exists());
}

/// Serve `body` over HTTP on 127.0.0.1 to at most `requests` connections, then stop.
fn serve(body: Vec<u8>, status: &'static str, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((mut s, _)) = listener.accept() else { return };
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = [0u8; 4096];
            let mut req = Vec::new();
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://{addr}/cifar-100-python.tar.gz")
}

#[test]
fn download_checks_the_md5_and_unpacks() {
    let src = tempfile::tempdir().unwrap();
    write_synthetic(src.path(), 100, 20, SynthFormat::Python, 9).unwrap();
    let archive = src.path().join("a.tar.gz");
    tar_gz_of(src.path(), "cifar-100-python", &archive);
    let bytes = fs::read(&archive).unwrap();
    let md5 = catkd::data::download::file_md5(&archive).unwrap();

    // Wrong checksum: refused, nothing kept.
    let root = tempfile::tempdir().unwrap();
    let url = serve(bytes.clone(), "200 OK", 1);
    let e = err_text(cifar100::download_python(root.path(), &url, cifar100::CIFAR100_MD5));
    assert!(e.contains("MD5") && e.contains(cifar100::CIFAR100_MD5), "{e}");
    assert!(!root.path().join("cifar-100-python.tar.gz").exists());
    assert!(!root.path().join("cifar-100-python").exists());

    // Right checksum: downloaded, unpacked, loadable.
    let url = serve(bytes, "200 OK", 1);
    cifar100::download_python(root.path(), &url, &md5).unwrap();
    assert_eq!(load_split(root.path(), true, false).unwrap().len(), 100);

    // A server error is reported with the address.
    let url = serve(b"nope".to_vec(), "404 Not Found", 1);
    let e = err_text(cifar100::download_python(
        tempfile::tempdir().unwrap().path(),
        &url,
        &md5,
    ));
    assert!(e.contains("could not download") && e.contains(&url), "{e}");
}

#[test]
fn missing_data_says_where_it_looked_and_what_to_do() {
    let root = tempfile::tempdir().unwrap();
    let e = err_text(load_split(root.path(), true, false));
    assert!(e.contains("cifar-100-python") && e.contains("cifar-100-binary"), "{e}");
    assert!(e.contains("catkd data download"), "{e}");
    let e = err_text(test_loader(
        DatasetKind::Cifar100,
        &root.path().join("nowhere"),
        64,
        1,
        Device::Cpu,
    ));
    assert!(e.contains("not found"), "{e}");
}

#[test]
fn bad_python_files_are_one_clear_sentence() {
    let d = tempfile::tempdir().unwrap();
    write_synthetic(d.path(), 2, 2, SynthFormat::Python, 0).unwrap();
    let path = d.path().join("cifar-100-python/train");
    let good = fs::read(&path).unwrap();

    // Truncated.
    fs::write(&path, &good[..good.len() / 2]).unwrap();
    let e = err_text(load_split(d.path(), true, false));
    assert!(
        e.contains("is not a readable CIFAR-100 python file") && e.contains("truncated"),
        "{e}"
    );

    // Foreign file.
    fs::write(&path, b"hello, this is not a pickle").unwrap();
    let e = err_text(load_split(d.path(), true, false));
    assert!(e.contains("is not a readable CIFAR-100 python file"), "{e}");

    // Shape 4 x 1536 instead of 2 x 3072 (same number of bytes).
    let mut bad = good.clone();
    let at = bad.windows(6).position(|w| w == b"(K\x02M\x00\x0c").unwrap();
    bad[at..at + 6].copy_from_slice(b"(K\x04M\x00\x06");
    fs::write(&path, &bad).unwrap();
    let e = err_text(load_split(d.path(), true, false));
    assert!(e.contains("shape [4, 1536]") && e.contains("N x 3072"), "{e}");

    // A label outside 0..99: the fine_labels list is `]q.(K.K.e`; set the first to 100.
    let mut bad = good.clone();
    let key = bad.windows(11).position(|w| w == b"fine_labels").unwrap();
    let list = key + 11 + 2; // after the key's BINPUT
    assert_eq!(bad[list], b']');
    assert_eq!(&bad[list + 3..list + 5], b"(K");
    bad[list + 5] = 100;
    fs::write(&path, &bad).unwrap();
    let e = err_text(load_split(d.path(), true, false));
    assert!(e.contains("label 100 of image 0 is outside 0..99"), "{e}");
}

#[test]
fn bad_binary_files_are_one_clear_sentence() {
    let d = tempfile::tempdir().unwrap();
    write_synthetic(d.path(), 3, 2, SynthFormat::Binary, 0).unwrap();
    let path = d.path().join("cifar-100-binary/train.bin");
    let good = fs::read(&path).unwrap();
    fs::write(&path, &good[..good.len() - 10]).unwrap();
    let e = err_text(load_split(d.path(), true, false));
    assert!(
        e.contains("not a whole number of 3074-byte") && e.contains("train.bin"),
        "{e}"
    );
    let mut bad = good.clone();
    bad[3074 + 1] = 150;
    fs::write(&path, &bad).unwrap();
    let e = err_text(load_split(d.path(), true, false));
    assert!(e.contains("record 1 has fine label 150, outside 0..99"), "{e}");
}
