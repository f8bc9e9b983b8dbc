//! The configuration schema: every reference preset loads unchanged, overrides are typed by the
//! key they set, and every kind of bad input gives its own clear message.

use std::path::{Path, PathBuf};

use catkd::cli::one_line;
use catkd::config::{Config, LoadedConfig};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference/presets")
        .join(rel)
}

fn shipped(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs").join(rel)
}

fn load(path: &Path, opts: &[&str]) -> LoadedConfig {
    let opts: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
    Config::load(path, &opts).unwrap_or_else(|e| panic!("{} should load: {}", path.display(), one_line(&e)))
}

fn load_err(path: &Path, opts: &[&str]) -> String {
    let opts: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
    match Config::load(path, &opts) {
        Ok(_) => panic!("{} with {:?} should fail", path.display(), opts),
        Err(e) => one_line(&e),
    }
}

fn write_temp(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cfg.yaml");
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

/// Every reference preset, by path under the fixture folder, and its shipped twin under configs/.
const PRESETS: [(&str, &str); 19] = [
    (
        "cifar100_CAT/CAT/res32x4_res32x4.yaml",
        "cifar100/CAT/CAT/res32x4_res32x4.yaml",
    ),
    (
        "cifar100_CAT/CAT_Binarization/res32x4_res32x4.yaml",
        "cifar100/CAT/CAT_Binarization/res32x4_res32x4.yaml",
    ),
    (
        "cifar100_CAT/CAT_Dataset_Reduction/res32x4_res32x4.yaml",
        "cifar100/CAT/CAT_Dataset_Reduction/res32x4_res32x4.yaml",
    ),
    (
        "cifar100_CAT/CAT_Only_Transfer_Certain_Classes/res32x4_res8x4.yaml",
        "cifar100/CAT/CAT_Only_Transfer_Certain_Classes/res32x4_res8x4.yaml",
    ),
    ("cifar100_CAT_KD/res110_res32.yaml", "cifar100/CAT_KD/res110_res32.yaml"),
    (
        "cifar100_CAT_KD/res32x4_res8x4.yaml",
        "cifar100/CAT_KD/res32x4_res8x4.yaml",
    ),
    (
        "cifar100_CAT_KD/res32x4_shuv1.yaml",
        "cifar100/CAT_KD/res32x4_shuv1.yaml",
    ),
    (
        "cifar100_CAT_KD/res32x4_shuv2.yaml",
        "cifar100/CAT_KD/res32x4_shuv2.yaml",
    ),
    ("cifar100_CAT_KD/res50_mv2.yaml", "cifar100/CAT_KD/res50_mv2.yaml"),
    ("cifar100_CAT_KD/res56_res20.yaml", "cifar100/CAT_KD/res56_res20.yaml"),
    ("cifar100_CAT_KD/vgg13_mv2.yaml", "cifar100/CAT_KD/vgg13_mv2.yaml"),
    ("cifar100_CAT_KD/vgg13_vgg8.yaml", "cifar100/CAT_KD/vgg13_vgg8.yaml"),
    (
        "cifar100_CAT_KD/wrn40_2_shuv1.yaml",
        "cifar100/CAT_KD/wrn40_2_shuv1.yaml",
    ),
    (
        "cifar100_CAT_KD/wrn_40_2_wrn_16_2.yaml",
        "cifar100/CAT_KD/wrn_40_2_wrn_16_2.yaml",
    ),
    (
        "cifar100_CAT_KD/wrn_40_2_wrn_40_1.yaml",
        "cifar100/CAT_KD/wrn_40_2_wrn_40_1.yaml",
    ),
    ("imagenet_CAT-KD/r34_r18.yaml", "imagenet/CAT_KD/r34_r18.yaml"),
    ("imagenet_CAT-KD/r50_mv2.yaml", "imagenet/CAT_KD/r50_mv2.yaml"),
    ("kd.yaml", "cifar100/kd.yaml"),
    ("vanilla.yaml", "cifar100/vanilla.yaml"),
];

#[test]
fn every_reference_preset_loads_and_matches_its_shipped_copy() {
    for (reference, ours) in PRESETS {
        let a = load(&fixture(reference), &[]).config;
        let b = load(&shipped(ours), &[]).config;
        if ours == "imagenet/CAT_KD/r34_r18.yaml" {
            // The one deliberate difference: the reference's leftover batch size of 2.
            assert_eq!(a.SOLVER.BATCH_SIZE, 2);
            assert_eq!(b.SOLVER.BATCH_SIZE, 512);
            let mut a = a.clone();
            a.SOLVER.BATCH_SIZE = 512;
            assert_eq!(a, b);
        } else {
            assert_eq!(a, b, "configs/{ours} differs from the reference preset {reference}");
        }
    }
}

/// Compare each scalar key the YAML file sets with the resolved config, and check that keys the
/// file leaves out keep the reference defaults.
#[test]
fn presets_resolve_to_their_values_and_the_defaults() {
    let defaults = serde_yaml::to_value(Config::defaults()).unwrap();
    for (reference, _) in PRESETS {
        let path = fixture(reference);
        let text = std::fs::read_to_string(&path).unwrap();
        let file: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let resolved = serde_yaml::to_value(load(&path, &[]).config).unwrap();
        let mut checked = 0;
        check_subtree(&file, &resolved, "", &mut checked);
        assert!(checked >= 10, "{reference}: only {checked} keys compared");
        // Keys the file omits keep their defaults (spot checks across sections).
        for key in [
            "SOLVER.TRAINER",
            "LOG.PREFIX",
            "KD.TEMPERATURE",
            "DATASET.RESERVED_CLASS_NUM",
            "CAT_KD.Strategy",
        ] {
            if lookup(&file, key).is_none() {
                assert_eq!(
                    lookup(&resolved, key),
                    lookup(&defaults, key),
                    "{reference}: {key} should keep its default"
                );
            }
        }
    }
}

fn lookup<'a>(v: &'a serde_yaml::Value, dotted: &str) -> Option<&'a serde_yaml::Value> {
    dotted.split('.').try_fold(v, |node, k| node.get(k))
}

