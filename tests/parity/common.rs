use rrs::workload::Rng;
use rrs::Context;

/// One context for the whole test binary (tests run on several threads at once); a
/// clone (cheap: it shares the device) for each test. `RRS_TEST_BACKEND=cuda` puts it on
/// CUDA.
#[cfg(not(target_arch = "wasm32"))]
pub async fn ctx() -> Context {
    static CTX: std::sync::OnceLock<Context> = std::sync::OnceLock::new();
    CTX.get_or_init(|| {
        let ctx = Context::with_options(options())
            .expect("a GPU adapter is required for the parity tests");
        eprintln!("parity tests on {}", ctx.describe());
        ctx
    })
    .clone()
}

/// A context of its own (its own device and buffers) on the tests' backend.
#[cfg(not(target_arch = "wasm32"))]
pub async fn another_ctx() -> Context {
    Context::with_options(options()).expect("a second context on the tests' adapter")
}

/// RRS_TEST_BACKEND=cuda runs the same tests on the CUDA backend (the `cuda` feature;
/// RRS_CUDA_GEMM=int4|int8|wgmma picks the GEMM path).
#[cfg(not(target_arch = "wasm32"))]
fn options() -> rrs::ContextOptions {
    rrs::ContextOptions {
        backend: match std::env::var("RRS_TEST_BACKEND").as_deref() {
            Ok("cuda") => rrs::Backend::Cuda,
            _ => rrs::Backend::Wgpu,
        },
        ..Default::default()
    }
}

/// One context for the page (browser tests run one at a time on its one thread).
#[cfg(target_arch = "wasm32")]
pub async fn ctx() -> Context {
    thread_local! {
        static CTX: std::cell::RefCell<Option<Context>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(ctx) = CTX.with(|c| c.borrow().clone()) {
        return ctx;
    }
    let ctx = Context::new_async()
        .await
        .expect("a WebGPU adapter is required for the parity tests");
    wasm_bindgen_test::console_log!("parity tests on {}", ctx.describe());
    CTX.with(|c| c.borrow_mut().get_or_insert(ctx).clone())
}

/// A context of its own (its own device and buffers).
#[cfg(target_arch = "wasm32")]
pub async fn another_ctx() -> Context {
    Context::new_async().await.expect("a second WebGPU context")
}

/// The test context, and where it uses subgroups a second context on the same adapter that
/// keeps off them (`ContextOptions::disable_subgroups`): the kernels that come in both forms
/// are tested in both.
pub async fn contexts() -> Vec<Context> {
    let ctx = ctx().await;
    if ctx.subgroup_sizes().is_none() {
        return vec![ctx];
    }
    let plain = Context::with_options_async(rrs::ContextOptions {
        disable_subgroups: true,
        ..Default::default()
    })
    .await
    .expect("a second context on the adapter");
    vec![ctx, plain]
}

/// Seeded Gaussian matrix with a per-channel spread, plus a few large channels.
pub fn activations(rng: &mut Rng, m: usize, k: usize) -> Vec<f32> {
    let spread: Vec<f32> = (0..k).map(|_| (rng.normal()).exp()).collect();
    let mut x: Vec<f32> = (0..m * k).map(|i| rng.normal() * spread[i % k]).collect();
    for _ in 0..(k / 64).max(1) {
        let j = rng.below(k);
        for row in x.chunks_mut(k) {
            row[j] *= 30.0;
        }
    }
    x
}

/// Random words: every nibble value -8..=7 appears.
pub fn words(rng: &mut Rng, n: usize) -> Vec<u32> {
    (0..n).map(|_| rng.next_u64() as u32).collect()
}

/// Random positive scales in [0.5, 2).
pub fn scales(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| 0.5 + 1.5 * rng.uniform()).collect()
}

/// The bit patterns of `v` (f32 through [`F32_BITS`], f16 through [`F16_BITS`]), for
/// bit-exact comparisons that tell -0.0 from 0.0.
pub fn bits<T: Copy>(v: &[T], to_bits: fn(T) -> u32) -> Vec<u32> {
    v.iter().map(|&e| to_bits(e)).collect()
}
pub const F32_BITS: fn(f32) -> u32 = f32::to_bits;
pub const F16_BITS: fn(rrs::half::f16) -> u32 = |h| u32::from(h.to_bits());

/// A random permutation of 0..k.
pub fn permutation(rng: &mut Rng, k: usize) -> Vec<u32> {
    let mut p: Vec<u32> = (0..k as u32).collect();
    for i in (1..k).rev() {
        p.swap(i, rng.below(i + 1));
    }
    p
}

/// `x` rounded to f16, and the exact f32 widening of that (what the f16 paths must match).
pub fn to_f16(x: &[f32]) -> (Vec<half::f16>, Vec<f32>) {
    let h: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
    let wide = h.iter().map(|v| v.to_f32()).collect();
    (h, wide)
}
