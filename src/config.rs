//! The reference's configuration schema (yacs `CfgNode` in mdistiller/engine/cfg.py), typed.
//!
//! Loading works like yacs: start from the defaults (`config_defaults.yaml`), merge the preset
//! file, then the `KEY VALUE` overrides. Every key must already exist in the defaults and every
//! value must have the default's type; both are checked while merging so the error can name the
//! dotted path. The merged tree is then deserialised into [`Config`] and validated.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

const DEFAULTS_YAML: &str = include_str!("config_defaults.yaml");

/// Distiller names this project implements, as the reference registry spells them.
pub const KNOWN_DISTILLERS: [&str; 3] = ["NONE", "KD", "CAT_KD"];
/// Distillers the reference registers that catkd does not implement (yet).
const REFERENCE_ONLY_DISTILLERS: [&str; 13] = [
    "AT", "CRD", "DKD", "FITNET", "KDSVD", "NST", "OFD", "PKT", "REVIEWKD", "RKD", "SP", "VID", "transfer",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct Config {
    /// GPU index (the reference sets CUDA_VISIBLE_DEVICES to it).
    pub device: i64,
    /// Build CAM (`*_test`) variants and convert the teacher's FC into `conv_test`.
    pub if_test: bool,
    pub if_Augment: bool,
    pub if_useFactor: bool,
    pub if_self_train: bool,
    /// catkd addition: seed for everything random; None = nondeterministic.
    pub SEED: Option<u64>,
    pub CAT_KD: CatKdConfig,
    pub EXPERIMENT: ExperimentConfig,
    pub DATASET: DatasetConfig,
    pub DISTILLER: DistillerConfig,
    pub SOLVER: SolverConfig,
    pub LOG: LogConfig,
    pub KD: KdConfig,
    // Sections of distillers catkd does not implement: kept as checked, untyped trees.
    pub AT: Value,
    pub RKD: Value,
    pub FITNET: Value,
    pub KDSVD: Value,
    pub OFD: Value,
    pub NST: Value,
    pub PKT: Value,
    pub SP: Value,
    pub VID: Value,
    pub CRD: Value,
    pub REVIEWKD: Value,
    pub DKD: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct CatKdConfig {
    pub IF_NORMALIZE: bool,
    pub onlyCAT: bool,
    pub IF_BINARIZE: bool,
    pub IF_OnlyTransferPartialCAMs: bool,
    pub CAMs_Nums: i64,
    pub Strategy: i64,
    pub LOSS: CatKdLossConfig,
    pub teacher_dir: Option<String>,
    pub student_dir: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct CatKdLossConfig {
    pub CE_WEIGHT: f64,
    pub CAT_loss_weight: f64,
    pub CAM_RESOLUTION: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct ExperimentConfig {
    pub PROJECT: String,
    pub NAME: String,
    pub TAG: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct DatasetConfig {
    pub TYPE: String,
    pub ROOT: String,
    pub DOWNLOAD: bool,
    pub NUM_WORKERS: i64,
    pub TEST: DatasetTestConfig,
    pub REDUCTION: bool,
    pub RESERVED_RATE: f64,
    pub RESERVED_CLASS_NUM: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct DatasetTestConfig {
    pub BATCH_SIZE: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct DistillerConfig {
    pub TYPE: String,
    pub TEACHER: String,
    pub STUDENT: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct SolverConfig {
    pub TRAINER: String,
    pub BATCH_SIZE: i64,
    pub EPOCHS: i64,
    pub LR: f64,
    pub LR_DECAY_STAGES: Vec<i64>,
    pub LR_DECAY_RATE: f64,
    pub WEIGHT_DECAY: f64,
    pub MOMENTUM: f64,
    pub TYPE: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct LogConfig {
    pub TENSORBOARD_FREQ: i64,
    pub SAVE_CHECKPOINT_FREQ: i64,
    pub PREFIX: String,
    pub WANDB: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct KdConfig {
    pub TEMPERATURE: f64,
    pub LOSS: KdLossConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct KdLossConfig {
    pub CE_WEIGHT: f64,
    pub KD_WEIGHT: f64,
}

/// A resolved configuration together with the overrides that produced it (they name the run).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub overrides: Vec<(String, String)>,
}

impl Config {
    /// The reference defaults, with nothing merged.
    pub fn defaults() -> Config {
        let tree = default_tree();
        // The embedded defaults are part of the program; a failure here is a build defect.
        serde_yaml::from_value(tree).expect("config_defaults.yaml matches the Config struct")
    }

    /// Load a preset file and apply `KEY VALUE` overrides, yacs style.
    pub fn load(path: &Path, overrides: &[String]) -> Result<LoadedConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}; check the --cfg path", path.display()))?;
        let file_tree: Value = serde_yaml::from_str(&text).map_err(|e| {
            let place = e
                .location()
                .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                .unwrap_or_default();
            anyhow::anyhow!("config file {} is not valid YAML{place}: {e}", path.display())
        })?;
        let mut tree = default_tree();
        match file_tree {
            Value::Null => {} // an empty file means "all defaults"
            Value::Mapping(_) => {
                merge(&mut tree, file_tree, "").with_context(|| format!("in config file {}", path.display()))?
            }
            other => bail!(
                "config file {} must hold a mapping of keys (like `SOLVER: ...`), found {}",
                path.display(),
                describe(&other)
            ),
        }
        let pairs = pair_overrides(overrides)?;
        for (key, raw) in &pairs {
            apply_override(&mut tree, key, raw)?;
        }
        Self::from_tree(tree, &pairs)
    }

    /// Only the overrides, on top of the defaults (tests and programmatic use).
    pub fn from_overrides(overrides: &[String]) -> Result<LoadedConfig> {
        let mut tree = default_tree();
        let pairs = pair_overrides(overrides)?;
        for (key, raw) in &pairs {
            apply_override(&mut tree, key, raw)?;
        }
        Self::from_tree(tree, &pairs)
    }

    fn from_tree(mut tree: Value, pairs: &[(String, String)]) -> Result<LoadedConfig> {
        normalise_distiller_name(&mut tree);
        let config: Config =
            serde_yaml::from_value(tree).map_err(|e| anyhow::anyhow!("configuration does not fit the schema: {e}"))?;
        config.validate()?;
        Ok(LoadedConfig {
            config,
            overrides: pairs.to_vec(),
        })
    }

    /// Range and consistency checks that types alone cannot express.
    pub fn validate(&self) -> Result<()> {
        let s = &self.SOLVER;
        if s.LR.is_nan() || s.LR <= 0.0 || s.LR.is_infinite() {
            bail!("SOLVER.LR must be a positive number, found {}", s.LR);
        }
        if s.BATCH_SIZE < 1 {
            bail!("SOLVER.BATCH_SIZE must be at least 1, found {}", s.BATCH_SIZE);
        }
        if self.DATASET.TEST.BATCH_SIZE < 1 {
            bail!(
                "DATASET.TEST.BATCH_SIZE must be at least 1, found {}",
                self.DATASET.TEST.BATCH_SIZE
            );
        }
        if s.EPOCHS < 1 {
            bail!("SOLVER.EPOCHS must be at least 1, found {}", s.EPOCHS);
        }
        if s.MOMENTUM < 0.0 {
            bail!("SOLVER.MOMENTUM must not be negative, found {}", s.MOMENTUM);
        }
        if s.WEIGHT_DECAY < 0.0 {
            bail!("SOLVER.WEIGHT_DECAY must not be negative, found {}", s.WEIGHT_DECAY);
        }
        if s.LR_DECAY_RATE.is_nan() || s.LR_DECAY_RATE <= 0.0 {
            bail!("SOLVER.LR_DECAY_RATE must be positive, found {}", s.LR_DECAY_RATE);
        }
        if let Some(w) = s.LR_DECAY_STAGES.windows(2).find(|w| w[1] <= w[0]) {
            bail!(
                "SOLVER.LR_DECAY_STAGES must be strictly increasing, found {:?} ({} then {})",
                s.LR_DECAY_STAGES,
                w[0],
                w[1]
            );
        }
        if s.TYPE != "SGD" {
            bail!(
                "SOLVER.TYPE {:?} is not supported; the reference and catkd only know \"SGD\"",
                s.TYPE
            );
        }
        if s.TRAINER != "base" {
            bail!(
                "SOLVER.TRAINER {:?} is not supported; catkd implements the reference's \"base\" trainer",
                s.TRAINER
            );
        }
        if self.LOG.SAVE_CHECKPOINT_FREQ < 1 {
            bail!(
                "LOG.SAVE_CHECKPOINT_FREQ must be at least 1, found {}",
                self.LOG.SAVE_CHECKPOINT_FREQ
            );
        }
        let classes = match self.DATASET.TYPE.as_str() {
            "cifar100" => 100,
            "imagenet" => 1000,
            other => bail!("DATASET.TYPE {other:?} is not supported; use \"cifar100\" or \"imagenet\""),
        };
        if self.DATASET.NUM_WORKERS < 0 {
            bail!(
                "DATASET.NUM_WORKERS must not be negative, found {}",
                self.DATASET.NUM_WORKERS
            );
        }
        let d = &self.DATASET;
        if d.RESERVED_RATE.is_nan() || d.RESERVED_RATE <= 0.0 || d.RESERVED_RATE > 1.0 {
            bail!("DATASET.RESERVED_RATE must be in (0, 1], found {}", d.RESERVED_RATE);
        }
        if d.RESERVED_CLASS_NUM < 1 || d.RESERVED_CLASS_NUM > classes {
            bail!(
                "DATASET.RESERVED_CLASS_NUM must be in 1..={classes}, found {}",
                d.RESERVED_CLASS_NUM
            );
        }
        let c = &self.CAT_KD;
        if c.LOSS.CAM_RESOLUTION < 1 {
            bail!(
                "CAT_KD.LOSS.CAM_RESOLUTION must be at least 1, found {}",
                c.LOSS.CAM_RESOLUTION
            );
        }
        if c.CAMs_Nums < 1 || c.CAMs_Nums > classes {
            bail!(
                "CAT_KD.CAMs_Nums must be in 1..={classes} (the number of classes), found {}",
                c.CAMs_Nums
            );
        }
        if c.Strategy != 0 && c.Strategy != 1 {
            bail!(
                "CAT_KD.Strategy must be 0 (CAMs of the top classes) or 1 (CAMs of the lowest classes), found {}",
                c.Strategy
            );
        }
        if self.KD.TEMPERATURE.is_nan() || self.KD.TEMPERATURE <= 0.0 {
            bail!("KD.TEMPERATURE must be positive, found {}", self.KD.TEMPERATURE);
        }
        let t = self.DISTILLER.TYPE.as_str();
        if !KNOWN_DISTILLERS.contains(&t) {
            if REFERENCE_ONLY_DISTILLERS.contains(&t) {
                bail!(
                    "DISTILLER.TYPE {t:?} is a reference distiller that catkd does not implement; known: {}",
                    KNOWN_DISTILLERS.join(", ")
                );
            }
            let hint = closest(t, KNOWN_DISTILLERS.iter().copied())
                .map(|c| format!(" (did you mean {c}?)"))
                .unwrap_or_default();
            bail!(
                "unknown DISTILLER.TYPE {t:?}{hint}; known: {} (CAT-KD is read as CAT_KD)",
                KNOWN_DISTILLERS.join(", ")
            );
        }
        Ok(())
    }

    /// Number of classes of the configured dataset.
    pub fn num_classes(&self) -> i64 {
        if self.DATASET.TYPE == "imagenet" {
            1000
        } else {
            100
        }
    }

    /// The resolved configuration as YAML (what `catkd config` prints and runs save).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// A short stable hash of the resolved configuration (stored in checkpoint metadata).
    pub fn hash(&self) -> String {
        format!("{:016x}", fnv1a64(self.to_yaml().as_bytes()))
    }
}

impl LoadedConfig {
    /// Experiment name the reference derives: NAME (or TAG when NAME is empty) followed by the
    /// overrides as `KEY:VALUE`, comma separated, appended without a separator (sic). A `/` in a
    /// value would create sub-folders, so it becomes `_`.
    pub fn experiment_name(&self) -> String {
        let e = &self.config.EXPERIMENT;
        let mut name = if e.NAME.is_empty() {
            e.TAG.clone()
        } else {
            e.NAME.clone()
        };
        let extra: Vec<String> = self.overrides.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        name.push_str(&extra.join(","));
        name.replace('/', "_")
    }

    /// `LOG.PREFIX/EXPERIMENT.PROJECT/<experiment name>`, where a run writes its outputs.
    pub fn output_dir(&self) -> PathBuf {
        Path::new(&self.config.LOG.PREFIX)
            .join(&self.config.EXPERIMENT.PROJECT)
            .join(self.experiment_name())
    }
}

fn default_tree() -> Value {
    serde_yaml::from_str(DEFAULTS_YAML).expect("config_defaults.yaml is valid YAML")
}

/// The ImageNet presets spell the distiller "CAT-KD"; the reference registry knows "CAT_KD".
fn normalise_distiller_name(tree: &mut Value) {
    if let Some(Value::String(t)) = tree.get_mut("DISTILLER").and_then(|d| d.get_mut("TYPE")) {
        if t == "CAT-KD" {
            *t = "CAT_KD".to_string();
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Merge `src` into `dst` (both mappings), checking keys and types against `dst`.
fn merge(dst: &mut Value, src: Value, prefix: &str) -> Result<()> {
    let Value::Mapping(src_map) = src else {
        bail!(
            "{} must be a mapping of keys, found {}",
            if prefix.is_empty() { "the config" } else { prefix },
            describe(&src)
        );
    };
    for (k, v) in src_map {
        let key = match &k {
            Value::String(s) => s.clone(),
            other => bail!(
                "config keys must be text; found {} under {}",
                describe(other),
                if prefix.is_empty() { "the top level" } else { prefix }
            ),
        };
        let path = join(prefix, &key);
        let Value::Mapping(dst_map) = dst else {
            unreachable!("merge is only called on mappings")
        };
        let Some(slot) = dst_map.get_mut(&k) else {
            bail!("{}", unknown_key_message(&path, &key, dst_map));
        };
        if let Value::Mapping(_) = slot {
            if !matches!(v, Value::Mapping(_)) {
                bail!("{path} must be a section (a mapping of keys), found {}", describe(&v));
            }
            merge(slot, v, &path)?;
        } else {
            *slot = coerce(slot, v, &path)?;
        }
    }
    Ok(())
}

fn unknown_key_message(path: &str, key: &str, siblings: &Mapping) -> String {
    let names = siblings.keys().filter_map(|k| k.as_str());
    match closest(key, names) {
        Some(c) => {
            let parent = path.rsplit_once('.').map(|(p, _)| format!("{p}.")).unwrap_or_default();
            format!("unknown config key {path}; the closest known key is {parent}{c}")
        }
        None => format!("unknown config key {path}"),
    }
}

/// Check `new` against the type of the default `old`; integers are accepted for floats.
fn coerce(old: &Value, new: Value, path: &str) -> Result<Value> {
    let ok = match (old, &new) {
        (Value::Null, _) => true, // optional keys (teacher_dir, SEED): checked when typed
        (_, Value::Null) => false,
        (Value::Bool(_), Value::Bool(_)) => true,
        (Value::String(_), Value::String(_)) => true,
        (Value::Number(o), Value::Number(n)) => {
            if o.is_f64() {
                return Ok(Value::Number(serde_yaml::Number::from(n.as_f64().unwrap_or(f64::NAN))));
            }
            n.is_i64() || n.is_u64()
        }
        (Value::Sequence(o), Value::Sequence(n)) => {
            if let Some(first) = o.first() {
                let mut out = Vec::with_capacity(n.len());
                for (i, item) in n.iter().enumerate() {
                    out.push(coerce(first, item.clone(), &format!("{path}[{i}]"))?);
                }
                return Ok(Value::Sequence(out));
            }
            true
        }
        _ => false,
    };
    if ok {
        Ok(new)
    } else {
        bail!("{path} expects {}, found {}", type_name(old), describe(&new))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "any value",
        Value::Bool(_) => "a boolean (True or False)",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a section",
        Value::Tagged(_) => "a value",
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing (null)".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Sequence(_) => format!(
            "the list {}",
            serde_yaml::to_string(v).unwrap_or_default().trim().replace('\n', " ")
        ),
        Value::Mapping(_) => "a section".to_string(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

fn pair_overrides(overrides: &[String]) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut it = overrides.iter();
    while let Some(key) = it.next() {
        let Some(value) = it.next() else {
            bail!("override {key} has no value; overrides come in pairs like `SOLVER.LR 0.1`");
        };
        pairs.push((key.clone(), value.clone()));
    }
    Ok(pairs)
}

/// Set one dotted key from its command-line text, typed by the key it sets.
fn apply_override(tree: &mut Value, key: &str, raw: &str) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut node = &mut *tree;
    for (i, part) in parts.iter().enumerate() {
        let path = parts[..=i].join(".");
        let Value::Mapping(map) = node else {
            bail!("override {key}: {} is not a section", parts[..i].join("."));
        };
        let k = Value::String(part.to_string());
        if !map.contains_key(&k) {
            bail!("{}", unknown_key_message(&path, part, map));
        }
        node = map.get_mut(&k).expect("checked above");
    }
    if let Value::Mapping(_) = node {
        bail!("override {key} names a whole section; set one of its keys instead");
    }
    let parsed = parse_override_value(node, raw, key)?;
    *node = coerce(node, parsed, key)?;
    Ok(())
}

/// Interpret command-line text the way yacs' literal_eval would, guided by the target's type:
/// strings are taken as written (quotes optional), `None`/`True`/`False` are Python's spellings.
fn parse_override_value(target: &Value, raw: &str, key: &str) -> Result<Value> {
    let trimmed = raw.trim();
    match trimmed {
        "None" | "null" | "~" => return Ok(Value::Null),
        "True" => return Ok(Value::Bool(true)),
        "False" => return Ok(Value::Bool(false)),
        _ => {}
    }
    let unquoted = strip_quotes(trimmed);
    if let Value::String(_) = target {
        return Ok(Value::String(unquoted.to_string()));
    }
    if let (Value::Null, Some(s)) = (target, unquoted_if_quoted(trimmed)) {
        return Ok(Value::String(s.to_string()));
    }
    let python_list = trimmed.starts_with('(') && trimmed.ends_with(')');
    let text = if python_list {
        format!("[{}]", &trimmed[1..trimmed.len() - 1])
    } else {
        trimmed.to_string()
    };
    let value: Value =
        serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("override {key}: cannot read value {raw:?}: {e}"))?;
    Ok(value)
}

fn strip_quotes(s: &str) -> &str {
    unquoted_if_quoted(s).unwrap_or(s)
}

fn unquoted_if_quoted(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        Some(&s[1..s.len() - 1])
    } else {
        None
    }
}

/// The candidate nearest to `word` by edit distance (case-insensitive), if reasonably close.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let w = word.to_lowercase();
    candidates
        .map(|c| (edit_distance(&w, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 2).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_reference() {
        let c = Config::defaults();
        assert_eq!(c.SOLVER.LR, 0.05);
        assert_eq!(c.SOLVER.LR_DECAY_STAGES, vec![150, 180, 210]);
        assert_eq!(c.CAT_KD.LOSS.CAT_loss_weight, 400.0);
        assert_eq!(c.CAT_KD.CAMs_Nums, 100);
        assert_eq!(c.DISTILLER.TEACHER, "ResNet50");
        assert_eq!(c.KD.TEMPERATURE, 4.0);
        assert_eq!(c.SEED, None);
        assert!(c.LOG.WANDB);
    }

    #[test]
    fn closest_finds_near_misses() {
        assert_eq!(closest("LRR", ["LR", "EPOCHS", "TYPE"].into_iter()), Some("LR"));
        assert_eq!(closest("zzzzzzzz", ["LR"].into_iter()), None);
    }

    #[test]
    fn override_parsing_is_typed_by_key() {
        let c = Config::from_overrides(&[
            "SOLVER.LR".into(),
            "0.1".into(),
            "SOLVER.LR_DECAY_STAGES".into(),
            "[100, 150]".into(),
            "CAT_KD.LOSS.CAT_loss_weight".into(),
            "300".into(),
            "EXPERIMENT.TAG".into(),
            "123".into(),
            "CAT_KD.teacher_dir".into(),
            "some/path.pth".into(),
            "if_test".into(),
            "True".into(),
        ])
        .unwrap()
        .config;
        assert_eq!(c.SOLVER.LR, 0.1);
        assert_eq!(c.SOLVER.LR_DECAY_STAGES, vec![100, 150]);
        assert_eq!(c.CAT_KD.LOSS.CAT_loss_weight, 300.0);
        assert_eq!(c.EXPERIMENT.TAG, "123");
        assert_eq!(c.CAT_KD.teacher_dir.as_deref(), Some("some/path.pth"));
        assert!(c.if_test);
    }
}