fn check_subtree(file: &serde_yaml::Value, resolved: &serde_yaml::Value, prefix: &str, checked: &mut usize) {
    let serde_yaml::Value::Mapping(m) = file else { return };
    for (k, v) in m {
        let k = k.as_str().unwrap();
        let path = if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        };
        let got = lookup(resolved, &path).unwrap_or_else(|| panic!("{path} missing from the resolved config"));
        match v {
            serde_yaml::Value::Mapping(_) => check_subtree(v, resolved, &path, checked),
            serde_yaml::Value::Number(n) => {
                assert_eq!(got.as_f64(), n.as_f64(), "{path}");
                *checked += 1;
            }
            serde_yaml::Value::String(s) if path == "DISTILLER.TYPE" && s == "CAT-KD" => {
                assert_eq!(got.as_str(), Some("CAT_KD"), "CAT-KD is read as CAT_KD");
                *checked += 1;
            }
            _ => {
                assert_eq!(got, v, "{path}");
                *checked += 1;
            }
        }
    }
}

#[test]
fn specific_preset_values() {
    let c = load(&shipped("cifar100/CAT_KD/res32x4_shuv1.yaml"), &[]).config;
    assert_eq!(c.DISTILLER.TYPE, "CAT_KD");
    assert_eq!(c.DISTILLER.TEACHER, "resnet32x4");
    assert_eq!(c.DISTILLER.STUDENT, "ShuffleV1");
    assert_eq!(c.SOLVER.LR, 0.01);
    assert_eq!(c.SOLVER.WEIGHT_DECAY, 0.0005);
    assert_eq!(c.CAT_KD.LOSS.CAT_loss_weight, 600.0);
    assert_eq!(c.CAT_KD.LOSS.CAM_RESOLUTION, 4);
    assert!(c.if_test);
    assert_eq!(c.device, 1);
    assert!(!c.LOG.WANDB);
    // Not in the file: reference defaults.
    assert_eq!(c.DATASET.TEST.BATCH_SIZE, 64);
    assert_eq!(c.LOG.SAVE_CHECKPOINT_FREQ, 40);
    assert_eq!(c.DATASET.ROOT, "data");
    assert_eq!(c.SEED, None);

    let p = load(
        &shipped("cifar100/CAT/CAT_Only_Transfer_Certain_Classes/res32x4_res8x4.yaml"),
        &[],
    )
    .config;
    assert!(p.CAT_KD.IF_OnlyTransferPartialCAMs);
    assert_eq!(p.CAT_KD.CAMs_Nums, 75);
    assert_eq!(p.CAT_KD.Strategy, 1);
    assert!(p.CAT_KD.onlyCAT);
    assert_eq!(p.CAT_KD.LOSS.CE_WEIGHT, 0.0);

    let r = load(&shipped("cifar100/CAT/CAT_Dataset_Reduction/res32x4_res32x4.yaml"), &[]).config;
    assert!(r.DATASET.REDUCTION);
    assert_eq!(r.DATASET.RESERVED_CLASS_NUM, 99);

    let i = load(&shipped("imagenet/CAT_KD/r50_mv2.yaml"), &[]).config;
    assert_eq!(i.DISTILLER.TYPE, "CAT_KD");
    assert_eq!(i.DATASET.TYPE, "imagenet");
    assert_eq!(i.DATASET.NUM_WORKERS, 32);
    assert_eq!(i.DATASET.TEST.BATCH_SIZE, 128);
    assert_eq!(i.SOLVER.LR_DECAY_STAGES, vec![30, 60, 90]);
    assert!(i.LOG.WANDB, "r50_mv2 leaves WANDB at its default");

    let kd = load(&shipped("cifar100/kd.yaml"), &[]).config;
    assert_eq!(kd.KD.TEMPERATURE, 4.0);
    assert_eq!(kd.KD.LOSS.CE_WEIGHT, 0.1);
    assert_eq!(kd.KD.LOSS.KD_WEIGHT, 0.9);
}

