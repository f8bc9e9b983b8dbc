//! End-to-end training on a small synthetic CIFAR-100 set written in the real file format:
//! vanilla, KD and CAT-KD learn and write every output; resume is exact; NaN stops the run;
//! eval reads reference-format checkpoints; a missing teacher is one clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use catkd::cli::SynthFormat;

/// One synthetic data set and one trained teacher, shared by the tests of this file.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    teacher: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        catkd::data::synthetic::write_synthetic(&data, 2000, 300, SynthFormat::Python, 3).unwrap();
        let cfg = write_cfg(&root, "vanilla", &data);
        append_yaml(&cfg, "DISTILLER:\n  TYPE: \"NONE\"\n  STUDENT: \"resnet20\"\n");
        assert_success(&train_cfg(&cfg, false, &[]));
        let teacher = root.join("out/test/vanilla/student_best.safetensors");
        assert!(teacher.exists());
        Fixture {
            _dir: dir,
            root,
            data,
            teacher,
        }
    })
}

fn write_cfg(dir: &Path, name: &str, data: &Path) -> PathBuf {
    let cfg = format!(
        "EXPERIMENT:\n  NAME: \"{name}\"\n  PROJECT: \"test\"\nDATASET:\n  ROOT: \"{}\"\n  TEST:\n    BATCH_SIZE: 100\n\
         SOLVER:\n  BATCH_SIZE: 50\n  EPOCHS: 3\n  LR: 0.05\n  LR_DECAY_STAGES: [2]\n  WEIGHT_DECAY: 0.0005\n\
         LOG:\n  PREFIX: \"{}\"\n  WANDB: False\n  SAVE_CHECKPOINT_FREQ: 3\nSEED: 11\n",
        data.display(),
        dir.join("out").display()
    );
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, cfg).unwrap();
    p
}

fn append_yaml(cfg: &Path, extra: &str) {
    let text = std::fs::read_to_string(cfg).unwrap() + extra;
    std::fs::write(cfg, text).unwrap();
}

/// Run `train --cfg FILE [--resume] [KEY VALUE]...`.
fn train_cfg(cfg: &Path, resume: bool, opts: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_train"));
    c.arg("--cfg").arg(cfg);
    if resume {
        c.arg("--resume");
    }
    c.args(opts).output().unwrap()
}

fn train(dir: &Path, data: &Path, name: &str, opts: &[&str]) -> Output {
    train_cfg(&write_cfg(dir, name, data), false, opts)
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The one run folder under `dir/out/test`.
fn only_run_dir(dir: &Path) -> PathBuf {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.join("out/test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.remove(0)
}

fn metrics(run_dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn assert_learned(run_dir: &Path, what: &str) {
    let m = metrics(run_dir);
    let last = m.last().unwrap();
    let acc = last["test_acc"].as_f64().unwrap();
    assert!(
        acc > 20.0,
        "{what}: test top-1 {acc}% should be well above the 1% of chance"
    );
}

const OUTPUTS: [&str; 9] = [
    "worklog.txt",
    "metrics.jsonl",
    "config.yaml",
    "latest.safetensors",
    "best.safetensors",
    "student_latest.safetensors",
    "student_best.safetensors",
    "epoch_3.safetensors",
    "student_3.safetensors",
];

#[test]
fn vanilla_learns_and_writes_every_output() {
    let f = fixture();
    let run = f.root.join("out/test/vanilla");
    assert_learned(&run, "vanilla");
    for file in OUTPUTS {
        assert!(run.join(file).exists(), "{file} missing");
    }
    let log = std::fs::read_to_string(run.join("worklog.txt")).unwrap();
    for field in [
        "epoch: 1",
        "lr: 0.05",
        "train_acc:",
        "train_loss:",
        "test_acc:",
        "test_acc_top5:",
        "test_loss:",
        "best_acc\t",
    ] {
        assert!(log.contains(field), "worklog.txt lacks {field:?}:\n{log}");
    }
    let m = metrics(&run);
    assert_eq!(m.len(), 3);
    assert_eq!(m[2]["epoch"], 3);
    assert!(
        (m[2]["lr"].as_f64().unwrap() - 0.005).abs() < 1e-12,
        "epoch 3 is after the decay stage"
    );
    for key in [
        "train_loss",
        "train_acc",
        "test_acc",
        "test_acc_top5",
        "test_loss",
        "seconds",
        "images_per_second",
    ] {
        assert!(m[0][key].is_number(), "metrics.jsonl lacks {key}");
    }
}

#[test]
fn kd_learns_from_the_teacher() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let teacher = f.teacher.display().to_string();
    let out = train(
        dir.path(),
        &f.data,
        "kd",
        &[
            "DISTILLER.TYPE",
            "KD",
            "DISTILLER.TEACHER",
            "resnet20",
            "DISTILLER.STUDENT",
            "resnet8",
            "CAT_KD.teacher_dir",
            &teacher,
        ],
    );
    assert_success(&out);
    let run = only_run_dir(dir.path());
    let name = run.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("kdDISTILLER.TYPE:KD,DISTILLER.TEACHER:resnet20,"),
        "overrides name the run: {name}"
    );
    assert_learned(&run, "KD");
    let m = metrics(&run);
    assert!(m[0]["losses"]["loss_kd"].as_f64().unwrap() > 0.0);
    assert!(m[0]["losses"]["loss_ce"].as_f64().unwrap() > 0.0);
}

#[test]
fn cat_kd_learns_from_a_converted_teacher() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_cfg(dir.path(), "cat", &f.data);
    let extra = format!(
        "DISTILLER:\n  TYPE: \"CAT_KD\"\n  TEACHER: \"resnet20\"\n  STUDENT: \"resnet20\"\nCAT_KD:\n  LOSS:\n    CAT_loss_weight: 0.7\n  IF_NORMALIZE: False\n  teacher_dir: \"{}\"\nif_test: True\n",
        f.teacher.display()
    );
    append_yaml(&cfg, &extra);
    let out = train_cfg(&cfg, false, &[]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("resnet20_test"), "the CAM variants are used:\n{stderr}");
    let run = dir.path().join("out/test/cat");
    assert_learned(&run, "CAT-KD");
    let m = metrics(&run);
    assert!(m[0]["losses"]["loss_CAT"].as_f64().unwrap() > 0.0);
    assert!(m[0]["losses"]["loss_CE"].as_f64().unwrap() > 0.0);
    // The student file holds the CAM variant's keys.
    let student = catkd::checkpoint::read_checkpoint(&run.join("student_best.safetensors")).unwrap();
    assert!(student.tensors.contains_key("conv_test.weight"));
    assert!(!student.tensors.contains_key("fc.weight"));
}

