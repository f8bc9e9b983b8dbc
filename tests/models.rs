//! Model zoo against the reference: variable names and shapes, parameter counts and output shapes
//! from `models.json`, and numeric goldens (forward passes and the FC -> CAM conversion).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use catkd::models::{self, cam, DatasetKind};
use serde_json::Value;
use tch::{nn, Device, Kind, Tensor};

const TOLERANCE: f64 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("models.json")).expect("models.json");
    serde_json::from_str(&text).expect("models.json parses")
}

fn shape(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("shape array")
        .iter()
        .map(|d| d.as_i64().expect("dim"))
        .collect()
}

fn dataset_key(d: DatasetKind) -> &'static str {
    d.as_str()
}

/// The documented deviation (CIFAR `MobileNetV2_test` leaves out the reference's unused
/// `classifier.0` Linear(1280, 100)), as the registry declares it.
fn is_unused(model: &str, dataset: DatasetKind, key: &str) -> bool {
    models::lookup(model, dataset)
        .map(|info| models::ignored_reference_keys(&info).contains(&key))
        .unwrap_or(false)
}

fn read_safetensors(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .into_iter()
        .collect()
}

/// Copies `<prefix><variable name>` from `tensors` into every variable of `vs` (f16 -> f32) and
/// checks that every such tensor was used (apart from the documented unused keys).
fn load_prefixed(
    vs: &nn::VarStore,
    model: &str,
    dataset: DatasetKind,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
) -> Result<(), String> {
    let mut vars = vs.variables();
    let mut errors = Vec::new();
    tch::no_grad(|| {
        for (name, var) in vars.iter_mut() {
            match tensors.get(&format!("{prefix}{name}")) {
                Some(t) if t.size() == var.size() => var.copy_(&t.to_kind(Kind::Float)),
                Some(t) => errors.push(format!("{name}: shape {:?} vs {:?}", t.size(), var.size())),
                None => errors.push(format!("{name}: missing in golden")),
            }
        }
    });
    for key in tensors.keys().filter_map(|k| k.strip_prefix(prefix)) {
        if !vars.contains_key(key) && !key.ends_with("num_batches_tracked") && !is_unused(model, dataset, key) {
            errors.push(format!("{key}: in golden but not in the model"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn load_map(vs: &nn::VarStore, weights: &BTreeMap<String, Tensor>) -> Result<(), String> {
    let as_hash: HashMap<String, Tensor> = weights.iter().map(|(k, v)| (k.clone(), v.shallow_clone())).collect();
    load_prefixed(vs, "", DatasetKind::Cifar100, &as_hash, "")
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    if a.size() != b.size() {
        return f64::INFINITY;
    }
    (a - b).abs().max().double_value(&[])
}

/// Checks one model against the manifest: variables, parameter count, output shapes.
fn check_against_manifest(name: &str, dataset: DatasetKind, entry: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let vs = nn::VarStore::new(Device::Cpu);
    let model = match models::build(name, dataset, &vs.root()) {
        Ok(m) => m,
        Err(e) => return vec![format!("{name}: build failed: {e}")],
    };

    // Variable names and shapes.
    let ours: BTreeMap<String, Vec<i64>> = vs.variables().into_iter().map(|(k, v)| (k, v.size())).collect();
    let mut expected = BTreeMap::new();
    for kv in entry["state_dict"].as_array().expect("state_dict") {
        let key = kv[0].as_str().expect("key").to_string();
        if key.ends_with("num_batches_tracked") || is_unused(name, dataset, &key) {
            continue;
        }
        expected.insert(key, shape(&kv[1]));
    }
    if ours != expected {
        for (k, s) in &expected {
            match ours.get(k) {
                None => errors.push(format!("{name}: missing variable {k}")),
                Some(o) if o != s => errors.push(format!("{name}: {k} has shape {o:?}, want {s:?}")),
                _ => {}
            }
        }
        for k in ours.keys().filter(|k| !expected.contains_key(*k)) {
            errors.push(format!("{name}: unexpected variable {k}"));
        }
    }

    // Trainable parameter count (less the left-out unused layer).
    let unused: i64 = entry["state_dict"]
        .as_array()
        .expect("state_dict")
        .iter()
        .filter(|kv| is_unused(name, dataset, kv[0].as_str().unwrap_or("")))
        .map(|kv| shape(&kv[1]).iter().product::<i64>())
        .sum();
    let params: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
    let want_params = entry["params"].as_i64().expect("params") - unused;
    if params != want_params {
        errors.push(format!("{name}: {params} trainable parameters, want {want_params}"));
    }

    // Output and feature shapes.
    let logits_shape = shape(&entry["logits"]);
    let input_shape = match dataset {
        DatasetKind::Cifar100 => vec![logits_shape[0], 3, 32, 32],
        DatasetKind::Imagenet => vec![logits_shape[0], 3, 224, 224],
    };
    let xs = Tensor::randn(input_shape.as_slice(), (Kind::Float, Device::Cpu));
    let out = tch::no_grad(|| model.forward_t(&xs, false));
    if out.logits.size() != logits_shape {
        errors.push(format!("{name}: logits {:?}, want {logits_shape:?}", out.logits.size()));
    }
    let feats: Vec<Vec<i64>> = out.feats.iter().map(Tensor::size).collect();
    let want_feats: Vec<Vec<i64>> = entry["feats"].as_array().expect("feats").iter().map(shape).collect();
    if feats != want_feats {
        errors.push(format!("{name}: feats {feats:?}, want {want_feats:?}"));
    }
    if out.pooled.size().first() != Some(&logits_shape[0]) || out.pooled.dim() != 2 {
        errors.push(format!("{name}: pooled feature has shape {:?}", out.pooled.size()));
    }
    if name.ends_with("_test") {
        // Logits are the spatial mean of the CAM.
        if let Some(cam) = out.feats.last() {
            let mean = cam.mean_dim([2i64, 3].as_slice(), false, Kind::Float);
            let diff = max_abs_diff(&mean, &out.logits);
            // Untrained deep nets reach large activations: compare relative to their scale.
            let scale = out.logits.abs().max().double_value(&[]).max(1.0);
            if diff > 1e-5 * scale {
                errors.push(format!("{name}: logits differ from the CAM mean by {diff}"));
            }
        }
    }
    errors
}

fn check_dataset(dataset: DatasetKind) {
    let manifest = manifest();
    let entries = manifest[dataset_key(dataset)].as_object().expect("dataset in manifest");
    let mut errors = Vec::new();
    for (name, entry) in entries {
        errors.extend(check_against_manifest(name, dataset, entry));
    }
    assert!(!entries.is_empty());
    assert!(errors.is_empty(), "{} mismatches:\n{}", errors.len(), errors.join("\n"));
}

#[test]
fn cifar_models_match_manifest() {
    check_dataset(DatasetKind::Cifar100);
}

#[test]
fn imagenet_models_match_manifest() {
    check_dataset(DatasetKind::Imagenet);
}

#[test]
fn registry_matches_manifest_names_and_teachers() {
    let manifest = manifest();
    let registry = models::registry();
    assert_eq!(registry.len(), 48);
    for dataset in [DatasetKind::Cifar100, DatasetKind::Imagenet] {
        let want = manifest[dataset_key(dataset)].as_object().expect("dataset");
        let ours: Vec<_> = registry.iter().filter(|i| i.dataset == dataset).collect();
        let mut our_names: Vec<&str> = ours.iter().map(|i| i.name).collect();
        let mut want_names: Vec<&str> = want.keys().map(String::as_str).collect();
        our_names.sort_unstable();
        want_names.sort_unstable();
        assert_eq!(our_names, want_names, "{}", dataset.as_str());
        for info in ours {
            let teacher = want[info.name]["teacher_checkpoint"].as_str();
            assert_eq!(info.teacher_checkpoint, teacher, "{}", info.name);
            assert_eq!(info.is_cam, info.name.ends_with("_test"), "{}", info.name);
            // A plain model's FC prefix names real variables in the manifest.
            match info.fc_key {
                Some(fc) => {
                    let key = format!("{fc}.weight");
                    let found = want[info.name]["state_dict"]
                        .as_array()
                        .expect("state_dict")
                        .iter()
                        .any(|kv| kv[0].as_str() == Some(key.as_str()));
                    assert!(found, "{}: fc key {fc} not in the manifest", info.name);
                }
                None => assert!(info.is_cam, "{} has no fc key", info.name),
            }
        }
    }
    // CIFAR-100 comes first.
    assert_eq!(registry[0].dataset, DatasetKind::Cifar100);
    assert_eq!(registry[47].dataset, DatasetKind::Imagenet);
}

#[test]
fn unknown_model_is_an_error_naming_the_closest() {
    let err = models::lookup("resnet32x5", DatasetKind::Cifar100).expect_err("unknown name");
    let text = err.to_string();
    assert!(text.contains("resnet32x5") && text.contains("resnet32x4"), "{text}");
    assert!(text.contains("ShuffleV2_test"), "lists known names: {text}");
    let vs = nn::VarStore::new(Device::Cpu);
    assert!(models::build("ResNet34", DatasetKind::Cifar100, &vs.root()).is_err());
    assert!(models::build("ResNet34", DatasetKind::Imagenet, &vs.root()).is_ok());
}

#[test]
fn only_cifar_mobilenetv2_test_leaves_reference_keys_out() {
    let with_ignored: Vec<_> = models::registry()
        .into_iter()
        .filter(|i| !models::ignored_reference_keys(i).is_empty())
        .map(|i| (i.name, i.dataset))
        .collect();
    assert_eq!(with_ignored, vec![("MobileNetV2_test", DatasetKind::Cifar100)]);
}

#[test]
fn forward_goldens_match_reference() {
    let dir = fixtures().join("goldens");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).expect("index")).expect("index parses");
    let mut checked = 0;
    let mut errors = Vec::new();
    for (name, entry) in index["models"].as_object().expect("models") {
        if name.contains("->") {
            continue; // conversion goldens
        }
        let golden = read_safetensors(&dir.join(entry["file"].as_str().expect("file")));
        let vs = nn::VarStore::new(Device::Cpu);
        let model = models::build(name, DatasetKind::Cifar100, &vs.root()).expect("build");
        if let Err(e) = load_prefixed(&vs, name, DatasetKind::Cifar100, &golden, "weights.") {
            errors.push(format!("{name}: {e}"));
            continue;
        }
        let input = &golden["input"];
        for mode in ["eval", "train"] {
            let out = tch::no_grad(|| model.forward_t(input, mode == "train"));
            let last = out.feats.last().expect("features");
            let d_logits = max_abs_diff(&out.logits, &golden[&format!("{mode}.logits")]);
            let d_feat = max_abs_diff(last, &golden[&format!("{mode}.last_feat")]);
            if d_logits > TOLERANCE || d_feat > TOLERANCE {
                errors.push(format!(
                    "{name} {mode}: logits off by {d_logits}, last feat by {d_feat}"
                ));
            }
        }
        checked += 1;
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(checked, 7, "golden models checked");
}

#[test]
fn conversion_goldens_match_reference() {
    let dir = fixtures().join("goldens");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).expect("index")).expect("index parses");
    let mut checked = 0;
    for (key, entry) in index["models"].as_object().expect("models") {
        let Some((plain_name, cam_name)) = key.split_once("->") else {
            continue;
        };
        let fc_key = entry["fc_key"].as_str().expect("fc_key");
        let info = models::lookup(plain_name, DatasetKind::Cifar100).expect("plain model");
        assert_eq!(info.fc_key, Some(fc_key), "{plain_name}");
        let golden = read_safetensors(&dir.join(entry["file"].as_str().expect("file")));
        let input = &golden["input"];

        // Plain model with its FC.
        let plain_vs = nn::VarStore::new(Device::Cpu);
        let plain = models::build(plain_name, DatasetKind::Cifar100, &plain_vs.root()).expect("build");
        load_prefixed(&plain_vs, plain_name, DatasetKind::Cifar100, &golden, "plain_weights.").expect("plain weights");
        let plain_logits = tch::no_grad(|| plain.forward_t(input, false)).logits;
        let d = max_abs_diff(&plain_logits, &golden["plain.logits"]);
        assert!(d <= TOLERANCE, "{plain_name}: plain logits off by {d}");

        // Convert the plain state dict and load it into the CAM variant.
        let plain_weights: BTreeMap<String, Tensor> = golden
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("plain_weights.")?.to_string(), v.to_kind(Kind::Float))))
            .collect();
        let converted = cam::convert_to_cam(&plain_weights, fc_key).expect("convert");
        assert!(
            !converted.keys().any(|k| k.starts_with(&format!("{fc_key}."))),
            "FC keys dropped"
        );
        let cam_vs = nn::VarStore::new(Device::Cpu);
        let cam_model = models::build(cam_name, DatasetKind::Cifar100, &cam_vs.root()).expect("build");
        load_map(&cam_vs, &converted).expect("converted weights fit the CAM model");
        let out = tch::no_grad(|| cam_model.forward_t(input, false));
        let d_logits = max_abs_diff(&out.logits, &golden["converted.logits"]);
        let d_cam = max_abs_diff(out.feats.last().expect("cam"), &golden["converted.cam"]);
        assert!(d_logits <= TOLERANCE, "{cam_name}: converted logits off by {d_logits}");
        assert!(d_cam <= TOLERANCE, "{cam_name}: converted CAM off by {d_cam}");

        // Converting drops exactly the FC bias.
        let bias = &plain_weights[&format!("{fc_key}.bias")];
        let d_bias = max_abs_diff(&(&out.logits - &plain_logits), &(-bias).expand_as(&plain_logits));
        assert!(
            d_bias <= TOLERANCE,
            "{cam_name}: logits shift differs from -bias by {d_bias}"
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "conversion goldens checked");
}

