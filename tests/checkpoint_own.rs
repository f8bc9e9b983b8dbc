//! Our checkpoint files and imports: student files PyTorch loads strictly, training states that
//! round-trip, import errors that name the key, atomic writes that survive failures and kills.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use catkd::checkpoint::{
    atomic_write, atomic_write_with, import_into, load_training_state, load_weights_as, read_checkpoint, save_student,
    save_training_state, CheckpointFormat, CheckpointMeta, TrainingState, TEMP_PREFIX,
};
use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

struct Tiny {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    fc: nn::Linear,
}

/// conv1 (3->4, 3x3, no bias) + bn1 + fc (4->3): the names PyTorch's module would use.
fn tiny(vs: &nn::VarStore) -> Tiny {
    let r = vs.root();
    let conv1 = nn::conv2d(
        &r / "conv1",
        3,
        4,
        3,
        nn::ConvConfig {
            padding: 1,
            bias: false,
            ..Default::default()
        },
    );
    let bn1 = nn::batch_norm2d(&r / "bn1", 4, Default::default());
    let fc = nn::linear(&r / "fc", 4, 3, Default::default());
    tch::no_grad(|| {
        let _ = bn1.running_mean.shallow_clone().uniform_(-0.5, 0.5);
        let _ = bn1.running_var.shallow_clone().uniform_(0.5, 2.0);
        if let Some(w) = &bn1.ws {
            let _ = w.shallow_clone().uniform_(0.5, 1.5);
        }
    });
    Tiny { conv1, bn1, fc }
}

impl Tiny {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.bn1.forward_t(&self.conv1.forward(x), false).relu();
        self.fc.forward(&h.mean_dim([2i64, 3].as_slice(), false, Kind::Float))
    }
}

fn input() -> Tensor {
    Tensor::linspace(-1.0, 1.0, 2 * 3 * 5 * 5, (Kind::Float, Device::Cpu)).reshape([2, 3, 5, 5])
}

fn meta(epoch: i64) -> CheckpointMeta {
    CheckpointMeta {
        epoch,
        best_acc: 71.25,
        model: "tiny".into(),
        config_hash: "abc123".into(),
    }
}

fn python() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if p.exists() {
        Some(p)
    } else {
        println!(
            "skipped: {} is absent (run `make setup` for the PyTorch cross-checks)",
            p.display()
        );
        None
    }
}

/// Loads a safetensors file into the same module in PyTorch, strictly, and runs it.
const PY_STRICT_LOAD: &str = r#"
import json, struct, sys, torch
path = sys.argv[1]
try:
    import safetensors.torch
    sd = safetensors.torch.load_file(path)
    meta = safetensors.safe_open(path, "pt").metadata()
except ImportError:
    # The same format read by hand (8-byte header length, JSON header, raw little-endian data).
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dt = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
    sd = {}
    for k, info in header.items():
        s, e = info["data_offsets"]
        buf = bytearray(raw[8 + n + s:8 + n + e])
        t = torch.frombuffer(buf, dtype=dt[info["dtype"]]) if e > s else torch.empty(0, dtype=dt[info["dtype"]])
        sd[k] = t.reshape(info["shape"])
class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 3)
    def forward(self, x):
        return self.fc(torch.relu(self.bn1(self.conv1(x))).mean((2, 3)))
m = Tiny()
m.load_state_dict(sd, strict=True)
m.eval()
x = torch.linspace(-1.0, 1.0, 2 * 3 * 5 * 5).reshape(2, 3, 5, 5)
with torch.no_grad():
    out = m(x)
print(json.dumps({"meta": meta, "logits": out.flatten().tolist(), "nbt": int(m.bn1.num_batches_tracked),
                  "nbt_dtype": str(sd["bn1.num_batches_tracked"].dtype)}))
"#;