#[test]
fn overrides_of_every_type() {
    let p = shipped("cifar100/CAT_KD/res32x4_res8x4.yaml");
    let c = load(
        &p,
        &[
            "SOLVER.LR",
            "0.1",
            "SOLVER.LR_DECAY_STAGES",
            "[100, 150]",
            "CAT_KD.LOSS.CAT_loss_weight",
            "300",
            "CAT_KD.IF_NORMALIZE",
            "True",
            "SOLVER.EPOCHS",
            "3",
            "DISTILLER.STUDENT",
            "resnet20",
            "CAT_KD.teacher_dir",
            "/tmp/teacher.pth",
            "SEED",
            "7",
            "DATASET.ROOT",
            "'some dir'",
        ],
    )
    .config;
    assert_eq!(c.SOLVER.LR, 0.1);
    assert_eq!(c.SOLVER.LR_DECAY_STAGES, vec![100, 150]);
    assert_eq!(c.CAT_KD.LOSS.CAT_loss_weight, 300.0);
    assert!(c.CAT_KD.IF_NORMALIZE);
    assert_eq!(c.SOLVER.EPOCHS, 3);
    assert_eq!(c.DISTILLER.STUDENT, "resnet20");
    assert_eq!(c.CAT_KD.teacher_dir.as_deref(), Some("/tmp/teacher.pth"));
    assert_eq!(c.SEED, Some(7));
    assert_eq!(c.DATASET.ROOT, "some dir");
    // Python's tuple spelling works for lists, and None clears an optional key.
    let c = load(&p, &["SOLVER.LR_DECAY_STAGES", "(5, 8)", "CAT_KD.teacher_dir", "None"]).config;
    assert_eq!(c.SOLVER.LR_DECAY_STAGES, vec![5, 8]);
    assert_eq!(c.CAT_KD.teacher_dir, None);
}

