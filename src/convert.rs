//! f16 ⇄ f32 conversion of whole tensors in WGSL (`shaders/f16.wgsl`), with integer
//! arithmetic only: widening is exact, narrowing rounds to nearest with ties to even, as
//! `half::f16::from_f32` does, on every adapter (no shader-f16 feature needed). The wgpu
//! FWHT of f16 rows runs through these: widen, transform in f32, narrow (one rounding).

use crate::context::{grid_1d, Context, Kernel, Rec};
use crate::error::Result;
use crate::tensor::{DType, Tensor};

const SOURCE: &str = include_str!("../shaders/f16.wgsl");
const WIDEN: Kernel = Kernel {
    name: "f16",
    sources: &[SOURCE],
    entry: "widen",
    bounds_checks: true,
};
const NARROW: Kernel = Kernel {
    name: "f16",
    sources: &[SOURCE],
    entry: "narrow",
    bounds_checks: true,
};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
}

/// One invocation per u32 word (two f16) of an n-element tensor.
fn grid(n: usize) -> Result<[u32; 3]> {
    let words = u32::try_from(n.div_ceil(2))
        .map_err(|_| crate::Error::TooLarge(format!("{n} f16 elements exceed a u32 word count")))?;
    Ok(grid_1d(words.div_ceil(256)))
}

/// Record `wide` (f32) = `halves` (f16, same shape), exactly.
pub(crate) fn widen(ctx: &Context, rec: &mut Rec, halves: &Tensor, wide: &Tensor) -> Result<()> {
    debug_assert!(halves.dtype() == DType::F16 && wide.dtype() == DType::F32);
    let params = Params {
        n: halves.numel() as u32,
        _pad: [0; 3],
    };
    let bufs = [(1, halves.buffer()), (2, wide.buffer())];
    ctx.dispatch(rec, WIDEN, &params, &bufs, grid(halves.numel())?)
}

/// Record `halves` (f16) = `wide` (f32, same shape), rounded to nearest even.
pub(crate) fn narrow(ctx: &Context, rec: &mut Rec, wide: &Tensor, halves: &Tensor) -> Result<()> {
    debug_assert!(halves.dtype() == DType::F16 && wide.dtype() == DType::F32);
    let params = Params {
        n: halves.numel() as u32,
        _pad: [0; 3],
    };
    let bufs = [(3, wide.buffer()), (4, halves.buffer())];
    ctx.dispatch(rec, NARROW, &params, &bufs, grid(halves.numel())?)
}
