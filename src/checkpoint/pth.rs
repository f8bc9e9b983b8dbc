//! Read PyTorch `.pth` checkpoints written by `torch.save`: the zip format (torch >= 1.6) and the
//! legacy format (`_use_new_zipfile_serialization=False`, and every file older torch wrote).
//!
//! Both formats pickle the saved object with tensors as calls to `torch._utils._rebuild_tensor_v2`
//! whose first argument is a persistent id naming a storage; only where the storages' bytes live
//! differs. The zip format keeps each storage in its own record `<archive>/data/<key>`; the legacy
//! format appends them after the pickle, in the order of a pickled key list, each as a
//! little-endian u64 element count followed by the raw bytes. Nothing is ever imported or called:
//! we recognise the few functions torch uses and refuse everything else in a tensor's place.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read};

use anyhow::{anyhow, bail, Result};
use tch::{Device, Kind, Tensor};

use crate::pickle::{self, Value};

/// Which of torch's two layouts a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PthLayout {
    Zip,
    Legacy,
}

/// Tensors (dotted names, `module.` stripped) and the other entries, stringified.
pub struct PthContents {
    pub layout: PthLayout,
    pub tensors: BTreeMap<String, Tensor>,
    pub metadata: BTreeMap<String, String>,
}

/// `torch.serialization.MAGIC_NUMBER`, the first pickle of a legacy file (an 80-bit int).
const LEGACY_MAGIC_LE: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_PROTOCOL_VERSION: i64 = 1001;
/// Longest stringified metadata value we keep (an optimizer's state can be large).
const MAX_META_CHARS: usize = 2000;

pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// The magic as protocols 0 and 1 write it (a decimal LONG line).
const LEGACY_MAGIC_TEXT: &[u8] = b"L119547037146038801333356";

/// Bytes after the pickled magic number when `bytes` starts like a legacy file, else None.
/// The magic does not fit our 64-bit ints, so it is matched byte for byte (protocols 1 to 5;
/// torch writes protocol 2 unless told otherwise).
fn legacy_magic_end(bytes: &[u8]) -> Option<usize> {
    if let Some(rest) = bytes.strip_prefix(LEGACY_MAGIC_TEXT) {
        let rest = rest.strip_prefix(b"L").unwrap_or(rest);
        return rest.strip_prefix(b"\n.").map(|r| bytes.len() - r.len());
    }
    if bytes.len() < 2 || bytes[0] != 0x80 || !(2..=5).contains(&bytes[1]) {
        return None;
    }
    let mut i = 2;
    if bytes.get(i) == Some(&0x95) {
        i += 9; // FRAME and its length
    }
    let rest = bytes.get(i..)?;
    if rest.len() >= 13 && rest[0] == 0x8a && rest[1] == 10 && rest[2..12] == LEGACY_MAGIC_LE && rest[12] == b'.' {
        Some(i + 13)
    } else {
        None
    }
}

pub fn is_legacy(bytes: &[u8]) -> bool {
    legacy_magic_end(bytes).is_some()
}

/// Parse a `.pth` file held in memory. Errors are one phrase without the file name (the caller
/// adds it).
pub fn read_pth(bytes: &[u8]) -> Result<PthContents> {
    let (layout, root, storages) = if is_zip(bytes) {
        let (root, storages) = read_zip(bytes)?;
        (PthLayout::Zip, root, storages)
    } else if let Some(start) = legacy_magic_end(bytes) {
        let (root, storages) = read_legacy(bytes, start)?;
        (PthLayout::Legacy, root, storages)
    } else {
        bail!("it is neither a torch zip archive nor a legacy torch file");
    };
    let b = Builder { storages };
    let (tensors, metadata) = b.split(&root)?;
    Ok(PthContents {
        layout,
        tensors,
        metadata,
    })
}

/// A storage reference from a persistent id: which record, what dtype, how many elements.
#[derive(Debug, Clone)]
struct StorageRef {
    key: String,
    kind: Kind,
    numel: i64,
    /// Legacy storage views: (element offset, element count) into the root storage.
    view: Option<(i64, i64)>,
}

