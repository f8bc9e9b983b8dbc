//! Teacher archives: unpack (`--from`), refuse entries escaping the folder, download from a
//! local HTTP server, fail offline with one sentence, and resolve a run's teacher path.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use catkd::checkpoint::read_checkpoint;
use catkd::checkpoint::teachers::{
    download_and_unpack, resolve_teacher, run_cli, status_report, teacher_path, unpack_archive, DEFAULT_TEACHERS_URL,
};
use catkd::cli::TeachersArgs;
use catkd::config::Config;
use catkd::models::{DatasetKind, ModelInfo};

fn fixture_bytes() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoints/nested_legacy.pth")).unwrap()
}

/// A tar entry header with any name (tar::Builder's own helpers refuse `..` and absolute paths,
/// which is what these tests need to write).
fn header(name: &str, kind: tar::EntryType, size: u64, link: Option<&str>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    h
}

/// The reference archive's layout, with two teachers holding a real legacy checkpoint.
fn teacher_tar() -> Vec<u8> {
    let data = fixture_bytes();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&header("cifar_teachers/", tar::EntryType::Directory, 0, None), &[][..])
        .unwrap();
    for model in ["resnet56", "vgg13"] {
        let name = format!("cifar_teachers/{model}_vanilla/ckpt_epoch_240.pth");
        b.append(
            &header(&name, tar::EntryType::Regular, data.len() as u64, None),
            &data[..],
        )
        .unwrap();
    }
    b.into_inner().unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn from_archive_unpacks_to_reference_paths_and_lists_them() {
    let tmp = tempfile::tempdir().unwrap();
    let tar_path = tmp.path().join("cifar_teachers.tar");
    std::fs::write(&tar_path, teacher_tar()).unwrap();
    let dir = tmp.path().join("download_ckpts");
    // Through the CLI entry point (not the binary: the build folder may be shared by branches).
    let args = TeachersArgs {
        from: Some(tar_path.clone()),
        download: false,
        url: DEFAULT_TEACHERS_URL.into(),
        dir: dir.clone(),
    };
    run_cli(&args).unwrap();
    let stdout = status_report(&dir);
    let present: Vec<&str> = stdout.lines().filter(|l| l.contains(" present ")).collect();
    assert_eq!(present.len(), 2, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("wrn_40_2") && l.contains("missing")),
        "{stdout}"
    );
    assert!(
        stdout.contains("4 of 6 CIFAR-100 teachers missing") && stdout.contains("catkd teachers --download"),
        "{stdout}"
    );
    let both = TeachersArgs { download: true, ..args };
    let e = format!("{:#}", run_cli(&both).err().unwrap());
    assert!(e.contains("--from") && e.contains("--download"), "{e}");

    let p = teacher_path(&dir, "resnet56");
    assert_eq!(p, dir.join("cifar_teachers/resnet56_vanilla/ckpt_epoch_240.pth"));
    assert_eq!(std::fs::read(&p).unwrap(), fixture_bytes());
    let c = read_checkpoint(&p).unwrap();
    assert!(c.tensors.contains_key("net.conv1.weight"));
    assert_eq!(files_under(&dir).len(), 2, "{:?}", files_under(&dir));
}

#[test]
fn archives_with_escaping_entries_are_refused_whole() {
    let data = b"evil".to_vec();
    let cases: Vec<(&str, tar::EntryType, Option<&str>)> = vec![
        ("../evil.pth", tar::EntryType::Regular, None),
        ("cifar_teachers/../../evil.pth", tar::EntryType::Regular, None),
        ("/tmp/evil.pth", tar::EntryType::Regular, None),
        ("cifar_teachers/link", tar::EntryType::Symlink, Some("../../outside")),
        ("cifar_teachers/abs", tar::EntryType::Symlink, Some("/etc")),
        ("cifar_teachers/hard", tar::EntryType::Link, Some("../../etc/passwd")),
    ];
    for (name, kind, link) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let good = fixture_bytes();
        let mut b = tar::Builder::new(Vec::new());
        // A good entry first: it must not be written either, the archive is refused whole.
        let ok_name = "cifar_teachers/resnet56_vanilla/ckpt_epoch_240.pth";
        b.append(
            &header(ok_name, tar::EntryType::Regular, good.len() as u64, None),
            &good[..],
        )
        .unwrap();
        let size = if kind == tar::EntryType::Regular {
            data.len() as u64
        } else {
            0
        };
        let body: &[u8] = if kind == tar::EntryType::Regular { &data } else { &[] };
        b.append(&header(name, kind, size, link), body).unwrap();
        let tar_path = tmp.path().join("bad.tar");
        std::fs::write(&tar_path, b.into_inner().unwrap()).unwrap();
        let dir = tmp.path().join("download_ckpts");
        let e = format!(
            "{:#}",
            unpack_archive(&tar_path, &dir)
                .err()
                .unwrap_or_else(|| panic!("{name} was accepted"))
        );
        assert!(
            e.contains("bad.tar") && e.contains(name) && e.contains("outside") && e.contains("refusing"),
            "{e}"
        );
        assert!(files_under(&dir).is_empty(), "{name}: {:?}", files_under(&dir));
        assert!(!tmp.path().join("evil.pth").exists());
    }

    // A symbolic link that stays inside the folder is fine.
    let tmp = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    b.append(
        &header("cifar_teachers/a/f.pth", tar::EntryType::Regular, 4, None),
        &b"data"[..],
    )
    .unwrap();
    b.append(
        &header(
            "cifar_teachers/b/link.pth",
            tar::EntryType::Symlink,
            0,
            Some("../a/f.pth"),
        ),
        &[][..],
    )
    .unwrap();
    let tar_path = tmp.path().join("ok.tar");
    std::fs::write(&tar_path, b.into_inner().unwrap()).unwrap();
    let dir = tmp.path().join("d");
    unpack_archive(&tar_path, &dir).unwrap();
    assert_eq!(std::fs::read(dir.join("cifar_teachers/b/link.pth")).unwrap(), b"data");

    // Not a tar file at all.
    let junk = tmp.path().join("junk.tar");
    std::fs::write(&junk, vec![7u8; 3000]).unwrap();
    let e = format!("{:#}", unpack_archive(&junk, &tmp.path().join("j")).err().unwrap());
    assert!(e.contains("junk.tar"), "{e}");
}

