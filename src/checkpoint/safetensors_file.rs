//! Our own checkpoint files: safetensors (a JSON header with string metadata, then raw
//! little-endian tensor bytes). PyTorch reads them with `safetensors.torch.load_file`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{anyhow, Result};
use safetensors::tensor::{Dtype, SafeTensors, View};
use tch::{Device, Kind, Tensor};

use super::atomic::atomic_write;

/// True when `bytes` start like a safetensors file: a u64 header length that fits, then `{`.
pub fn is_safetensors(bytes: &[u8]) -> bool {
    if bytes.len() < 10 {
        return false;
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap_or([0xff; 8]));
    n >= 2 && n <= (bytes.len() - 8) as u64 && bytes[8] == b'{'
}

fn dtype_of(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Int16 => Dtype::I16,
        Kind::Int8 => Dtype::I8,
        Kind::Uint8 => Dtype::U8,
        Kind::Bool => Dtype::BOOL,
        _ => return None,
    })
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::I16 => Kind::Int16,
        Dtype::I8 => Kind::Int8,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

/// One tensor's bytes, copied to the CPU.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn raw(name: &str, t: &Tensor) -> Result<Raw> {
    let dtype = dtype_of(t.kind()).ok_or_else(|| {
        anyhow!(
            "tensor {name} has dtype {:?}, which our checkpoints cannot store",
            t.kind()
        )
    })?;
    let t = t.f_to_device(Device::Cpu)?.f_contiguous()?;
    let numel = t.numel();
    let mut data = vec![0u8; numel * t.kind().elt_size_in_bytes()];
    if numel > 0 {
        t.f_copy_data_u8(&mut data, numel)?;
    }
    let shape = t.size().iter().map(|&d| d as usize).collect();
    Ok(Raw { dtype, shape, data })
}

/// Serialise named tensors and string metadata, then write them atomically.
pub fn write(path: &Path, tensors: &BTreeMap<String, Tensor>, metadata: &BTreeMap<String, String>) -> Result<()> {
    let raws: Vec<(String, Raw)> = tensors
        .iter()
        .map(|(k, t)| Ok((k.clone(), raw(k, t)?)))
        .collect::<Result<_>>()?;
    let meta: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let bytes = safetensors::tensor::serialize(raws.iter().map(|(k, r)| (k.as_str(), r)), &Some(meta))
        .map_err(|e| anyhow!("cannot encode checkpoint {}: {e:?}", path.display()))?;
    atomic_write(path, &bytes)
}

/// Parse a safetensors file held in memory into CPU tensors and its metadata. Errors are one
/// phrase without the file name (the caller adds it).
pub fn read(bytes: &[u8]) -> Result<(BTreeMap<String, Tensor>, BTreeMap<String, String>)> {
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| anyhow!("the safetensors data is damaged or truncated ({e:?})"))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let kind =
            kind_of(view.dtype()).ok_or_else(|| anyhow!("tensor {name} has unsupported dtype {:?}", view.dtype()))?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = super::tensor_from_bytes(view.data(), &shape, kind).map_err(|e| anyhow!("tensor {name}: {e}"))?;
        tensors.insert(name, t);
    }
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| anyhow!("the safetensors header is damaged ({e:?})"))?;
    let metadata = header.metadata().clone().unwrap_or_default().into_iter().collect();
    Ok((tensors, metadata))
}
