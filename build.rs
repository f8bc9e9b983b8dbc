//! Embed an rpath to libtorch's lib folder so the binaries run without LD_LIBRARY_PATH.
//! torch-sys (links = "tch") hands the folder to its direct dependents as DEP_TCH_LIBTORCH_LIB.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        // Known at run time so the CUDA part of libtorch can be opened when a GPU exists.
        println!("cargo:rustc-env=CATKD_LIBTORCH_LIB={lib}");
    }
}
