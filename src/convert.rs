//! f16 ⇄ f32 conversion of whole tensors in WGSL (`shaders/f16.wgsl`), with integer
//! arithmetic only: widening is exact, narrowing rounds to nearest with ties to even, as
//! `half::f16::from_f32` does, on every adapter (no shader-f16 feature needed). The wgpu
//! FWHT of f16 rows runs through these: widen, transform in f32, narrow (one rounding); and
//! so do f16 activations on their way to the wgpu ops that read f32 only ([`for_ops`]).
//! On CUDA, [`widen`] runs `widen_h` (`cuda/widen.cu`), whose kernels read f16 themselves.

use std::borrow::Cow;

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
    #[cfg(feature = "cuda")]
    if let Rec::Cuda(cu) = rec {
        return cu.widen(halves, wide);
    }
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

/// `x` in f32: itself, or (f16) its widening recorded into `rec`.
pub(crate) fn to_f32<'a>(ctx: &Context, rec: &mut Rec, x: &'a Tensor) -> Result<Cow<'a, Tensor>> {
    if x.dtype() != DType::F16 {
        return Ok(Cow::Borrowed(x));
    }
    let wide = Tensor::output(ctx, DType::F32, x.shape())?;
    widen(ctx, rec, x, &wide)?;
    Ok(Cow::Owned(wide))
}

/// Activations (f32 or f16) as `channel_max` and `quantize` read them: f16 stays f16 on
/// CUDA, whose kernels widen each element as they load it; wgpu's kernels read f32, so there
/// it is widened first (one more pass: 2 bytes read and 4 written an element).
pub(crate) fn for_ops<'a>(ctx: &Context, rec: &mut Rec, x: &'a Tensor) -> Result<Cow<'a, Tensor>> {
    #[cfg(feature = "cuda")]
    if let Rec::Cuda(_) = rec {
        return Ok(Cow::Borrowed(x));
    }
    to_f32(ctx, rec, x)
}