fn storage_kind(class: &Value) -> Result<Kind> {
    let (module, name) = match class {
        Value::Global { module, name } => (module.as_str(), name.as_str()),
        other => bail!("a storage's type is {} instead of a torch storage class", other.kind()),
    };
    if !module.starts_with("torch") {
        bail!("unsupported storage class {module}.{name}");
    }
    Ok(match name {
        "FloatStorage" => Kind::Float,
        "DoubleStorage" => Kind::Double,
        "HalfStorage" => Kind::Half,
        "BFloat16Storage" => Kind::BFloat16,
        "LongStorage" => Kind::Int64,
        "IntStorage" => Kind::Int,
        "ShortStorage" => Kind::Int16,
        "CharStorage" => Kind::Int8,
        "ByteStorage" | "UntypedStorage" => Kind::Uint8,
        "BoolStorage" => Kind::Bool,
        "ComplexFloatStorage" => Kind::ComplexFloat,
        "ComplexDoubleStorage" => Kind::ComplexDouble,
        _ => bail!("unsupported storage class {module}.{name} (quantized or unknown dtype)"),
    })
}

/// Decode `('storage', StorageClass, key, location, numel[, view_metadata])`. The location
/// ("cpu", "cuda:0", ...) is ignored: everything loads to the CPU.
fn parse_pid(pid: &Value) -> Result<StorageRef> {
    let t = pid
        .as_seq()
        .ok_or_else(|| anyhow!("a persistent id is {} instead of a tuple", pid.kind()))?;
    match t.first().and_then(Value::as_str) {
        Some("storage") => {}
        Some("module") => bail!("the file pickles a whole nn.Module class; save model.state_dict() instead"),
        _ => bail!("unknown persistent id {:?}", t.first().map(Value::kind)),
    }
    if t.len() < 5 {
        bail!("a storage id has {} fields instead of 5", t.len());
    }
    let kind = storage_kind(&t[1])?;
    let key = match &t[2] {
        Value::Int(i) => i.to_string(),
        v => v
            .as_str()
            .ok_or_else(|| anyhow!("a storage key is {}", v.kind()))?
            .to_string(),
    };
    let numel = t[4]
        .as_int()
        .filter(|n| *n >= 0)
        .ok_or_else(|| anyhow!("storage {key} has no valid element count"))?;
    let view = match t.get(5) {
        None | Some(Value::None) => None,
        Some(v) => {
            let s = v
                .as_seq()
                .filter(|s| s.len() == 3)
                .ok_or_else(|| anyhow!("storage {key} has a malformed view"))?;
            let off = s[1].as_int().filter(|n| *n >= 0);
            let len = s[2].as_int().filter(|n| *n >= 0);
            match (off, len) {
                (Some(o), Some(l)) => Some((o, l)),
                _ => bail!("storage {key} has a malformed view"),
            }
        }
    };
    Ok(StorageRef { key, kind, numel, view })
}

