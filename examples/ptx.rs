//! Write the PTX NVRTC makes of every CUDA kernel source, for inspection (needs the `cuda`
//! feature and NVRTC, not a GPU):
//!
//! ```text
//! cargo run --features cuda --example ptx -- [--arch sm_90] [--out target/ptx]
//! ```
//!
//! NVRTC does not always write the same PTX for the same source (see `rrs::cuda::ptx`).

#[cfg(feature = "cuda")]
fn main() {
    let mut args = std::env::args().skip(1);
    let (mut arch, mut out) = ("sm_90".to_string(), "target/ptx".to_string());
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--arch" => arch = value,
            "--out" => out = value,
            _ => panic!("usage: ptx [--arch sm_XY] [--out DIR]"),
        }
    }
    std::fs::create_dir_all(&out).expect("creating the output directory");
    for source in rrs::cuda::SOURCES {
        match rrs::cuda::ptx(source, &arch) {
            Ok(ptx) => {
                // Named by the target it was compiled for (sm_90a for Hopper's wgmma GEMM).
                let path = format!("{out}/{}.{}.ptx", source.name, source.target(&arch));
                std::fs::write(&path, ptx).expect("writing PTX");
                println!("{path}");
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn main() {
    eprintln!("the ptx example needs the cuda feature: cargo run --features cuda --example ptx");
    std::process::exit(2);
}
