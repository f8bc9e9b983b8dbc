//! SGD with PyTorch's semantics and the reference's step schedule.
//!
//! d = grad + weight_decay * w; buf = momentum * buf + d (buf = d on the first step);
//! w -= lr * buf. Weight decay applies to every learnable parameter, BatchNorm included. The
//! momentum buffers are ours, so they are saved with the training state and resumed exactly.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use tch::{nn, Tensor};

use crate::config::SolverConfig;

pub struct Sgd {
    /// Learnable parameters by state-dict name, in name order.
    params: Vec<(String, Tensor)>,
    buffers: Vec<Option<Tensor>>,
    momentum: f64,
    weight_decay: f64,
}

impl Sgd {
    /// An optimiser over every trainable variable of `vs`.
    pub fn new(vs: &nn::VarStore, momentum: f64, weight_decay: f64) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let buffers = params.iter().map(|_| None).collect();
        Sgd {
            params,
            buffers,
            momentum,
            weight_decay,
        }
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    /// One update with learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        tch::no_grad(|| {
            for ((_, p), buf) in self.params.iter_mut().zip(self.buffers.iter_mut()) {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                let d = if self.weight_decay != 0.0 {
                    grad + &*p * self.weight_decay
                } else {
                    grad
                };
                let update = if self.momentum != 0.0 {
                    match buf {
                        Some(b) => {
                            let _ = b.g_mul_scalar_(self.momentum).g_add_(&d);
                            b.shallow_clone()
                        }
                        None => {
                            let b = d.detach().copy();
                            *buf = Some(b.shallow_clone());
                            b
                        }
                    }
                } else {
                    d
                };
                let _ = p.g_add_(&(update * -lr));
            }
        });
    }

    /// Momentum buffers by parameter name (parameters not yet stepped have none).
    pub fn state(&self) -> BTreeMap<String, Tensor> {
        self.params
            .iter()
            .zip(&self.buffers)
            .filter_map(|((name, _), b)| b.as_ref().map(|b| (name.clone(), b.detach().copy())))
            .collect()
    }

    /// Restore buffers saved by [`Sgd::state`].
    pub fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        for ((name, p), buf) in self.params.iter().zip(self.buffers.iter_mut()) {
            *buf = match state.get(name) {
                Some(b) if b.size() == p.size() => Some(b.to_device(p.device()).to_kind(p.kind())),
                Some(b) => bail!(
                    "momentum buffer {name} in the training state has shape {:?}, the parameter has {:?}",
                    b.size(),
                    p.size()
                ),
                None => None,
            };
        }
        Ok(())
    }
}

/// Learning rate of 1-based `epoch`: LR * LR_DECAY_RATE^k, k = number of stages s with epoch > s.
pub fn learning_rate(epoch: i64, solver: &SolverConfig) -> f64 {
    let k = solver.LR_DECAY_STAGES.iter().filter(|&&s| epoch > s).count();
    solver.LR * solver.LR_DECAY_RATE.powi(k as i32)
}