#[test]
fn experiment_name_follows_the_reference() {
    // NAME set: NAME, then the overrides appended as KEY:VALUE (no separator, as the reference).
    let l = load(
        &shipped("cifar100/CAT_KD/res32x4_res8x4.yaml"),
        &["CAT_KD.LOSS.CAT_loss_weight", "300"],
    );
    assert_eq!(
        l.experiment_name(),
        "resnet32x4,resnet8x4CAT_KD.LOSS.CAT_loss_weight:300"
    );
    assert_eq!(
        l.output_dir(),
        Path::new("./output/cifar100_baselines/resnet32x4,resnet8x4CAT_KD.LOSS.CAT_loss_weight:300")
    );
    // A beta sweep gets one folder per value.
    let other = load(
        &shipped("cifar100/CAT_KD/res32x4_res8x4.yaml"),
        &["CAT_KD.LOSS.CAT_loss_weight", "15"],
    );
    assert_ne!(l.output_dir(), other.output_dir());
    // Empty NAME falls back to TAG.
    let kd = load(&shipped("cifar100/kd.yaml"), &[]);
    assert_eq!(kd.experiment_name(), "kd,res32x4,res8x4");
    let kd2 = load(
        &shipped("cifar100/kd.yaml"),
        &["SOLVER.LR", "0.1", "SOLVER.EPOCHS", "2"],
    );
    assert_eq!(kd2.experiment_name(), "kd,res32x4,res8x4SOLVER.LR:0.1,SOLVER.EPOCHS:2");
}

#[test]
fn unknown_keys_name_the_path_and_the_closest_key() {
    let (_d, p) = write_temp("SOLVER:\n  LRR: 0.1\n");
    let e = load_err(&p, &[]);
    assert!(
        e.contains("unknown config key SOLVER.LRR") && e.contains("SOLVER.LR"),
        "{e}"
    );
    let (_d, p) = write_temp("CAT_KD:\n  LOSS:\n    CAT_loss_wieght: 3.0\n");
    let e = load_err(&p, &[]);
    assert!(
        e.contains("CAT_KD.LOSS.CAT_loss_wieght") && e.contains("CAT_KD.LOSS.CAT_loss_weight"),
        "{e}"
    );
    let (_d, p) = write_temp("SOLVR:\n  LR: 0.1\n");
    let e = load_err(&p, &[]);
    assert!(
        e.contains("unknown config key SOLVR") && e.contains("closest known key is SOLVER"),
        "{e}"
    );
    let e = load_err(&shipped("cifar100/kd.yaml"), &["DATASET.TEST.BATCHSIZE", "3"]);
    assert!(
        e.contains("DATASET.TEST.BATCHSIZE") && e.contains("DATASET.TEST.BATCH_SIZE"),
        "{e}"
    );
}

#[test]
fn wrong_types_name_the_path_the_type_and_the_value() {
    let (_d, p) = write_temp("SOLVER:\n  BATCH_SIZE: \"sixty-four\"\n");
    let e = load_err(&p, &[]);
    assert!(
        e.contains("SOLVER.BATCH_SIZE expects an integer") && e.contains("sixty-four"),
        "{e}"
    );
    let (_d, p) = write_temp("CAT_KD:\n  LOSS:\n    CAM_RESOLUTION: 2.5\n");
    let e = load_err(&p, &[]);
    assert!(
        e.contains("CAT_KD.LOSS.CAM_RESOLUTION expects an integer") && e.contains("2.5"),
        "{e}"
    );
    let e = load_err(&shipped("cifar100/kd.yaml"), &["if_test", "maybe"]);
    assert!(e.contains("if_test expects a boolean") && e.contains("maybe"), "{e}");
    let e = load_err(&shipped("cifar100/kd.yaml"), &["SOLVER.LR_DECAY_STAGES", "[1, x]"]);
    assert!(e.contains("SOLVER.LR_DECAY_STAGES[1] expects an integer"), "{e}");
    let (_d, p) = write_temp("SOLVER: 3\n");
    let e = load_err(&p, &[]);
    assert!(e.contains("SOLVER must be a section"), "{e}");
}

