//! SGD against PyTorch's formula, and the reference's step schedule.

use catkd::config::Config;
use catkd::engine::optim::{learning_rate, Sgd};
use tch::{nn, Device, Kind, Tensor};

#[test]
fn two_sgd_steps_follow_the_formula() {
    let vs = nn::VarStore::new(Device::Cpu);
    let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0, 3.0]));
    let frozen = vs.root().zeros_no_train("running_mean", &[3]);
    let (m, wd, lr) = (0.9, 0.01, 0.1);
    let mut opt = Sgd::new(&vs, m, wd);
    let target = Tensor::from_slice(&[0.5f32, 0.5, 0.5]);
    let mut expect_w: Vec<f64> = vec![1.0, -2.0, 3.0];
    let mut buf: Option<Vec<f64>> = None;
    for _ in 0..2 {
        opt.zero_grad();
        let loss = (&w - &target).square().sum(Kind::Float);
        loss.backward();
        // By hand: grad = 2 (w - 0.5); d = grad + wd * w; buf = m buf + d (d at first); w -= lr buf.
        let d: Vec<f64> = expect_w.iter().map(|x| 2.0 * (x - 0.5) + wd * x).collect();
        let b: Vec<f64> = match &buf {
            None => d.clone(),
            Some(prev) => prev.iter().zip(&d).map(|(p, d)| m * p + d).collect(),
        };
        expect_w = expect_w.iter().zip(&b).map(|(x, b)| x - lr * b).collect();
        buf = Some(b);
        opt.step(lr);
    }
    let got: Vec<f32> = w.detach().try_into().unwrap();
    for (g, e) in got.iter().zip(&expect_w) {
        assert!((f64::from(*g) - e).abs() < 1e-6, "got {got:?}, want {expect_w:?}");
    }
    // Buffers are the optimiser's state; non-trainable variables are left alone.
    let state = opt.state();
    assert_eq!(state.len(), 1);
    let saved: Vec<f32> = state["w"].shallow_clone().try_into().unwrap();
    for (s, e) in saved.iter().zip(buf.as_ref().unwrap()) {
        assert!((f64::from(*s) - e).abs() < 1e-5);
    }
    assert_eq!(frozen.abs().sum(Kind::Float).double_value(&[]), 0.0);
}

#[test]
fn restored_buffers_continue_identically() {
    let make = || {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, 2.0]));
        (vs, w)
    };
    let step = |opt: &mut Sgd, w: &Tensor| {
        opt.zero_grad();
        (w * w).sum(Kind::Float).backward();
        opt.step(0.05);
    };
    let (vs_a, w_a) = make();
    let mut a = Sgd::new(&vs_a, 0.9, 5e-4);
    for _ in 0..3 {
        step(&mut a, &w_a);
    }
    let (vs_b, w_b) = make();
    let mut b = Sgd::new(&vs_b, 0.9, 5e-4);
    step(&mut b, &w_b);
    // Copy a's weights and buffers after one step into a fresh optimiser, then continue.
    let (vs_c, w_c) = make();
    tch::no_grad(|| w_c.shallow_clone().copy_(&w_b));
    let mut c = Sgd::new(&vs_c, 0.9, 5e-4);
    c.load_state(&b.state()).unwrap();
    for _ in 0..2 {
        step(&mut c, &w_c);
    }
    let (x, y): (Vec<f32>, Vec<f32>) = (w_a.detach().try_into().unwrap(), w_c.detach().try_into().unwrap());
    assert_eq!(x, y);
    drop((vs_a, vs_b, vs_c));
}

#[test]
fn schedule_steps_after_each_stage() {
    let solver = Config::defaults().SOLVER; // LR 0.05, stages 150 180 210, rate 0.1
    let lr = |e| learning_rate(e, &solver);
    assert_eq!(lr(1), 0.05);
    assert_eq!(lr(150), 0.05, "epoch 150 still uses the base rate (epoch > stage)");
    assert!((lr(151) - 0.005).abs() < 1e-12);
    assert!((lr(180) - 0.005).abs() < 1e-12);
    assert!((lr(181) - 0.0005).abs() < 1e-12);
    assert!((lr(211) - 0.00005).abs() < 1e-12);
    assert!((lr(240) - 0.00005).abs() < 1e-12);
}
