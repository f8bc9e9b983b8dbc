//! Run outputs that are text: worklog.txt (the reference's fields) and metrics.jsonl.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// What one epoch produced; one line of metrics.jsonl.
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: i64,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_acc: f64,
    pub test_acc_top5: f64,
    pub test_loss: f64,
    pub seconds: f64,
    pub images_per_second: f64,
    /// The epoch's mean of each named loss term.
    pub losses: std::collections::BTreeMap<String, f64>,
}

pub struct RunLog {
    dir: PathBuf,
}

impl RunLog {
    pub fn new(dir: &Path) -> Self {
        RunLog { dir: dir.to_path_buf() }
    }

    fn append(&self, file: &str, text: &str) -> Result<()> {
        let path = self.dir.join(file);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// The reference's worklog block: epoch, lr with two decimals, then the metrics.
    pub fn epoch(&self, r: &EpochRecord) -> Result<()> {
        let dashes = "-".repeat(25);
        let mut s = format!("{dashes}\nepoch: {}\nlr: {:.2}\n", r.epoch, r.lr);
        for (k, v) in [
            ("train_acc", r.train_acc),
            ("train_loss", r.train_loss),
            ("test_acc", r.test_acc),
            ("test_acc_top5", r.test_acc_top5),
            ("test_loss", r.test_loss),
        ] {
            s.push_str(&format!("{k}: {v:.2}\n"));
        }
        s.push_str(&format!("{dashes}\n"));
        self.append("worklog.txt", &s)?;
        let line = serde_json::to_string(r).context("cannot encode metrics")?;
        self.append("metrics.jsonl", &format!("{line}\n"))
    }

    /// The reference's closing line.
    pub fn best(&self, best_acc: f64) -> Result<()> {
        self.append("worklog.txt", &format!("best_acc\t{best_acc:.2}\n"))
    }
}