#[test]
fn missing_or_malformed_files_say_where() {
    let e = load_err(Path::new("/nonexistent/cfg.yaml"), &[]);
    assert!(e.contains("/nonexistent/cfg.yaml") && e.contains("cannot read"), "{e}");
    let (_d, p) = write_temp("SOLVER:\n  LR: [0.1\n  EPOCHS: 3\n");
    let e = load_err(&p, &[]);
    assert!(e.contains("is not valid YAML") && e.contains("line"), "{e}");
    let (_d, p) = write_temp("- a\n- b\n");
    let e = load_err(&p, &[]);
    assert!(e.contains("must hold a mapping"), "{e}");
}

#[test]
fn invalid_values_are_refused() {
    let base = shipped("cifar100/CAT_KD/res32x4_res8x4.yaml");
    let cases: [(&[&str], &str); 14] = [
        (&["SOLVER.LR", "-0.1"], "SOLVER.LR must be a positive number"),
        (&["SOLVER.LR", "0"], "SOLVER.LR must be a positive number"),
        (&["SOLVER.BATCH_SIZE", "0"], "SOLVER.BATCH_SIZE must be at least 1"),
        (&["SOLVER.BATCH_SIZE", "-64"], "SOLVER.BATCH_SIZE must be at least 1"),
        (
            &["DATASET.TEST.BATCH_SIZE", "0"],
            "DATASET.TEST.BATCH_SIZE must be at least 1",
        ),
        (
            &["CAT_KD.LOSS.CAM_RESOLUTION", "0"],
            "CAT_KD.LOSS.CAM_RESOLUTION must be at least 1",
        ),
        (&["CAT_KD.CAMs_Nums", "0"], "CAT_KD.CAMs_Nums must be in 1..=100"),
        (&["CAT_KD.CAMs_Nums", "101"], "CAT_KD.CAMs_Nums must be in 1..=100"),
        (&["CAT_KD.Strategy", "2"], "CAT_KD.Strategy must be 0"),
        (
            &["SOLVER.LR_DECAY_STAGES", "[150, 150, 210]"],
            "SOLVER.LR_DECAY_STAGES must be strictly increasing",
        ),
        (
            &["DATASET.RESERVED_RATE", "0"],
            "DATASET.RESERVED_RATE must be in (0, 1]",
        ),
        (
            &["DATASET.RESERVED_RATE", "1.5"],
            "DATASET.RESERVED_RATE must be in (0, 1]",
        ),
        (
            &["DISTILLER.TYPE", "CAT_DK"],
            "unknown DISTILLER.TYPE \"CAT_DK\" (did you mean CAT_KD?); known: NONE, KD, CAT_KD",
        ),
        (&["SOLVER.LR"], "override SOLVER.LR has no value"),
    ];
    for (opts, want) in cases {
        let e = load_err(&base, opts);
        assert!(e.contains(want), "{opts:?}: got {e:?}, want it to contain {want:?}");
    }
    // A reference distiller we do not implement says so.
    let e = load_err(&base, &["DISTILLER.TYPE", "DKD"]);
    assert!(e.contains("does not implement") && e.contains("CAT_KD"), "{e}");
    // ImageNet has 1000 classes, so CAMs_Nums may go up to 1000 there.
    let ok = load(&shipped("imagenet/CAT_KD/r50_mv2.yaml"), &["CAT_KD.CAMs_Nums", "500"]);
    assert_eq!(ok.config.CAT_KD.CAMs_Nums, 500);
}

#[test]
fn resolved_yaml_round_trips() {
    let l = load(&shipped("cifar100/CAT_KD/res32x4_shuv1.yaml"), &["SOLVER.LR", "0.2"]);
    let yaml = l.config.to_yaml();
    let (_d, p) = write_temp(&yaml);
    let again = load(&p, &[]).config;
    assert_eq!(again, l.config);
    assert_eq!(again.hash(), l.config.hash());
    let other = load(&shipped("cifar100/CAT_KD/res32x4_shuv1.yaml"), &["SOLVER.LR", "0.3"]).config;
    assert_ne!(other.hash(), l.config.hash());
}
