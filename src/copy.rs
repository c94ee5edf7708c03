//! `copy`: a plain device-memory copy in WGSL (16 bytes per invocation), the in-run
//! bandwidth reference for the memory-bound kernels in the benches.

use crate::context::{grid_1d, Context, Kernel, Rec};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

const COPY: Kernel = Kernel {
    name: "copy",
    sources: &[include_str!("../shaders/copy.wgsl")],
    entry: "copy",
    bounds_checks: true,
};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
}

/// Record `dst = src` into `enc`. Both must have the same size in bytes, a multiple of 16.
pub fn encode(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    src: &Tensor,
    dst: &Tensor,
) -> Result<()> {
    src.expect_on(ctx, "the copy source")?;
    dst.expect_on(ctx, "the copy destination")?;
    if src.bytes() != dst.bytes() || !src.bytes().is_multiple_of(16) {
        return Err(Error::Shape(format!(
            "copy needs equal sizes that are a multiple of 16 bytes, got {:?} {:?} and {:?} {:?}",
            src.dtype(),
            src.shape(),
            dst.dtype(),
            dst.shape()
        )));
    }
    let n = (src.bytes() / 16) as u32;
    let params = Params { n, _pad: [0; 3] };
    let bufs = [(1, src.buffer()), (2, dst.buffer())];
    ctx.dispatch(
        &mut Rec::wgpu(enc),
        COPY,
        &params,
        &bufs,
        grid_1d(n.div_ceil(256)),
    )
}