#[test]
fn student_file_loads_strictly_in_pytorch_and_through_read_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("student_best.safetensors");
    let vs = nn::VarStore::new(Device::Cpu);
    let net = tiny(&vs);
    save_student(&path, &vs, &meta(12), 4321).unwrap();

    let c = read_checkpoint(&path).unwrap();
    assert_eq!(c.format, CheckpointFormat::Safetensors);
    assert_eq!(c.metadata["epoch"], "12");
    assert_eq!(c.metadata["best_acc"], "71.25");
    assert_eq!(c.metadata["model"], "tiny");
    assert_eq!(c.metadata["config_hash"], "abc123");
    let nbt = &c.tensors["bn1.num_batches_tracked"];
    assert_eq!((nbt.kind(), nbt.dim(), nbt.int64_value(&[])), (Kind::Int64, 0, 4321));
    for (k, v) in vs.variables() {
        assert!(c.tensors[&k].equal(&v), "{k}");
    }

    let Some(py) = python() else { return };
    let out = Command::new(py)
        .arg("-c")
        .arg(PY_STRICT_LOAD)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PyTorch could not load the file strictly: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["nbt"], 4321);
    assert_eq!(v["nbt_dtype"], "torch.int64");
    assert_eq!(v["meta"]["epoch"], "12");
    let ours = Vec::<f32>::try_from(net.forward(&input()).flatten(0, -1)).unwrap();
    let theirs: Vec<f64> = v["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert!(
            (f64::from(*a) - b).abs() < 1e-5,
            "logits differ: ours {ours:?} PyTorch {theirs:?}"
        );
    }
}

#[test]
fn training_state_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latest.safetensors");
    let vs = nn::VarStore::new(Device::Cpu);
    let _net = tiny(&vs);
    let student: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let momentum: BTreeMap<String, Tensor> = vs
        .trainable_variables()
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("p{i}"), t.randn_like()))
        .collect();
    let extra = BTreeMap::from([
        ("rng".to_string(), "42".to_string()),
        ("lr".to_string(), "0.05".to_string()),
    ]);
    let state = TrainingState {
        meta: meta(40),
        student,
        momentum,
        extra,
    };
    save_training_state(&path, &state).unwrap();
    let back = load_training_state(&path).unwrap();
    assert_eq!(back.meta, state.meta);
    assert_eq!(back.extra, state.extra);
    for (a, b) in [(&back.student, &state.student), (&back.momentum, &state.momentum)] {
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (k, t) in a {
            assert!(t.equal(&b[k]), "{k}");
        }
    }
    // Evaluating a training state reads the student's weights.
    let c = read_checkpoint(&path).unwrap();
    assert_eq!(c.tensors.len(), state.student.len());
    assert!(c.tensors["fc.weight"].equal(&state.student["fc.weight"]));

    let student_file = dir.path().join("student_latest.safetensors");
    save_student(&student_file, &vs, &meta(40), 0).unwrap();
    let e = format!("{:#}", load_training_state(&student_file).err().unwrap());
    assert!(
        e.contains("student_latest.safetensors") && e.contains("not a catkd training state"),
        "{e}"
    );
}

#[test]
fn our_truncated_files_error_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("student.safetensors");
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = tiny(&vs);
    save_student(&path, &vs, &meta(3), 1).unwrap();
    let full = std::fs::read(&path).unwrap();
    let cut_path = dir.path().join("cut.safetensors");
    for cut in (0..full.len()).step_by(3) {
        std::fs::write(&cut_path, &full[..cut]).unwrap();
        let r = std::panic::catch_unwind(|| {
            (
                read_checkpoint(&cut_path).map(|_| ()),
                load_training_state(&cut_path).map(|_| ()),
            )
        });
        let (a, b) = r.unwrap_or_else(|_| panic!("cut at {cut} panicked"));
        let e = format!(
            "{:#}",
            a.err()
                .unwrap_or_else(|| panic!("cut at {cut} of {} loaded", full.len()))
        );
        assert!(e.contains("cut.safetensors"), "{e}");
        assert!(b.is_err());
    }
}

fn plain_weights(vs: &nn::VarStore) -> BTreeMap<String, Tensor> {
    vs.variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect()
}