/// Serve `body` with `status` to one HTTP request on 127.0.0.1, giving up after 30 s.
fn serve_once(status: &'static str, body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cifar_teachers.tar", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("no request came: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
    });
    (url, handle)
}

#[test]
fn download_fetches_and_unpacks_from_a_local_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("download_ckpts");
    let (url, server) = serve_once("200 OK", teacher_tar());
    download_and_unpack(&url, &dir).unwrap();
    server.join().unwrap();
    assert_eq!(std::fs::read(teacher_path(&dir, "vgg13")).unwrap(), fixture_bytes());
    assert_eq!(
        files_under(&dir).len(),
        2,
        "the temporary download must be gone: {:?}",
        files_under(&dir)
    );
}

#[test]
fn download_failures_say_how_to_install_by_hand() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("download_ckpts");
    // Nothing listens on a port we just released: like being offline.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/cifar_teachers.tar");
    let e = format!("{:#}", download_and_unpack(&url, &dir).err().unwrap());
    assert!(
        e.contains(&url) && e.contains("by hand") && e.contains("catkd teachers --from cifar_teachers.tar"),
        "{e}"
    );

    let (url, server) = serve_once("404 Not Found", b"no such release".to_vec());
    let e = format!("{:#}", download_and_unpack(&url, &dir).err().unwrap());
    server.join().unwrap();
    assert!(e.contains("HTTP 404") && e.contains("by hand"), "{e}");
    assert!(files_under(&dir).is_empty(), "{:?}", files_under(&dir));
}

fn info(default: Option<&'static str>) -> ModelInfo {
    ModelInfo {
        name: "resnet56",
        dataset: DatasetKind::Cifar100,
        teacher_checkpoint: default,
        fc_key: Some("fc"),
        is_cam: false,
    }
}

#[test]
fn resolve_teacher_prefers_teacher_dir_and_explains_missing_files() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("t.pth");
    std::fs::write(&file, fixture_bytes()).unwrap();
    let default: &'static str = Box::leak(file.to_string_lossy().into_owned().into_boxed_str());

    let mut cfg = Config::defaults();
    assert_eq!(resolve_teacher(&cfg, &info(Some(default))).unwrap(), file);

    let missing = "download_ckpts/cifar_teachers/nowhere_vanilla/ckpt_epoch_240.pth";
    let e = format!("{:#}", resolve_teacher(&cfg, &info(Some(missing))).err().unwrap());
    assert!(
        e.contains(missing) && e.contains("catkd teachers --download") && e.contains("--from cifar_teachers.tar"),
        "{e}"
    );

    cfg.CAT_KD.teacher_dir = Some(file.to_string_lossy().into_owned());
    assert_eq!(resolve_teacher(&cfg, &info(Some(missing))).unwrap(), file);
    cfg.CAT_KD.teacher_dir = Some("elsewhere/x.pth".into());
    let e = format!("{:#}", resolve_teacher(&cfg, &info(Some(default))).err().unwrap());
    assert!(e.contains("elsewhere/x.pth") && e.contains("CAT_KD.teacher_dir"), "{e}");

    cfg.CAT_KD.teacher_dir = None;
    let e = format!("{:#}", resolve_teacher(&cfg, &info(None)).err().unwrap());
    assert!(e.contains("resnet56") && e.contains("CAT_KD.teacher_dir"), "{e}");
}