#[test]
fn convert_to_cam_requires_the_fc_weight() {
    let mut plain = BTreeMap::new();
    plain.insert(
        "conv1.weight".to_string(),
        Tensor::zeros([4, 3, 3, 3], (Kind::Float, Device::Cpu)),
    );
    let err = cam::convert_to_cam(&plain, "fc").expect_err("no fc.weight");
    assert!(err.to_string().contains("fc.weight"), "{err}");

    plain.insert(
        "fc.weight".to_string(),
        Tensor::ones([10, 4], (Kind::Float, Device::Cpu)),
    );
    plain.insert("fc.bias".to_string(), Tensor::ones([10], (Kind::Float, Device::Cpu)));
    let converted = cam::convert_to_cam(&plain, "fc").expect("converts");
    assert_eq!(converted.len(), 2);
    assert_eq!(converted["conv_test.weight"].size(), vec![10, 4, 1, 1]);
    assert!(converted.contains_key("conv1.weight"));

    plain.insert("fc.weight".to_string(), Tensor::ones([10], (Kind::Float, Device::Cpu)));
    let err = cam::convert_to_cam(&plain, "fc").expect_err("1-D FC weight");
    assert!(err.to_string().contains("[10]"), "{err}");
}

#[test]
fn summaries_and_registry_listing() {
    let info = models::lookup("resnet8x4_test", DatasetKind::Cifar100).expect("known");
    let s = models::summarize(&info).expect("summary");
    assert_eq!(s.logits, vec![2, 100]);
    assert_eq!(s.cam, Some(vec![2, 100, 8, 8]));
    assert_eq!(s.params, 1_233_440);
    let plain =
        models::summarize(&models::lookup("resnet8x4", DatasetKind::Cifar100).expect("known")).expect("summary");
    assert_eq!(plain.cam, None);

    // `catkd models --json`: an array of objects with the documented keys.
    let text = models::format_registry(&[s.clone(), plain.clone()], true).expect("json");
    let rows: Value = serde_json::from_str(&text).expect("valid JSON");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "resnet8x4_test");
    assert_eq!(rows[0]["dataset"], "cifar100");
    assert_eq!(rows[0]["params"], 1_233_440);
    assert_eq!(rows[0]["logits"], serde_json::json!([2, 100]));
    assert_eq!(rows[0]["cam"], serde_json::json!([2, 100, 8, 8]));
    assert!(rows[1]["cam"].is_null() && rows[1]["teacher_checkpoint"].is_null());
    let table = models::format_registry(&[s, plain], false).expect("table");
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("2x100x8x8"), "{table}");
}

