//! The smallest use: one RRS linear layer, weights packed once, a forward pass on f32 and
//! on f16 activations, and the error against full precision.
//!
//! `cargo run --release --example layer` (wgpu), or on NVIDIA GPUs through CUDA:
//! `cargo run --release --features cuda --example layer -- --cuda`

use rrs::workload::{rel_error, Rng};
use rrs::{Backend, Config, Context, ContextOptions, LinearReference, Method, RrsLinear};

fn main() -> rrs::Result<()> {
    let (m, k, n) = (64, 1024, 256);
    let mut rng = Rng::new(7);
    let w = rng.normals(n * k, 1.0 / (k as f32).sqrt());
    let mut x = rng.normals(m * k, 1.0);
    for row in x.chunks_mut(k) {
        row[5] = 80.0; // a channel-wise outlier, same sign in every token
    }
    x[3 * k + 700] = -2000.0; // a spike

    let backend = if std::env::args().any(|a| a == "--cuda") {
        Backend::Cuda
    } else {
        Backend::Wgpu
    };
    let ctx = Context::with_options(ContextOptions {
        backend,
        ..Default::default()
    })?;
    println!("adapter: {}", ctx.describe());
    let layer = RrsLinear::new(&ctx, &w, n, k, Config::new(Method::Rrs))?;
    let y = layer.run(&x)?;
    let exact = LinearReference::new(&w, n, k, &Config::new(Method::Fp32))?.forward(&x, false)?;
    println!(
        "RRS A4W4 output [{m}, {n}], relative error vs f32: {:.4}",
        rel_error(&y, &exact)
    );
    // The same activations in f16, as a model running in half precision holds them: read as
    // they are by the CUDA kernels (half the bytes), widened once on wgpu; y stays f32.
    let x16: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
    let y16 = layer.run(&x16)?;
    println!(
        "the same with f16 activations: relative error vs f32 {:.4}",
        rel_error(&y16, &exact)
    );
    Ok(())
}