#[test]
fn import_copies_converts_dtype_and_reports_shape_and_missing_keys() {
    let src_vs = nn::VarStore::new(Device::Cpu);
    let _ = tiny(&src_vs);
    let mut tensors = plain_weights(&src_vs);
    // Saved in float64, with extra keys and a BatchNorm counter: converted, ignored, skipped.
    tensors.insert("fc.weight".into(), tensors["fc.weight"].to_kind(Kind::Double));
    tensors.insert("bn1.num_batches_tracked".into(), Tensor::from(3i64));
    tensors.insert("aux.head.weight".into(), Tensor::zeros([2], (Kind::Float, Device::Cpu)));

    let vs = nn::VarStore::new(Device::Cpu);
    let _ = tiny(&vs);
    import_into(&vs, &tensors).unwrap();
    for (k, v) in vs.variables() {
        assert_eq!(v.kind(), Kind::Float);
        assert!(v.equal(&src_vs.variables()[&k]), "{k}");
        assert!(!v.requires_grad() || v.is_leaf(), "{k} must stay a leaf");
    }

    let mut bad = plain_weights(&src_vs);
    bad.insert("fc.weight".into(), Tensor::zeros([5, 4], (Kind::Float, Device::Cpu)));
    let e = format!("{:#}", import_into(&vs, &bad).err().unwrap());
    assert!(
        e.contains("fc.weight") && e.contains("[5, 4]") && e.contains("[3, 4]"),
        "{e}"
    );

    let before = vs.variables()["fc.bias"].copy();
    let mut changed = plain_weights(&src_vs);
    changed.remove("bn1.running_var");
    changed.remove("conv1.weight");
    changed.insert("fc.bias".into(), before.ones_like());
    let e = format!("{:#}", import_into(&vs, &changed).err().unwrap());
    assert!(
        e.contains("lacks 2") && e.contains("bn1.running_var") && e.contains("conv1.weight"),
        "{e}"
    );
    assert!(
        vs.variables()["fc.bias"].equal(&before),
        "a failed import must change nothing"
    );
}

#[test]
fn plain_checkpoint_is_converted_for_a_cam_model() {
    let src_vs = nn::VarStore::new(Device::Cpu);
    let _ = tiny(&src_vs);
    let plain = plain_weights(&src_vs);

    // The CAM variant: same body, fc replaced by a bias-free 1x1 conv_test.
    let vs = nn::VarStore::new(Device::Cpu);
    let r = vs.root();
    let _ = nn::conv2d(
        &r / "conv1",
        3,
        4,
        3,
        nn::ConvConfig {
            padding: 1,
            bias: false,
            ..Default::default()
        },
    );
    let _ = nn::batch_norm2d(&r / "bn1", 4, Default::default());
    let _ = nn::conv2d(
        &r / "conv_test",
        4,
        3,
        1,
        nn::ConvConfig {
            bias: false,
            ..Default::default()
        },
    );
    let src = Path::new("teacher.pth");
    load_weights_as(&vs, plain_weights(&src_vs), "tiny_test", true, Some("fc"), src).unwrap();
    let v = vs.variables();
    assert!(v["conv_test.weight"].equal(&plain["fc.weight"].view([3, 4, 1, 1])));
    assert!(v["bn1.running_mean"].equal(&plain["bn1.running_mean"]));

    // Without the CAM flag nothing is converted, and the missing conv_test is reported.
    let e = format!(
        "{:#}",
        load_weights_as(&vs, plain, "tiny_test", false, Some("fc"), src)
            .err()
            .unwrap()
    );
    assert!(e.contains("teacher.pth") && e.contains("conv_test.weight"), "{e}");
}

#[test]
fn distiller_checkpoint_gives_its_student() {
    let src_vs = nn::VarStore::new(Device::Cpu);
    let _ = tiny(&src_vs);
    let mut tensors = BTreeMap::new();
    for (k, v) in plain_weights(&src_vs) {
        tensors.insert(format!("teacher.{k}"), v.zeros_like());
        tensors.insert(format!("student.{k}"), v);
    }
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = tiny(&vs);
    load_weights_as(&vs, tensors, "tiny", false, None, Path::new("latest")).unwrap();
    for (k, v) in vs.variables() {
        assert!(v.equal(&src_vs.variables()[&k]), "{k}");
    }
}