/// Every storage the pickle refers to, by key (first sighting wins).
fn collect_storages(v: &Value, out: &mut BTreeMap<String, StorageRef>, depth: usize) -> Result<()> {
    if depth > 1000 {
        bail!("the pickle nests too deeply");
    }
    let d = depth + 1;
    match v {
        Value::PersistentId(p) => {
            let r = parse_pid(p)?;
            out.entry(r.key.clone()).or_insert(r);
        }
        Value::List(xs) | Value::Tuple(xs) => {
            for x in xs {
                collect_storages(x, out, d)?;
            }
        }
        Value::Dict(kv) => {
            for (k, x) in kv {
                collect_storages(k, out, d)?;
                collect_storages(x, out, d)?;
            }
        }
        Value::Object {
            class,
            args,
            state,
            items,
        } => {
            collect_storages(class, out, d)?;
            for x in args {
                collect_storages(x, out, d)?;
            }
            if let Some(s) = state {
                collect_storages(s, out, d)?;
            }
            for (k, x) in items {
                collect_storages(k, out, d)?;
                collect_storages(x, out, d)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A 1-D tensor over a storage's bytes; the byte count must be a whole number of elements.
fn storage_tensor(key: &str, kind: Kind, bytes: &[u8]) -> Result<Tensor> {
    let elt = kind.elt_size_in_bytes();
    if !bytes.len().is_multiple_of(elt) {
        bail!(
            "storage {key} holds {} bytes, not a whole number of {elt}-byte elements",
            bytes.len()
        );
    }
    let n = i64::try_from(bytes.len() / elt).map_err(|_| anyhow!("storage {key} is too large"))?;
    super::tensor_from_bytes(bytes, &[n], kind)
}

fn read_zip(bytes: &[u8]) -> Result<(Value, HashMap<String, Tensor>)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| anyhow!("the zip archive is damaged or truncated ({e})"))?;
    let pkl_name = zip
        .file_names()
        .filter(|n| n.ends_with("data.pkl") && !n.contains("/data/"))
        .min_by_key(|n| n.len())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("the zip archive has no data.pkl, so it is not a torch.save checkpoint (TorchScript archives are not supported)"))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let read_entry = |zip: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str| -> Result<Option<Vec<u8>>> {
        let mut f = match zip.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => bail!("zip record {name} is unreadable ({e})"),
        };
        let mut buf = Vec::with_capacity(usize::try_from(f.size()).unwrap_or(0).min(bytes.len()));
        f.read_to_end(&mut buf)
            .map_err(|e| anyhow!("zip record {name} is damaged or truncated ({e})"))?;
        Ok(Some(buf))
    };
    if let Some(order) = read_entry(&mut zip, &format!("{prefix}byteorder"))? {
        if order.trim_ascii() != b"little" {
            bail!("the file was written on a big-endian machine, which is not supported");
        }
    }
    let pkl = read_entry(&mut zip, &pkl_name)?.ok_or_else(|| anyhow!("data.pkl vanished"))?;
    let (root, _) = pickle::load(&pkl)?;
    let mut refs = BTreeMap::new();
    collect_storages(&root, &mut refs, 0)?;
    let mut storages = HashMap::new();
    for (key, r) in refs {
        let name = format!("{prefix}data/{key}");
        let data = read_entry(&mut zip, &name)?.ok_or_else(|| anyhow!("storage record {name} is missing"))?;
        let need = (r.numel as u128) * (r.kind.elt_size_in_bytes() as u128);
        if (data.len() as u128) < need {
            bail!(
                "storage {key} holds {} bytes but the file declares {need} (damaged file)",
                data.len()
            );
        }
        storages.insert(key.clone(), storage_tensor(&key, r.kind, &data)?);
    }
    Ok((root, storages))
}

fn read_legacy(bytes: &[u8], start: usize) -> Result<(Value, HashMap<String, Tensor>)> {
    let mut pos = start;
    let mut next = |what: &str| -> Result<Value> {
        let (v, used) = pickle::load(&bytes[pos..]).map_err(|e| anyhow!("reading the {what}: {e}"))?;
        pos += used;
        Ok(v)
    };
    let version = next("protocol version")?;
    if version.as_int() != Some(LEGACY_PROTOCOL_VERSION) {
        bail!("unsupported legacy protocol version {version:?} (expected {LEGACY_PROTOCOL_VERSION})");
    }
    let sys_info = next("system information")?;
    if let Some(Value::Bool(false)) = sys_info.get("little_endian") {
        bail!("the file was written on a big-endian machine, which is not supported");
    }
    let root = next("saved object")?;
    let keys = next("storage key list")?;
    let keys = keys
        .as_seq()
        .ok_or_else(|| anyhow!("the storage key list is {}", keys.kind()))?;
    let mut refs = BTreeMap::new();
    collect_storages(&root, &mut refs, 0)?;
    // Kind of each root storage; views share their root's kind.
    let kinds: HashMap<String, Kind> = refs.values().map(|r| (r.key.clone(), r.kind)).collect();
    let mut storages = HashMap::new();
    for k in keys {
        let key = match k {
            Value::Int(i) => i.to_string(),
            v => v
                .as_str()
                .ok_or_else(|| anyhow!("a storage key is {}", v.kind()))?
                .to_string(),
        };
        let kind = *kinds
            .get(&key)
            .ok_or_else(|| anyhow!("storage {key} is listed but no tensor uses it"))?;
        let head = bytes
            .get(pos..pos + 8)
            .ok_or_else(|| anyhow!("the file ends before storage {key} (truncated file)"))?;
        let count = u64::from_le_bytes(head.try_into().map_err(|_| anyhow!("bad storage header"))?);
        pos += 8;
        let len = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(kind.elt_size_in_bytes()))
            .ok_or_else(|| anyhow!("storage {key} declares an impossible size {count}"))?;
        let data = bytes
            .get(pos..)
            .and_then(|rest| rest.get(..len))
            .ok_or_else(|| anyhow!("the file ends inside storage {key} (truncated file)"))?;
        pos += len;
        storages.insert(key.clone(), storage_tensor(&key, kind, data)?);
    }
    for r in refs.values() {
        if !storages.contains_key(&r.key) {
            bail!("storage {} is used but its bytes are not in the file", r.key);
        }
    }
    Ok((root, storages))
}