#[test]
fn resume_is_exact() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let opts = [
        "DISTILLER.TYPE",
        "NONE",
        "DISTILLER.STUDENT",
        "resnet8",
        "SOLVER.EPOCHS",
        "3",
        "LOG.SAVE_CHECKPOINT_FREQ",
        "1",
    ];
    // One run straight through.
    let straight = dir.path().join("straight");
    std::fs::create_dir_all(&straight).unwrap();
    assert_success(&train(&straight, &f.data, "r", &opts));
    // One run stopped after epoch 2, then resumed to 3.
    let resumed = dir.path().join("resumed");
    std::fs::create_dir_all(&resumed).unwrap();
    let mut two = opts.to_vec();
    two[5] = "2";
    assert_success(&train(&resumed, &f.data, "r", &two));
    // Same experiment folder: move the two-epoch run to where the three-epoch config writes.
    let name2 = "rDISTILLER.TYPE:NONE,DISTILLER.STUDENT:resnet8,SOLVER.EPOCHS:2,LOG.SAVE_CHECKPOINT_FREQ:1";
    let name3 = "rDISTILLER.TYPE:NONE,DISTILLER.STUDENT:resnet8,SOLVER.EPOCHS:3,LOG.SAVE_CHECKPOINT_FREQ:1";
    std::fs::rename(
        resumed.join("out/test").join(name2),
        resumed.join("out/test").join(name3),
    )
    .unwrap();
    let cfg = write_cfg(&resumed, "r", &f.data);
    let out = train_cfg(&cfg, true, &opts);
    assert_success(&out);
    let a =
        catkd::checkpoint::read_checkpoint(&straight.join("out/test").join(name3).join("student_latest.safetensors"))
            .unwrap();
    let b =
        catkd::checkpoint::read_checkpoint(&resumed.join("out/test").join(name3).join("student_latest.safetensors"))
            .unwrap();
    assert_eq!(a.tensors.len(), b.tensors.len());
    for (k, t) in &a.tensors {
        let u = &b.tensors[k];
        assert!(t.equal(u), "{k} differs between the straight and the resumed run");
    }
    let ma = metrics(&straight.join("out/test").join(name3));
    let mb = metrics(&resumed.join("out/test").join(name3));
    assert_eq!(mb.len(), 3, "the resumed run appends epoch 3 to the log");
    for key in ["train_loss", "train_acc", "test_acc", "test_loss"] {
        assert_eq!(ma[2][key], mb[2][key], "{key} of epoch 3");
    }
}

