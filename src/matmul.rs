//! `matmul`: the FP32 reference layer, y = x · wᵀ, on the GPU.
//!
//! x: [m, k], w: [n, k], y: [m, n], all row-major f32. Tolerance against [`reference()`]:
//! both sum k products in f32 in different orders: |Δ| ≤ k · ε · Σ_k |x·w| (tests use
//! 2 · k · ε · Σ|x·w| + 1e-30).

use crate::context::{Context, Kernel, Rec};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

const MATMUL: Kernel = Kernel {
    name: "matmul",
    sources: &[include_str!("../shaders/matmul.wgsl")],
    entry: "matmul",
    bounds_checks: true,
};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

/// y = x · wᵀ in f32 on the GPU.
pub fn matmul(ctx: &Context, x: &Tensor, w: &Tensor) -> Result<Tensor> {
    ctx.run(|rec| record(ctx, rec, x, w))
}

/// Record [`matmul`] into `enc`.
pub fn encode(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    x: &Tensor,
    w: &Tensor,
) -> Result<Tensor> {
    record(ctx, &mut Rec::wgpu(enc), x, w)
}

/// [`encode`] on either backend.
pub(crate) fn record(ctx: &Context, rec: &mut Rec, x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.expect(ctx, "matmul x", DType::F32, 2)?;
    w.expect(ctx, "matmul w", DType::F32, 2)?;
    let (m, k) = x.rows_cols();
    let (n, kw) = w.rows_cols();
    if k != kw {
        return Err(Error::Shape(format!(
            "x is [{m}, {k}] but w is [{n}, {kw}]: the inner dimensions differ"
        )));
    }
    let y = Tensor::output(ctx, DType::F32, &[m, n])?;
    #[cfg(feature = "cuda")]
    if let Rec::Cuda(cu) = rec {
        cu.matmul(x, w, &y)?;
        return Ok(y);
    }
    let params = Params {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        _pad: 0,
    };
    let bufs = [(1, x.buffer()), (2, w.buffer()), (3, y.buffer())];
    let grid = [n.div_ceil(64) as u32, m.div_ceil(64) as u32, 1];
    ctx.dispatch(rec, MATMUL, &params, &bufs, grid)?;
    Ok(y)
}

/// CPU reference: y[i, j] = Σ_k x[i, k] · w[j, k], accumulated in f64 then rounded.
pub fn reference(x: &[f32], w: &[f32], k: usize) -> Vec<f32> {
    let mut y = Vec::with_capacity((x.len() / k) * (w.len() / k));
    for xr in x.chunks(k) {
        for wr in w.chunks(k) {
            y.push(
                xr.iter()
                    .zip(wr)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum::<f64>() as f32,
            );
        }
    }
    y
}