/// Turns the pickled tree into named tensors and stringified metadata.
struct Builder {
    storages: HashMap<String, Tensor>,
}

const REBUILD_V2: &str = "torch._utils._rebuild_tensor_v2";
const REBUILD_V1: &str = "torch._utils._rebuild_tensor";
const REBUILD_PARAM: &str = "torch._utils._rebuild_parameter";
const REBUILD_PARAM_STATE: &str = "torch._utils._rebuild_parameter_with_state";
const REBUILD_FROM_TYPE: &str = "torch._tensor._rebuild_from_type_v2";

fn is_tensor_call(v: &Value) -> bool {
    matches!(v, Value::Object { class, .. } if class.class_name().is_some_and(|c| c.starts_with("torch._utils._rebuild") || c.starts_with("torch._tensor._rebuild")))
}

/// A whole pickled `nn.Module` (an object whose state has `_parameters`/`_modules`).
fn module_state(v: &Value) -> Option<&Value> {
    match v {
        Value::Object { state: Some(s), .. } if s.get("_parameters").is_some() && s.get("_modules").is_some() => {
            Some(s)
        }
        _ => None,
    }
}

impl Builder {
    /// Top level: pick `model` / `state_dict` when present, the rest is metadata.
    fn split(&self, root: &Value) -> Result<(BTreeMap<String, Tensor>, BTreeMap<String, String>)> {
        let mut tensors = BTreeMap::new();
        let mut meta = BTreeMap::new();
        if is_tensor_call(root) {
            bail!("it holds a single tensor, not a dict of named tensors");
        }
        if let Some(s) = module_state(root) {
            self.flatten_module(s, "", &mut tensors)?;
        } else if let Some(entries) = root.as_dict() {
            let picked = ["model", "state_dict"].into_iter().find_map(|k| {
                root.get(k)
                    .filter(|v| v.as_dict().is_some() || module_state(v).is_some())
                    .map(|v| (k, v))
            });
            match picked {
                Some((pick, sub)) => {
                    self.flatten(sub, "", &mut tensors, &mut meta, 0)?;
                    for (k, v) in entries {
                        let name = key_text(k);
                        if name != pick {
                            meta.insert(name, self.repr(v, 0, true));
                        }
                    }
                }
                None => self.flatten(root, "", &mut tensors, &mut meta, 0)?,
            }
        } else {
            bail!("it holds {} instead of a dict of tensors", root.kind());
        }
        let tensors = strip_module_prefix(tensors);
        for v in meta.values_mut() {
            if v.chars().count() > MAX_META_CHARS {
                *v = v.chars().take(MAX_META_CHARS).collect::<String>() + "...";
            }
        }
        Ok((tensors, meta))
    }

    fn flatten(
        &self,
        v: &Value,
        prefix: &str,
        tensors: &mut BTreeMap<String, Tensor>,
        meta: &mut BTreeMap<String, String>,
        depth: usize,
    ) -> Result<()> {
        if depth > 100 {
            bail!("the state dict nests more than 100 levels deep");
        }
        if is_tensor_call(v) {
            tensors.insert(prefix.to_string(), self.tensor(v, prefix)?);
        } else if let Some(s) = module_state(v) {
            self.flatten_module(s, prefix, tensors)?;
        } else if let Some(entries) = v.as_dict() {
            for (k, x) in entries {
                let name = join(prefix, &key_text(k));
                self.flatten(x, &name, tensors, meta, depth + 1)?;
            }
        } else {
            meta.insert(prefix.to_string(), self.repr(v, 0, true));
        }
        Ok(())
    }

    /// `_parameters` and `_buffers` of a pickled module, then its `_modules`, recursively.
    fn flatten_module(&self, state: &Value, prefix: &str, tensors: &mut BTreeMap<String, Tensor>) -> Result<()> {
        for field in ["_parameters", "_buffers"] {
            for (k, x) in state.get(field).and_then(Value::as_dict).unwrap_or_default() {
                if is_tensor_call(x) {
                    let name = join(prefix, &key_text(k));
                    tensors.insert(name.clone(), self.tensor(x, &name)?);
                }
            }
        }
        for (k, m) in state.get("_modules").and_then(Value::as_dict).unwrap_or_default() {
            if let Some(s) = module_state(m) {
                self.flatten_module(s, &join(prefix, &key_text(k)), tensors)?;
            }
        }
        Ok(())
    }