#[test]
fn nan_loss_stops_and_keeps_the_last_good_checkpoint() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    // One good epoch, then the same run resumed with a learning rate that blows up.
    let cfg = write_cfg(dir.path(), "nan", &f.data);
    let base = std::fs::read_to_string(&cfg).unwrap() + "DISTILLER:\n  STUDENT: \"resnet8\"\n";
    std::fs::write(&cfg, base.replace("EPOCHS: 3", "EPOCHS: 1")).unwrap();
    let run = |resume: bool| train_cfg(&cfg, resume, &[]);
    assert_success(&run(false));
    let latest = dir.path().join("out/test/nan/latest.safetensors");
    let before = std::fs::read(&latest).unwrap();
    std::fs::write(&cfg, base.replace("LR: 0.05", "LR: 1.0e12")).unwrap();
    // A temporary file left by a killed writer (no such process) is cleaned up on the next start.
    let stale = dir.path().join("out/test/nan/.catkd-tmp-4000000000-latest.safetensors");
    std::fs::write(&stale, b"partial").unwrap();
    let out = run(true);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(
        line.contains("the loss became") && line.contains("epoch 2, iteration"),
        "{stderr}"
    );
    assert!(line.contains("latest.safetensors) is kept"), "{line}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stale.exists(), "the stale temporary file is removed");
    // The checkpoint of epoch 1 is untouched and still loads.
    assert_eq!(std::fs::read(&latest).unwrap(), before);
    let state = catkd::checkpoint::load_training_state(&latest).unwrap();
    assert_eq!(state.meta.epoch, 1);
}

#[test]
fn missing_teacher_names_the_path_and_the_fix() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let out = train(
        dir.path(),
        &f.data,
        "noteacher",
        &[
            "DISTILLER.TYPE",
            "KD",
            "DISTILLER.TEACHER",
            "resnet56",
            "DISTILLER.STUDENT",
            "resnet8",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resnet56_vanilla/ckpt_epoch_240.pth") && stderr.contains("catkd teachers"),
        "{stderr}"
    );
}

#[test]
fn eval_reads_our_checkpoint_and_reference_format_ones() {
    let f = fixture();
    let eval = |model: &str, ckpt: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_catkd"))
            .args(["eval", "--model", model, "--ckpt"])
            .arg(ckpt)
            .arg("--data-dir")
            .arg(&f.data)
            .arg("--json")
            .output()
            .unwrap();
        assert_success(&out);
        let line = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        // The documented field order: model, top1, top5, loss, num_images.
        let order: Vec<usize> = ["\"model\":", "\"top1\":", "\"top5\":", "\"loss\":", "\"num_images\":"]
            .iter()
            .map(|k| line.find(k).unwrap_or_else(|| panic!("{k} missing from {line}")))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{line}");
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    let ours = eval("resnet20", &f.teacher);
    assert_eq!(ours["num_images"], 300);
    assert_eq!(ours["model"], "resnet20");
    // The trainer's own evaluation of that checkpoint's epoch agrees with `catkd eval`.
    let m = metrics(&f.root.join("out/test/vanilla"));
    let best = m
        .iter()
        .map(|r| r["test_acc"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert!(
        (ours["top1"].as_f64().unwrap() - best).abs() < 1e-9,
        "eval {ours} vs best epoch {best}"
    );
    // A plain checkpoint given to the CAM variant is converted: same predictions up to the bias.
    let cam = eval("resnet20_test", &f.teacher);
    assert_eq!(cam["num_images"], 300);
    // Reference formats: re-save our weights with PyTorch as {"model": {"module." + key: ...}}.
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if !python.exists() {
        println!("skipped the PyTorch-format part: no .venv/bin/python (run `make setup`)");
        return;
    }
    for legacy in [false, true] {
        let pth = f.root.join(format!("teacher_legacy_{legacy}.pth"));
        let code = format!(
            "import torch, json, struct\n\
             raw = open({src:?}, 'rb').read()\n\
             n = struct.unpack('<Q', raw[:8])[0]\n\
             header = json.loads(raw[8:8 + n])\n\
             body = raw[8 + n:]\n\
             kinds = {{'F32': torch.float32, 'I64': torch.int64}}\n\
             sd = {{}}\n\
             for k, v in header.items():\n\
             \x20   if k == '__metadata__': continue\n\
             \x20   a, b = v['data_offsets']\n\
             \x20   sd['module.' + k] = torch.frombuffer(bytearray(body[a:b]), dtype=kinds[v['dtype']]).reshape(v['shape']).clone()\n\
             torch.save({{'model': sd, 'epoch': 3, 'best_acc': 1.0}}, {dst:?}, _use_new_zipfile_serialization={zip})\n",
            src = f.teacher.display().to_string(),
            dst = pth.display().to_string(),
            zip = if legacy { "False" } else { "True" },
        );
        let out = Command::new(&python).arg("-c").arg(code).output().unwrap();
        assert_success(&out);
        let theirs = eval("resnet20", &pth);
        assert_eq!(theirs["top1"], ours["top1"], "legacy={legacy}");
        assert_eq!(theirs["loss"], ours["loss"], "legacy={legacy}");
    }
}