/// Standard deviation and largest magnitude of a variable.
fn stats(vars: &HashMap<String, Tensor>, key: &str) -> (f64, f64) {
    let t = vars.get(key).unwrap_or_else(|| panic!("no variable {key}"));
    (t.std(true).double_value(&[]), t.abs().max().double_value(&[]))
}

#[test]
fn initialisation_follows_reference() {
    let build = |name: &str| {
        let vs = nn::VarStore::new(Device::Cpu);
        models::build(name, DatasetKind::Cifar100, &vs.root()).expect("build");
        vs.variables()
    };
    let close = |got: f64, want: f64, what: &str| {
        assert!((got / want - 1.0).abs() < 0.1, "{what}: {got} vs {want}");
    };

    // Kaiming fan-out normal convs, PyTorch-default FC (U(+-1/sqrt(in))), BN weight 1 bias 0.
    let v = build("resnet32x4");
    close(
        stats(&v, "layer3.0.conv2.weight").0,
        (2.0f64 / (9.0 * 256.0)).sqrt(),
        "resnet conv",
    );
    let (std, max) = stats(&v, "fc.weight");
    close(std, 1.0 / (3.0f64 * 256.0).sqrt(), "resnet fc std");
    assert!(max <= 1.0 / 16.0, "resnet fc bound {max}");
    assert!(stats(&v, "fc.bias").1 > 0.0 && stats(&v, "fc.bias").1 <= 1.0 / 16.0);
    assert_eq!(v["layer1.0.bn1.weight"].min().double_value(&[]), 1.0);
    assert_eq!(v["layer1.0.bn1.bias"].abs().max().double_value(&[]), 0.0);
    assert_eq!(v["layer1.0.bn1.running_var"].min().double_value(&[]), 1.0);
    let v = build("resnet32x4_test");
    close(
        stats(&v, "conv_test.weight").0,
        (2.0f64 / 100.0).sqrt(),
        "resnet conv_test",
    );

    // VGG: FC N(0, 0.01) with zero bias; conv_test left at PyTorch's default.
    let v = build("vgg13");
    close(stats(&v, "classifier.weight").0, 0.01, "vgg classifier");
    assert_eq!(v["classifier.bias"].abs().max().double_value(&[]), 0.0);
    assert_eq!(v["block0.0.bias"].abs().max().double_value(&[]), 0.0);
    let v = build("vgg13_test");
    assert!(stats(&v, "conv_test.weight").1 <= 1.0 / 512f64.sqrt());

    // WRN: zero FC bias. ShuffleNet: PyTorch-default conv bounds 1/sqrt(fan_in).
    assert_eq!(build("wrn_16_2")["fc.bias"].abs().max().double_value(&[]), 0.0);
    let v = build("ShuffleV1");
    let (std, max) = stats(&v, "layer2.1.conv1.weight"); // [120, 160, 1, 1], fan_in 160
    assert!(max <= 1.0 / 160f64.sqrt());
    close(std, 1.0 / (3.0f64 * 160.0).sqrt(), "shufflenet conv std");
}

