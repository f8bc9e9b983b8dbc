//! The built binaries: resolved config printing, and bad input as one line with a non-zero exit.

use std::process::{Command, Output};

fn catkd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_catkd"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_train"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// A failure is exactly one `error:` line on stderr, exit code 2, and no panic or backtrace.
fn assert_clean_failure(out: &Output, want: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected, got: {stderr}");
    assert!(errors[0].contains(want), "{:?} should contain {want:?}", errors[0]);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn config_prints_the_resolved_yaml_with_overrides() {
    let out = catkd(&[
        "config",
        "--cfg",
        "configs/cifar100/CAT_KD/res32x4_shuv1.yaml",
        "SOLVER.LR",
        "0.2",
        "CAT_KD.LOSS.CAT_loss_weight",
        "300",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(yaml["SOLVER"]["LR"].as_f64(), Some(0.2));
    assert_eq!(yaml["CAT_KD"]["LOSS"]["CAT_loss_weight"].as_f64(), Some(300.0));
    assert_eq!(yaml["DISTILLER"]["STUDENT"].as_str(), Some("ShuffleV1"));
    assert_eq!(yaml["SOLVER"]["WEIGHT_DECAY"].as_f64(), Some(0.0005));
}

#[test]
fn imagenet_preset_spelling_is_accepted() {
    let out = catkd(&[
        "config",
        "--cfg",
        "tests/fixtures/reference/presets/imagenet_CAT-KD/r34_r18.yaml",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(yaml["DISTILLER"]["TYPE"].as_str(), Some("CAT_KD"));
}

#[test]
fn bad_input_is_one_clear_line() {
    assert_clean_failure(
        &train(&["--cfg", "configs/cifar100/kd.yaml", "SOLVER.LRR", "0.1"]),
        "unknown config key SOLVER.LRR; the closest known key is SOLVER.LR",
    );
    assert_clean_failure(
        &catkd(&["train", "--cfg", "configs/cifar100/kd.yaml", "SOLVER.LR"]),
        "override SOLVER.LR has no value",
    );
    assert_clean_failure(
        &catkd(&["config", "--cfg", "configs/nope.yaml"]),
        "cannot read config file configs/nope.yaml",
    );
    assert_clean_failure(
        &catkd(&["config", "--cfg", "configs/cifar100/kd.yaml", "SOLVER.BATCH_SIZE", "-1"]),
        "SOLVER.BATCH_SIZE must be at least 1",
    );
    assert_clean_failure(
        &catkd(&["config", "--cfg", "configs/cifar100/kd.yaml", "DISTILLER.TYPE", "FOO"]),
        "known: NONE, KD, CAT_KD",
    );
}

#[test]
fn usage_errors_exit_non_zero() {
    let out = train(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cfg"));
    let out = catkd(&["frobnicate"]);
    assert!(!out.status.success());
}
