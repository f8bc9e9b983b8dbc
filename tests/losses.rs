//! Distiller losses against the reference goldens: values and gradients (1e-5 relative).

use std::collections::HashMap;
use std::path::Path;

use catkd::distillers::cat_kd::{self, CatLoss, PartialCams};
use catkd::distillers::kd::kd_loss;
use tch::{Kind, Tensor};

fn goldens() -> (HashMap<String, Tensor>, serde_json::Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/goldens");
    let tensors = Tensor::read_safetensors(dir.join("losses.safetensors"))
        .unwrap()
        .into_iter()
        .collect();
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    (tensors, index)
}

fn close(got: f64, want: f64, what: &str) {
    let tol = 1e-5 * want.abs().max(1e-3);
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

fn tensors_close(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.size(), want.size(), "{what}: shape");
    let scale = want.abs().max().double_value(&[]).max(1e-12);
    let diff = (got - want).abs().max().double_value(&[]);
    assert!(
        diff <= 1e-5 * scale,
        "{what}: max abs difference {diff} against max magnitude {scale}"
    );
}

fn case_loss(cfg: &serde_json::Value) -> CatLoss {
    let get_bool = |k: &str| cfg.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
    let nums = cfg.get("nums").and_then(|v| v.as_i64()).unwrap_or(100);
    let strategy = cfg.get("strategy").and_then(|v| v.as_i64()).unwrap_or(0);
    CatLoss {
        beta: cfg["beta"].as_f64().unwrap(),
        resolution: cfg["res"].as_i64().unwrap(),
        normalize: cfg.get("norm").and_then(|v| v.as_bool()).unwrap_or(true),
        binarize: get_bool("bin"),
        partial: get_bool("partial").then_some(if strategy == 0 {
            PartialCams::Top(nums)
        } else {
            PartialCams::Low(nums)
        }),
        ce_weight: (!get_bool("only")).then(|| cfg.get("ce").and_then(|v| v.as_f64()).unwrap_or(1.0)),
    }
}

#[test]
fn every_cat_case_matches_values_and_gradients() {
    let (t, index) = goldens();
    let cases = index["losses"].as_object().unwrap();
    let mut checked = 0;
    for (name, case) in cases {
        let Some(cfg) = case.get("config") else { continue };
        let cams = case["cams"].as_str().unwrap();
        let suffix = if cams.contains("cam8") { "cam8" } else { "cam4" };
        let student_cam = t[&format!("student_{suffix}")].detach().set_requires_grad(true);
        let teacher_cam = &t[&format!("teacher_{suffix}")];
        let loss = case_loss(cfg);
        let losses = loss
            .losses(
                &t["student_logits"],
                &student_cam,
                &t["teacher_logits"],
                teacher_cam,
                &t["target"],
            )
            .unwrap();
        let values = case["values"].as_object().unwrap();
        assert_eq!(
            losses.len(),
            values.len(),
            "{name}: loss names {:?}",
            losses.iter().map(|l| l.0).collect::<Vec<_>>()
        );
        for (lname, lval) in &losses {
            let want = values
                .get(*lname)
                .unwrap_or_else(|| panic!("{name}: unexpected loss {lname}"))
                .as_f64()
                .unwrap();
            close(lval.double_value(&[]), want, &format!("{name}.{lname}"));
        }
        let total = losses
            .iter()
            .map(|(_, l)| l.shallow_clone())
            .reduce(|a, b| a + b)
            .unwrap();
        total.backward();
        tensors_close(
            &student_cam.grad(),
            &t[&format!("grad_student_cam.{name}")],
            &format!("{name} gradient"),
        );
        checked += 1;
    }
    assert_eq!(checked, 12, "all twelve CAT cases are checked");
}

#[test]
fn kd_matches_at_both_temperatures() {
    let (t, index) = goldens();
    for temp in ["4.0", "1.0"] {
        let case = &index["losses"][format!("kd_T{temp}")]["values"];
        let logits = t["student_logits"].detach().set_requires_grad(true);
        let loss = kd_loss(&logits, &t["teacher_logits"], temp.parse().unwrap());
        close(
            loss.double_value(&[]),
            case["loss_kd_unweighted"].as_f64().unwrap(),
            &format!("kd T={temp}"),
        );
        loss.backward();
        tensors_close(
            &logits.grad(),
            &t[&format!("grad_student_logits.kd_T{temp}")],
            &format!("kd T={temp} gradient"),
        );
        let ce = t["student_logits"]
            .cross_entropy_for_logits(&t["target"])
            .double_value(&[]);
        close(ce, case["ce"].as_f64().unwrap(), "cross-entropy");
    }
}

#[test]
fn partial_selection_counts_follow_the_reference() {
    let logits = Tensor::arange(10, (Kind::Float, tch::Device::Cpu))
        .view([1, 10])
        .repeat([2, 1]);
    let top = cat_kd::partial_mask(&logits, PartialCams::Top(4));
    assert_eq!(
        top.sum(Kind::Int64).int64_value(&[]),
        2 * 3,
        "strategy 0 keeps n - 1 classes"
    );
    assert_eq!(top.get(0).get(9).int64_value(&[]), 1, "the highest logit is kept");
    let low = cat_kd::partial_mask(&logits, PartialCams::Low(4));
    assert_eq!(
        low.sum(Kind::Int64).int64_value(&[]),
        2 * 5,
        "strategy 1 keeps n + 1 classes"
    );
    assert_eq!(low.get(0).get(0).int64_value(&[]), 1, "the lowest logit is kept");
    // Ties make the counts differ between samples: fall back to every CAM.
    let tied = Tensor::from_slice(&[5.0f32, 5.0, 1.0, 0.0, 3.0, 2.0, 1.0, 0.0]).view([2, 4]);
    let mask = cat_kd::partial_mask(&tied, PartialCams::Top(2));
    let cams = Tensor::ones([2, 4, 2, 2], (Kind::Float, tch::Device::Cpu));
    assert!(cat_kd::select_classes(&cams, &cams, &mask).is_none());
}

#[test]
fn binarize_thresholds_at_the_mean_absolute_value() {
    let cam = Tensor::from_slice(&[-4.0f32, 1.0, 2.0, 3.0]).view([1, 1, 2, 2]);
    // mean |x| = 2.5: only 3.0 exceeds it.
    let b = cat_kd::binarize(&cam);
    let v: Vec<f32> = b.flatten(0, -1).try_into().unwrap();
    assert_eq!(v, vec![0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn mismatched_feature_maps_are_an_error_not_a_crash() {
    let loss = CatLoss {
        beta: 1.0,
        resolution: 2,
        normalize: true,
        binarize: false,
        partial: None,
        ce_weight: None,
    };
    let s = Tensor::zeros([2, 64, 8, 8], (Kind::Float, tch::Device::Cpu));
    let t = Tensor::zeros([2, 256, 8, 8], (Kind::Float, tch::Device::Cpu));
    let logits = Tensor::zeros([2, 100], (Kind::Float, tch::Device::Cpu));
    let target = Tensor::zeros([2], (Kind::Int64, tch::Device::Cpu));
    let e = loss.losses(&logits, &s, &logits, &t, &target).unwrap_err().to_string();
    assert!(e.contains("set if_test True"), "{e}");
}