/// Relative difference: max |a - b| over max(1, max |b|).
fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    max_abs_diff(a, b) / b.abs().max().double_value(&[]).max(1.0)
}

/// Compares every output (logits, all features, pre-activation features, pooled feature; eval and
/// train mode) and the BatchNorm running statistics after a train-mode forward with dumps of the
/// reference code itself, for all 48 models. Needs PyTorch and the
/// reference code: see tests/models_reference_dump.py; run with
/// `CATKD_REFERENCE_DUMPS=<dir> cargo test --release --test models -- --ignored`.
#[test]
#[ignore = "needs dumps made with the reference code (tests/models_reference_dump.py)"]
fn all_outputs_match_reference_code() {
    let dir = std::env::var("CATKD_REFERENCE_DUMPS").expect("set CATKD_REFERENCE_DUMPS");
    let mut errors = Vec::new();
    let mut checked = 0;
    let mut stats_compared = 0;
    for info in models::registry() {
        let path = Path::new(&dir).join(format!("{}_{}.npz", info.dataset.as_str(), info.name));
        let dump: HashMap<String, Tensor> = Tensor::read_npz(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .into_iter()
            .collect();
        let vs = nn::VarStore::new(Device::Cpu);
        let model = models::build(info.name, info.dataset, &vs.root()).expect("build");
        if let Err(e) = load_prefixed(&vs, info.name, info.dataset, &dump, "weights.") {
            errors.push(format!("{}: {e}", info.name));
            continue;
        }
        let mut check = |what: String, ours: &Tensor, theirs: &Tensor| {
            let d = rel_diff(ours, theirs);
            if d > TOLERANCE {
                errors.push(format!(
                    "{} {}: {what} off by {d} (relative)",
                    info.dataset.as_str(),
                    info.name
                ));
            }
        };
        for mode in ["eval", "train"] {
            let out = tch::no_grad(|| model.forward_t(&dump["input"], mode == "train"));
            check("logits".into(), &out.logits, &dump[&format!("{mode}.logits")]);
            let count = |kind: &str| {
                dump.keys()
                    .filter(|k| k.starts_with(&format!("{mode}.{kind}.")))
                    .count()
            };
            if count("feats") != out.feats.len() || count("preact") != out.preact_feats.len() {
                check(
                    format!("{mode} feature counts"),
                    &Tensor::from(1.0),
                    &Tensor::from(f64::NAN),
                );
            }
            for (i, f) in out.feats.iter().enumerate() {
                check(format!("{mode}.feats.{i}"), f, &dump[&format!("{mode}.feats.{i}")]);
            }
            for (i, f) in out.preact_feats.iter().enumerate() {
                if let Some(theirs) = dump.get(&format!("{mode}.preact.{i}")) {
                    check(format!("{mode}.preact.{i}"), f, theirs);
                }
            }
            // Without a reference pooled feature (ImageNet CAM variants) it is the logits.
            let pooled = dump
                .get(&format!("{mode}.pooled"))
                .unwrap_or(&dump[&format!("{mode}.logits")]);
            check(format!("{mode}.pooled"), &out.pooled, pooled);
        }
        // Running statistics after the train-mode forward (momentum 0.1, and the WRN quirk of
        // updating three BN layers twice).
        for (name, var) in vs.variables() {
            if let Some(theirs) = dump.get(&format!("after_train.{name}")) {
                stats_compared += 1;
                let d = rel_diff(&var, theirs);
                if d > TOLERANCE {
                    errors.push(format!("{}: {name} after training off by {d}", info.name));
                }
            }
        }
        checked += 1;
    }
    assert!(errors.is_empty(), "{} mismatches:\n{}", errors.len(), errors.join("\n"));
    assert_eq!(checked, 48);
    assert!(
        stats_compared > 1000,
        "only {stats_compared} running statistics compared"
    );
}

/// One train-mode forward + backward per family and head: autograd works through every layer
/// (including the in-place ReLUs and residual adds) and every trainable variable gets a gradient.
#[test]
fn backward_reaches_every_parameter() {
    let cases = [
        ("resnet8", DatasetKind::Cifar100),
        ("resnet8x4_test", DatasetKind::Cifar100),
        ("ResNet18", DatasetKind::Cifar100),
        ("ResNet50_test", DatasetKind::Cifar100),
        ("wrn_16_1", DatasetKind::Cifar100),
        ("wrn_16_2_test", DatasetKind::Cifar100),
        ("vgg8", DatasetKind::Cifar100),
        ("vgg8_test", DatasetKind::Cifar100),
        ("MobileNetV2", DatasetKind::Cifar100),
        ("MobileNetV2_test", DatasetKind::Cifar100),
        ("ShuffleV1", DatasetKind::Cifar100),
        ("ShuffleV1_test", DatasetKind::Cifar100),
        ("ShuffleV2", DatasetKind::Cifar100),
        ("ShuffleV2_test", DatasetKind::Cifar100),
        ("ResNet18_test", DatasetKind::Imagenet),
        ("MobileNetV2", DatasetKind::Imagenet),
    ];
    let mut errors = Vec::new();
    for (name, dataset) in cases {
        let vs = nn::VarStore::new(Device::Cpu);
        let model = models::build(name, dataset, &vs.root()).expect("build");
        let shape: [i64; 4] = match dataset {
            DatasetKind::Cifar100 => [2, 3, 32, 32],
            DatasetKind::Imagenet => [1, 3, 224, 224],
        };
        let out = model.forward_t(&Tensor::randn(shape, (Kind::Float, Device::Cpu)), true);
        let mut loss = out.logits.square().mean(Kind::Float);
        if let Some(f) = out.feats.last() {
            loss += f.square().mean(Kind::Float);
        }
        loss.backward();
        for (var_name, var) in vs.variables() {
            if !var.requires_grad() {
                continue;
            }
            let grad = var.grad();
            if !grad.defined() {
                errors.push(format!("{name}: no gradient for {var_name}"));
            } else if grad.isfinite().all().int64_value(&[]) == 0 {
                errors.push(format!("{name}: non-finite gradient for {var_name}"));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
