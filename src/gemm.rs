//! `gemm`: the fused INT4 × INT4 GEMM with per-K-group smoothing scales.
//!
//! ```text
//! y[i, n] = a_scale[i] · w_scale[n] · Σ_g s_g · Σ_{k in group g} qa[i, k] · qw[n, k]
//! ```
//! `qa` ([m, k/8] u32) and `qw` ([n, k/8] u32) are packed as in [`crate::quantize`]; the
//! inner sum over a group is an exact i32 (at most 8 · 8 · group in magnitude), turned into
//! f32 and multiplied by the group's smoothing scale s_g once per group (group = the
//! 128-wide K-tile by default). Without smoothing scales (s_g = 1) this is plain A4W4,
//! the baseline that Runtime Smooth's overhead is measured against.
//!
//! Dynamic reorder: with `weight_perm`, position q of the (reordered) activations meets
//! weight input channel `weight_perm[q]`; the weights stay packed in their original order
//! and the kernel gathers their nibbles through the permutation.
//!
//! Tolerance against [`reference`]: with unit scales the output is the exact integer
//! (|Σ| ≤ 64·k < 2^24 is exact in f32), so it is compared bit-exactly; with scales, both
//! sides add the same f32 terms s_g·P_g in the same order and multiply by the same two
//! scales, so they agree to a few ulps: |Δ| ≤ 4ε · |a·w| · Σ_g |s_g·P_g| (allowing for FMA
//! contraction on the GPU).

use crate::channel_max::check_group;
use crate::context::{Context, DotKernel, Kernel};
use crate::error::{Error, Result};
use crate::quantize::Quantized;
use crate::tensor::{DType, Tensor};

const SHADER: &str = include_str!("../shaders/gemm.wgsl");
const GEMM_DP4A: Kernel = Kernel {
    name: "gemm_dp4a",
    sources: &[include_str!("../shaders/dot_dp4a.wgsl"), SHADER],
    entry: "gemm",
};
const GEMM_PORTABLE: Kernel = Kernel {
    name: "gemm_portable",
    sources: &[include_str!("../shaders/dot_portable.wgsl"), SHADER],
    entry: "gemm",
};

/// Options of the GEMM.
#[derive(Clone, Copy, Debug)]
pub struct GemmOptions<'a> {
    /// K-group size of the smoothing scales: a multiple of 8 that divides k.
    pub group: usize,
    /// [k / group] f32 smoothing scales; `None` for plain A4W4 (all s_g = 1).
    pub group_scales: Option<&'a Tensor>,
    /// [k] u32: dynamic reorder, read weight channel `weight_perm[q]` at position q.
    pub weight_perm: Option<&'a Tensor>,
    /// Dot-product code to use.
    pub dot: DotKernel,
}

