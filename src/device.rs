//! Which device a run uses: CUDA when libtorch can see a GPU, otherwise the CPU.

use tch::Device;

/// Load libtorch's CUDA library when it exists, so `tch::Cuda` sees GPUs even though no symbol
/// of it is referenced directly (the linker would otherwise drop it as not needed).
fn load_cuda_library() {
    if let Some(lib) = option_env!("CATKD_LIBTORCH_LIB") {
        let path = std::path::Path::new(lib).join("libtorch_cuda.so");
        if path.exists() {
            if let Ok(c) = std::ffi::CString::new(path.to_string_lossy().as_bytes()) {
                // SAFETY: dlopen with a valid NUL-terminated path; the handle is kept for the
                // lifetime of the process on purpose.
                unsafe {
                    libc_dlopen(c.as_ptr());
                }
            }
        }
    }
}

extern "C" {
    fn dlopen(filename: *const std::os::raw::c_char, flag: std::os::raw::c_int) -> *mut std::ffi::c_void;
}

unsafe fn libc_dlopen(path: *const std::os::raw::c_char) {
    const RTLD_NOW: std::os::raw::c_int = 2;
    const RTLD_GLOBAL: std::os::raw::c_int = 0x100;
    let _ = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
}

/// The training device for GPU index `index` (the config key `device`): that GPU when it exists,
/// GPU 0 with a warning when only fewer exist, the CPU when there is none.
pub fn select(index: i64) -> Device {
    load_cuda_library();
    if tch::Cuda::is_available() {
        let count = tch::Cuda::device_count();
        let idx = if index >= 0 && index < count {
            index
        } else {
            tracing::warn!("config asks for GPU {index} but {count} GPU(s) are visible; using GPU 0");
            0
        };
        tch::Cuda::cudnn_set_benchmark(true);
        tracing::info!("device: CUDA GPU {idx}");
        Device::Cuda(idx as usize)
    } else {
        tracing::info!(
            "device: CPU ({} threads); no CUDA GPU is visible",
            tch::get_num_threads()
        );
        Device::Cpu
    }
}