    /// Rebuild one tensor as a contiguous CPU tensor (a copy, unless it is its whole storage).
    fn tensor(&self, v: &Value, name: &str) -> Result<Tensor> {
        let Value::Object { class, args, .. } = v else {
            bail!("entry {name} is {} instead of a tensor", v.kind());
        };
        let class = class.class_name().unwrap_or_default();
        match class.as_str() {
            REBUILD_V2 | REBUILD_V1 => self.rebuild(args, name),
            REBUILD_PARAM | REBUILD_PARAM_STATE => {
                let data = args.first().ok_or_else(|| anyhow!("parameter {name} has no data"))?;
                self.tensor(data, name)
            }
            REBUILD_FROM_TYPE => {
                // (func, type, args, state): a tensor subclass; rebuild the plain tensor.
                let (func, inner) = match (args.first(), args.get(2)) {
                    (Some(f), Some(Value::Tuple(a))) => (f, a),
                    _ => bail!("entry {name} is a malformed tensor subclass"),
                };
                let call = Value::Object { class: Box::new(func.clone()), args: inner.clone(), state: None, items: Vec::new() };
                self.tensor(&call, name)
            }
            other => bail!("entry {name} is built by {other}, which is not supported (sparse, quantized or custom tensors); save a plain dense state dict"),
        }
    }