/// On a GPU: import into CUDA variables and save a student file from them.
#[cfg(feature = "gpu")]
#[test]
fn gpu_import_and_save() {
    let dev = Device::Cuda(0);
    let src_vs = nn::VarStore::new(Device::Cpu);
    let _ = tiny(&src_vs);
    let vs = nn::VarStore::new(dev);
    let _ = tiny(&vs);
    import_into(&vs, &plain_weights(&src_vs)).unwrap();
    for (k, v) in vs.variables() {
        assert_eq!(v.device(), dev);
        assert!(v.to_device(Device::Cpu).equal(&src_vs.variables()[&k]), "{k}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("student.safetensors");
    save_student(&path, &vs, &meta(1), 5).unwrap();
    let c = read_checkpoint(&path).unwrap();
    assert!(c.tensors["fc.weight"].equal(&src_vs.variables()["fc.weight"]));
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoints/cuda_zip.pth");
    let c = read_checkpoint(&py).unwrap();
    assert!(c.tensors["conv1.weight"].device() == Device::Cpu);
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(TEMP_PREFIX))
        .collect()
}

#[test]
fn atomic_write_replaces_whole_or_leaves_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("best.safetensors");
    atomic_write(&path, b"old contents").unwrap();
    atomic_write(&path, b"new contents").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
    assert!(temp_files(dir.path()).is_empty());

    // A write that fails half-way (disk full, say) leaves the old file and no temporary.
    let e = atomic_write_with(&path, |f| {
        use std::io::Write;
        f.write_all(b"half of the ")?;
        Err(std::io::Error::other("disk full"))
    })
    .err()
    .unwrap();
    let e = format!("{e:#}");
    assert!(
        e.contains("best.safetensors") && e.contains("disk full") && e.contains("unchanged"),
        "{e}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
    assert!(temp_files(dir.path()).is_empty(), "{:?}", temp_files(dir.path()));

    // A folder that cannot be created (a file is in the way) is one clear error.
    let blocked = dir.path().join("best.safetensors").join("x.safetensors");
    let e = format!("{:#}", atomic_write(&blocked, b"x").err().unwrap());
    assert!(e.contains("x.safetensors"), "{e}");
}

/// Child side of the kill test: rewrite one student file forever (each version's weights all
/// equal its epoch), until the parent kills the process.
#[test]
#[ignore = "helper process for checkpoints_survive_a_kill_at_any_moment"]
fn kill_helper_writes_checkpoints_forever() {
    let Ok(target) = std::env::var("CATKD_KILL_TARGET") else {
        return;
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let w = (vs.root() / "big").zeros("weight", &[2048, 2048]);
    for epoch in 1.. {
        tch::no_grad(|| {
            let _ = w.shallow_clone().fill_(epoch as f64);
        });
        save_student(Path::new(&target), &vs, &meta(epoch), epoch).unwrap();
    }
}

#[test]
fn checkpoints_survive_a_kill_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("student_latest.safetensors");
    let exe = std::env::current_exe().unwrap();
    let mut kills = 0;
    for round in 0u64..12 {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "kill_helper_writes_checkpoints_forever",
                "--test-threads=1",
                "--quiet",
            ])
            .env("CATKD_KILL_TARGET", &target)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if round == 0 {
            let start = Instant::now();
            while !target.exists() && start.elapsed() < Duration::from_secs(60) {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "the helper process failed before writing"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Kill after varying delays so the kill lands in different phases of a write.
        std::thread::sleep(Duration::from_millis(200 + (round * 37) % 90));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        let c = read_checkpoint(&target).unwrap_or_else(|e| panic!("after kill {round}: {e:#}"));
        let epoch: f64 = c.metadata["epoch"].parse().unwrap();
        let w = &c.tensors["big.weight"];
        assert_eq!(w.size(), [2048, 2048]);
        assert_eq!(
            w.min().double_value(&[]),
            epoch,
            "after kill {round}: weights from another version"
        );
        assert_eq!(
            w.max().double_value(&[]),
            epoch,
            "after kill {round}: a mix of versions"
        );
    }
    assert!(kills >= 9, "the helper exited on its own; only {kills} kills");
    // Temporaries left by kills that landed mid-write (they never replace the checkpoint).
    println!(
        "{kills} kills, {} interrupted writes left a temporary file",
        temp_files(dir.path()).len()
    );
}