impl GemmOptions<'_> {
    /// Plain A4W4 with group 128 and the context's default dot kernel.
    pub fn plain(ctx: &Context) -> Self {
        GemmOptions {
            group: 128,
            group_scales: None,
            weight_perm: None,
            dot: ctx.dot_kernel(),
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    group: u32,
    flags: u32,
    _pad: [u32; 3],
}

/// y = dequant(a) · dequant(w)ᵀ with smoothing scales, on the GPU: [m, n] f32.
pub fn gemm(ctx: &Context, a: &Quantized, w: &Quantized, opts: GemmOptions) -> Result<Tensor> {
    let y = ctx.record(|enc| encode(ctx, enc, a, w, opts))?;
    Ok(y)
}

/// Record [`gemm`] into `enc`.
pub fn encode(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    a: &Quantized,
    w: &Quantized,
    opts: GemmOptions,
) -> Result<Tensor> {
    let (m, n, k) = (a.rows, w.rows, a.k);
    if w.k != k {
        return Err(Error::Shape(format!(
            "activations have k = {k} but weights have k = {}",
            w.k
        )));
    }
    check_group(k, opts.group)?;
    if !opts.group.is_multiple_of(8) {
        return Err(Error::Unsupported(format!(
            "the GEMM's group size must be a multiple of 8, got {}",
            opts.group
        )));
    }
    let mut flags = 0;
    if let Some(s) = opts.group_scales {
        s.expect("group scales", DType::F32, 1)?;
        if s.numel() != k / opts.group {
            return Err(Error::Shape(format!(
                "{} group scales for k = {k} in groups of {}: need {}",
                s.numel(),
                opts.group,
                k / opts.group
            )));
        }
        flags |= 1;
    }
    if let Some(p) = opts.weight_perm {
        p.expect("weight permutation", DType::U32, 1)?;
        if p.numel() != k {
            return Err(Error::Shape(format!(
                "the weight permutation has {} entries but k = {k}",
                p.numel()
            )));
        }
        flags |= 2;
    }
    let y = Tensor::zeros(ctx, DType::F32, &[m, n])?;
    let params = Params {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        group: opts.group as u32,
        flags,
        _pad: [0; 3],
    };
    let gscale = opts.group_scales.map_or(&ctx.dummy, |s| &s.buffer);
    let perm = opts.weight_perm.map_or(&ctx.dummy, |p| &p.buffer);
    let bufs = [
        (1, &a.packed.buffer),
        (2, &w.packed.buffer),
        (3, &a.scales.buffer),
        (4, &w.scales.buffer),
        (5, gscale),
        (6, perm),
        (7, &y.buffer),
    ];
    let kernel = match opts.dot {
        DotKernel::Dot4I8Packed => GEMM_DP4A,
        DotKernel::Portable => GEMM_PORTABLE,
    };
    let grid = [n.div_ceil(64) as u32, m.div_ceil(64) as u32, 1];
    ctx.dispatch(enc, kernel, &params, &bufs, grid)?;
    Ok(y)
}

/// CPU reference: the exact i32 partial sums, `[m, n, k / group]` row-major:
/// `P[i, n, g] = Σ_{k in g} qa[i, k] · qw[n, k']` with k' = `weight_perm[k]` if given.
pub fn partial_sums(
    qa: &[u32],
    qw: &[u32],
    k: usize,
    group: usize,
    weight_perm: Option<&[u32]>,
) -> Vec<i32> {
    let a = crate::quantize::unpack(qa);
    let mut w = crate::quantize::unpack(qw);
    if let Some(p) = weight_perm {
        for row in w.chunks_mut(k) {
            let orig = row.to_vec();
            for (q, v) in row.iter_mut().enumerate() {
                *v = orig[p[q] as usize];
            }
        }
    }
    let mut out = Vec::with_capacity((a.len() / k) * (w.len() / k) * (k / group));
    for ar in a.chunks(k) {
        for wr in w.chunks(k) {
            for (ag, wg) in ar.chunks(group).zip(wr.chunks(group)) {
                out.push(ag.iter().zip(wg).map(|(x, y)| *x as i32 * *y as i32).sum());
            }
        }
    }
    out
}

/// CPU reference of [`gemm`]: `[m, n]` f32, summing `s_g · P_g` over groups in order.
#[allow(clippy::too_many_arguments)]
pub fn reference(
    qa: &[u32],
    a_scale: &[f32],
    qw: &[u32],
    w_scale: &[f32],
    k: usize,
    group: usize,
    group_scales: Option<&[f32]>,
    weight_perm: Option<&[u32]>,
) -> Vec<f32> {
    let n = w_scale.len();
    let groups = k / group;
    let p = partial_sums(qa, qw, k, group, weight_perm);
    p.chunks(groups)
        .enumerate()
        .map(|(idx, pg)| {
            let acc = pg.iter().enumerate().fold(0f32, |acc, (g, &v)| {
                acc + group_scales.map_or(1.0, |s| s[g]) * v as f32
            });
            a_scale[idx / n] * w_scale[idx % n] * acc
        })
        .collect()
}