    fn rebuild(&self, args: &[Value], name: &str) -> Result<Tensor> {
        if args.len() < 4 {
            bail!(
                "tensor {name} has {} rebuild arguments instead of at least 4",
                args.len()
            );
        }
        let sref = match &args[0] {
            Value::PersistentId(p) => parse_pid(p)?,
            other => bail!("tensor {name} refers to {} instead of a storage", other.kind()),
        };
        let storage = self
            .storages
            .get(&sref.key)
            .ok_or_else(|| anyhow!("tensor {name} uses storage {} which is missing", sref.key))?;
        if storage.kind() != sref.kind {
            bail!(
                "storage {} is used with two dtypes ({:?} and {:?})",
                sref.key,
                storage.kind(),
                sref.kind
            );
        }
        let mut base = storage.shallow_clone();
        let mut base_len = storage.size()[0];
        if let Some((off, len)) = sref.view {
            if off.checked_add(len).is_none_or(|end| end > base_len) {
                bail!("storage view of {name} lies outside its storage {}", sref.key);
            }
            base = base.f_narrow(0, off, len)?;
            base_len = len;
        }
        let offset = args[1]
            .as_int()
            .filter(|o| *o >= 0)
            .ok_or_else(|| anyhow!("tensor {name} has an invalid storage offset"))?;
        let ints = |v: &Value, what: &str| -> Result<Vec<i64>> {
            let s = v
                .as_seq()
                .ok_or_else(|| anyhow!("tensor {name} has an invalid {what}"))?;
            s.iter()
                .map(|x| {
                    x.as_int()
                        .filter(|i| *i >= 0)
                        .ok_or_else(|| anyhow!("tensor {name} has an invalid {what}"))
                })
                .collect()
        };
        let size = ints(&args[2], "size")?;
        let stride = ints(&args[3], "stride")?;
        if size.len() != stride.len() {
            bail!("tensor {name} has {} sizes but {} strides", size.len(), stride.len());
        }
        let numel = size
            .iter()
            .try_fold(1i64, |a, &s| a.checked_mul(s))
            .ok_or_else(|| anyhow!("tensor {name} is impossibly large"))?;
        if numel == 0 {
            return Ok(Tensor::f_empty(&size, (sref.kind, Device::Cpu))?);
        }
        let last = size
            .iter()
            .zip(&stride)
            .try_fold(offset, |acc, (&n, &s)| {
                (n - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
            })
            .ok_or_else(|| anyhow!("tensor {name} is impossibly large"))?;
        if last >= base_len {
            bail!(
                "tensor {name} (shape {size:?}, offset {offset}) needs {} elements but its storage {} has {base_len} (damaged file)",
                last + 1,
                sref.key
            );
        }
        // The common case, one contiguous tensor filling its storage: reuse it without a copy.
        if offset == 0 && numel == base_len && is_contiguous(&size, &stride) {
            return Ok(base.f_reshape(&size)?);
        }
        let view = base.f_as_strided(&size, &stride, Some(offset))?;
        let mut out = Tensor::f_empty(&size, (sref.kind, Device::Cpu))?;
        out.f_copy_(&view)?;
        Ok(out)
    }

    /// Python-like text of a metadata value; 0-d tensors and numpy scalars show their value.
    fn repr(&self, v: &Value, depth: usize, top: bool) -> String {
        if depth > 20 {
            return "...".into();
        }
        let d = depth + 1;
        let seq = |xs: &[Value]| xs.iter().map(|x| self.repr(x, d, false)).collect::<Vec<_>>().join(", ");
        match v {
            Value::None => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format!("{f:?}"),
            Value::Str(s) if top => s.clone(),
            Value::Str(s) => format!("'{s}'"),
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) if top => s.to_string(),
                Ok(s) => format!("'{s}'"),
                Err(_) => format!("<{} bytes>", b.len()),
            },
            Value::List(xs) => format!("[{}]", seq(xs)),
            Value::Tuple(xs) => format!("({})", seq(xs)),
            Value::Dict(_) => self.repr_dict(v, d),
            Value::Global { module, name } => format!("{module}.{name}"),
            Value::PersistentId(_) => "<storage>".into(),
            Value::Object { .. } if is_tensor_call(v) => match self.tensor(v, "metadata") {
                Ok(t) if t.dim() == 0 => t
                    .f_double_value(&[])
                    .map(|x| format!("{x:?}"))
                    .unwrap_or_else(|_| "tensor".into()),
                Ok(t) => format!("tensor(shape={:?}, dtype={:?})", t.size(), t.kind()),
                Err(_) => "<unreadable tensor>".into(),
            },
            Value::Object { .. } => numpy_scalar(v).unwrap_or_else(|| {
                if v.as_dict().is_some_and(|d| !d.is_empty()) {
                    self.repr_dict(v, d)
                } else {
                    format!("<{}>", v.class_name().unwrap_or_else(|| "object".into()))
                }
            }),
        }
    }

    fn repr_dict(&self, v: &Value, depth: usize) -> String {
        let items = v.as_dict().unwrap_or_default();
        let parts: Vec<String> = items
            .iter()
            .map(|(k, x)| format!("{}: {}", self.repr(k, depth, false), self.repr(x, depth, false)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}

/// `numpy.core.multiarray.scalar(dtype, bytes)`: the value of a pickled numpy number.
fn numpy_scalar(v: &Value) -> Option<String> {
    let Value::Object { class, args, .. } = v else {
        return None;
    };
    let cname = class.class_name()?;
    if !cname.starts_with("numpy") || !cname.ends_with("multiarray.scalar") {
        return None;
    }
    let code = match args.first()? {
        Value::Object { args, .. } => args.first()?.as_str()?.to_string(),
        _ => return None,
    };
    let b = match args.get(1)? {
        Value::Bytes(b) => b.as_slice(),
        _ => return None,
    };
    Some(match (code.as_str(), b.len()) {
        ("f8", 8) => format!("{:?}", f64::from_le_bytes(b.try_into().ok()?)),
        ("f4", 4) => format!("{:?}", f32::from_le_bytes(b.try_into().ok()?)),
        ("i8", 8) => i64::from_le_bytes(b.try_into().ok()?).to_string(),
        ("i4", 4) => i32::from_le_bytes(b.try_into().ok()?).to_string(),
        ("b1", 1) => if b[0] != 0 { "True" } else { "False" }.to_string(),
        _ => return None,
    })
}

/// Row-major strides for `size` (dimensions of size 1 may have any stride).
fn is_contiguous(size: &[i64], stride: &[i64]) -> bool {
    let mut expected = 1;
    for (&n, &s) in size.iter().zip(stride).rev() {
        if n != 1 && s != expected {
            return false;
        }
        expected *= n;
    }
    true
}

fn key_text(k: &Value) -> String {
    match k {
        Value::Int(i) => i.to_string(),
        other => other.as_str().map(str::to_string).unwrap_or_else(|| other.kind()),
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Drop the `module.` that `nn.DataParallel` puts before every key.
fn strip_module_prefix(t: BTreeMap<String, Tensor>) -> BTreeMap<String, Tensor> {
    t.into_iter()
        .map(|(k, v)| (k.strip_prefix("module.").map(str::to_string).unwrap_or(k), v))
        .collect()
}
