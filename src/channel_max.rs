//! `channel_max`: the Runtime Smooth statistics of an activation matrix, on the GPU.
//!
//! For x: [m, k] f32 or f16 (row-major; f16 with k even, each element widened exactly, so
//! the statistics are those of its f32 widening):
//! * `absmax[j] = max_i |x[i, j]|` (bit-exact: a max is order independent), or with
//!   [`Statistic::RowNormalized`] `max_i |x[i, j]| / 2^(e_i − 127)`, e_i the exponent of row
//!   i's maximum (bit-exact: integer exponent arithmetic);
//! * `perm`: the channel order by `absmax` descending, ties by lower index first
//!   (`perm[r]` = channel of rank r; bit-exact, a deterministic stable sort);
//! * `scales[g] = round_scale(clamp(max_{r in group g} absmax[perm[r]], 2^-17, 2^126))` for
//!   groups of `group` consecutive reordered channels (bit-exact). The clamp keeps a channel
//!   of zeros from producing a zero scale (and 1 / scale a normal f32); the rounding up to
//!   a few significant bits ([`round_scale`]) makes the GEMM's `s_g · (integer group sum)`
//!   exact in f32, so that its epilogue gives the same bits fused (FMA) or not;
//! * `inv_scales[g] = 1 / scales[g]`, correctly rounded on every adapter (bit-exact): the
//!   multipliers `quantize` smooths with.
//!
//! Nothing is read back: the permutation and the scales stay on the GPU for `quantize` and
//! `gemm`. The rank sort compares every pair of channels (k² compares, in workgroup-memory
//! tiles, split over k / 512 slices so that many workgroups share the work), which is cheap
//! next to the GEMM for k ≤ 32768.

use crate::context::{block_on, grid_1d, Context, Kernel, Rec};
use crate::error::{Error, Result};
use crate::tensor::{status, DType, Tensor};

const SHADER: &[&str] = &[
    include_str!("../shaders/div_rn.wgsl"),
    include_str!("../shaders/channel_max.wgsl"),
];
/// An entry point of `SHADER`, with bounds checks.
const fn kernel(entry: &'static str) -> Kernel {
    Kernel {
        name: "channel_max",
        sources: SHADER,
        entry,
        bounds_checks: true,
    }
}
const ABSMAX: Kernel = kernel("absmax");
const ABSMAX_NORMALIZED: Kernel = kernel("absmax_normalized");
const ROW_EXPONENT: Kernel = kernel("row_exponent");
/// Unclamped: `rank` indexes device memory only below k (explicit checks) and its tile of
/// keys with counters bounded by the tile's constant size. The clamping of each key read in
/// the comparison loop cost `channel_max` with the sort 5–10% on the H200 (Vulkan, M = 4096,
/// ms, clamped → not: k = 4096 0.0444–0.0446 → 0.0422, k = 32768 0.3125–0.3134 →
/// 0.2825–0.2829).
const RANK: Kernel = Kernel {
    bounds_checks: false,
    ..kernel("rank")
};
const SCATTER: Kernel = kernel("scatter");
const GROUP_SCALES: Kernel = kernel("group_scales");

/// The smallest smoothing scale, 2^-17 (a channel of zeros gets this one; a power of two,
/// which [`round_scale`] leaves as it is).
pub const MIN_SCALE: f32 = 7.629_394_5e-6;
/// The largest smoothing scale, 2^126 (so that its reciprocal is a normal f32).
pub const MAX_SCALE: f32 = 8.507_059e37;
/// Rows each `absmax` workgroup reduces before its atomic max.
const ROWS_PER_WG: usize = 64;
/// Keys each `rank` workgroup compares against (a multiple of 256).
const SLICE: usize = 512;

/// Which channel order the groups are formed in.
#[derive(Clone, Copy, Debug)]
pub enum Order<'a> {
    /// Channels in their original order (no reorder).
    Identity,
    /// Sort channels by their maximum, on the GPU (dynamic reorder).
    Sorted,
    /// A fixed permutation (`[k]` u32), e.g. calibrated offline (static reorder). Entries
    /// past k give unspecified scales, never a read outside the maxima.
    Fixed(&'a Tensor),
}

/// Which per-channel statistic the smoothing scales are taken from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Statistic {
    /// max_i |x[i, j]| over the tokens: the paper's Runtime Smooth.
    #[default]
    Max,
    /// max_i |x[i, j]| / 2^(e_i − 127), e_i the biased f32 exponent of max_j |x[i, j]|: each
    /// token scaled exactly by a power of two so that its own maximum lies in [1, 2) before
    /// the channel maxima are taken, so that a massive-activation token (hundreds of times
    /// the others' size, as LLMs' first tokens are) does not set every channel's scale. Not
    /// in the paper: an rrs extension (README, accuracy). Elements more than 2^126 below
    /// their row's maximum, subnormals, and rows of zeros or subnormals count as 0; a row
    /// holding NaN or Inf passes unscaled, so that it is reported as with [`Statistic::Max`].
    RowNormalized,
}

/// Runtime Smooth statistics on the GPU.
#[derive(Debug)]
pub struct ChannelStats {
    /// `[k]` f32: max |x| per channel.
    pub absmax: Tensor,
    /// `[k]` u32: `perm[r]` is the channel placed at position r (with [`Order::Fixed`], the
    /// given tensor itself: a handle that shares its memory, not a copy; with
    /// [`Order::Identity`], the context's identity of length k, uploaded once).
    pub perm: Tensor,
    /// [k / group] f32: one smoothing scale per group of reordered channels.
    pub scales: Tensor,
    /// [k / group] f32: 1 / scales, correctly rounded (0 where a scale is not finite).
    pub inv_scales: Tensor,
    /// Group size.
    pub group: usize,
}

/// Check that `group` divides `k`.
pub(crate) fn check_group(k: usize, group: usize) -> Result<()> {
    if group == 0 || !k.is_multiple_of(group) {
        return Err(Error::Unsupported(format!(
            "the group size {group} must divide k = {k} (pad k to a multiple of {group})"
        )));
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    k: u32,
    group: u32,
    rows_per_wg: u32,
}

/// Compute [`ChannelStats`] of `x` ([m, k] f32 or f16) on the GPU, then check that no channel
/// maximum is NaN or Inf (this check reads one word back).
/// Blocks for the check.
pub fn channel_max(ctx: &Context, x: &Tensor, group: usize, order: Order) -> Result<ChannelStats> {
    block_on(channel_max_async(ctx, x, group, order))
}

/// [`channel_max`], without blocking.
pub async fn channel_max_async(
    ctx: &Context,
    x: &Tensor,
    group: usize,
    order: Order<'_>,
) -> Result<ChannelStats> {
    channel_max_with_async(ctx, x, group, order, Statistic::Max).await
}

/// [`channel_max`] of the chosen [`Statistic`] (`absmax` then holds that statistic).
pub fn channel_max_with(
    ctx: &Context,
    x: &Tensor,
    group: usize,
    order: Order,
    statistic: Statistic,
) -> Result<ChannelStats> {
    block_on(channel_max_with_async(ctx, x, group, order, statistic))
}

/// [`channel_max_with`], without blocking.
pub async fn channel_max_with_async(
    ctx: &Context,
    x: &Tensor,
    group: usize,
    order: Order<'_>,
    statistic: Statistic,
) -> Result<ChannelStats> {
    status::run_checked(ctx, "channel_max", |rec, st| {
        record(ctx, rec, x, group, order, statistic, st)
    })
    .await
}

/// Record [`channel_max`] into `enc`; NaN/Inf set bit 0 of `status`.
pub fn encode(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    x: &Tensor,
    group: usize,
    order: Order,
    status: &Tensor,
) -> Result<ChannelStats> {
    record(
        ctx,
        &mut Rec::wgpu(enc),
        x,
        group,
        order,
        Statistic::Max,
        status,
    )
}

/// [`encode`] on either backend.
pub(crate) fn record(
    ctx: &Context,
    rec: &mut Rec,
    x: &Tensor,
    group: usize,
    order: Order,
    statistic: Statistic,
    status: &Tensor,
) -> Result<ChannelStats> {
    x.expect_activations(ctx, "channel_max input", 2)?;
    let (m, k) = x.rows_cols();
    if m == 0 {
        return Err(Error::Shape(
            "channel_max needs at least one row (m = 0)".into(),
        ));
    }
    check_group(k, group)?;
    if x.dtype() == DType::F16 && !k.is_multiple_of(2) {
        return Err(Error::Unsupported(format!(
            "channel_max of f16 rows needs an even k (two channels a 4-byte word), got k = {k}"
        )));
    }
    let absmax = Tensor::zeros(ctx, DType::F32, &[k])?;
    let scales = Tensor::output(ctx, DType::F32, &[k / group])?;
    let inv_scales = Tensor::output(ctx, DType::F32, &[k / group])?;
    let perm = match order {
        Order::Fixed(p) => {
            p.expect_on(ctx, "the fixed permutation")?;
            if p.shape() != [k] || p.dtype() != DType::U32 {
                return Err(Error::Shape(format!(
                    "a fixed permutation for k = {k} must be [{k}] u32, got {:?} {:?}",
                    p.dtype(),
                    p.shape()
                )));
            }
            p.clone()
        }
        Order::Identity => ctx.identity_perm(k)?,
        Order::Sorted => Tensor::output(ctx, DType::U32, &[k])?,
    };
    let x = &*crate::convert::for_ops(ctx, rec, x)?;
    // The row-normalized statistic: the exponent of each row's maximum first.
    let row_exp = match statistic {
        Statistic::Max => None,
        Statistic::RowNormalized => Some(Tensor::output(ctx, DType::U32, &[m])?),
    };
    #[cfg(feature = "cuda")]
    if let Rec::Cuda(cu) = rec {
        let sorted = matches!(order, Order::Sorted);
        let stats = [&absmax, &perm, &scales, &inv_scales];
        cu.channel_max(x, stats, status, group, sorted, row_exp.as_ref())?;
        return Ok(ChannelStats {
            absmax,
            perm,
            scales,
            inv_scales,
            group,
        });
    }
    let params = Params {
        rows: m as u32,
        k: k as u32,
        group: group as u32,
        rows_per_wg: ROWS_PER_WG as u32,
    };
    let kgroups = k.div_ceil(256) as u32;
    let row_groups = m.div_ceil(ROWS_PER_WG) as u32;
    let absmax_grid = [kgroups, row_groups, 1];
    match &row_exp {
        None => {
            let bufs = [
                (1, x.buffer()),
                (2, absmax.buffer()),
                (8, &ctx.gpu()?.dummy),
            ];
            ctx.dispatch(rec, ABSMAX, &params, &bufs, absmax_grid)?;
        }
        Some(row_exp) => {
            let (xb, rb) = ((1, x.buffer()), (8, row_exp.buffer()));
            ctx.dispatch(rec, ROW_EXPONENT, &params, &[xb, rb], grid_1d(m as u32))?;
            let bufs = [xb, (2, absmax.buffer()), rb];
            ctx.dispatch(rec, ABSMAX_NORMALIZED, &params, &bufs, absmax_grid)?;
        }
    }
    if let Order::Sorted = order {
        // Split the k² comparisons into slices of SLICE keys, one workgroup row each.
        let ranks = Tensor::zeros(ctx, DType::U32, &[k])?;
        let slice = Params {
            rows_per_wg: SLICE as u32,
            ..params
        };
        let grid = [kgroups, k.div_ceil(SLICE) as u32, 1];
        let bufs = [(2, absmax.buffer()), (7, ranks.buffer())];
        ctx.dispatch(rec, RANK, &slice, &bufs, grid)?;
        let bufs = [(3, perm.buffer()), (7, ranks.buffer())];
        ctx.dispatch(rec, SCATTER, &params, &bufs, [kgroups, 1, 1])?;
    }
    let bufs = [
        (2, absmax.buffer()),
        (3, perm.buffer()),
        (4, scales.buffer()),
        (5, status.buffer()),
        (6, inv_scales.buffer()),
    ];
    ctx.dispatch(
        rec,
        GROUP_SCALES,
        &params,
        &bufs,
        grid_1d((k / group) as u32),
    )?;
    Ok(ChannelStats {
        absmax,
        perm,
        scales,
        inv_scales,
        group,
    })
}

/// CPU reference of [`channel_max`]: `(absmax, perm, scales)`. `perm` is `fixed` when
/// given, the identity when `sort` is false, else the sort by `absmax` descending.
pub fn reference(
    x: &[f32],
    k: usize,
    group: usize,
    sort: bool,
    fixed: Option<&[u32]>,
) -> Result<(Vec<f32>, Vec<u32>, Vec<f32>)> {
    reference_with(x, k, group, sort, fixed, Statistic::Max)
}

/// [`reference()`] of the chosen [`Statistic`] (the first output holds that statistic).
pub fn reference_with(
    x: &[f32],
    k: usize,
    group: usize,
    sort: bool,
    fixed: Option<&[u32]>,
    statistic: Statistic,
) -> Result<(Vec<f32>, Vec<u32>, Vec<f32>)> {
    check_group(k, group)?;
    let absmax = statistic_reference(x, k, statistic);
    let perm = match fixed {
        Some(p) => p.to_vec(),
        None if sort => sort_order(&absmax),
        None => (0..k as u32).collect(),
    };
    let scales = group_scales_reference(&absmax, &perm, group);
    Ok((absmax, perm, scales))
}

/// max_i |x[i, j]| per channel, as the GPU computes it (NaN propagates).
pub fn absmax_reference(x: &[f32], k: usize) -> Vec<f32> {
    let mut bits = vec![0u32; k];
    for row in x.chunks(k) {
        for (b, v) in bits.iter_mut().zip(row) {
            *b = (*b).max(v.to_bits() & 0x7fff_ffff);
        }
    }
    bits.into_iter().map(f32::from_bits).collect()
}

/// The per-channel `statistic` of x ([rows, k]), as the GPU computes it: [`absmax_reference`]
/// of x, or of [`row_normalized_reference`] of it.
pub fn statistic_reference(x: &[f32], k: usize, statistic: Statistic) -> Vec<f32> {
    match statistic {
        Statistic::Max => absmax_reference(x, k),
        Statistic::RowNormalized => absmax_reference(&row_normalized_reference(x, k), k),
    }
}

/// |x| with each row divided by 2^(e − 127), e the biased exponent of the row's max |x|,
/// as [`Statistic::RowNormalized`] defines it (the bits the GPU's `normalized` computes).
pub fn row_normalized_reference(x: &[f32], k: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(k) {
        let e = row
            .iter()
            .map(|v| v.to_bits() & 0x7fff_ffff)
            .max()
            .unwrap_or(0)
            >> 23;
        out.extend(row.iter().map(|v| {
            let b = v.to_bits() & 0x7fff_ffff;
            let be = (b >> 23) as i32;
            let ne = be - e as i32 + 127;
            f32::from_bits(match e {
                0 => 0,
                255 => b,
                _ if be == 0 || ne <= 0 => 0,
                _ => (b & 0x7f_ffff) | (ne as u32) << 23,
            })
        }));
    }
    out
}

/// The channel order by `absmax` descending, ties by lower channel index first: the
/// same permutation the GPU's rank sort produces. Use it to calibrate a static order.
pub fn sort_order(absmax: &[f32]) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..absmax.len() as u32).collect();
    perm.sort_by_key(|&j| std::cmp::Reverse(absmax[j as usize].to_bits() & 0x7fff_ffff));
    perm
}

/// One scale per group of `group` reordered channels: the group's max, clamped to
/// [[`MIN_SCALE`], [`MAX_SCALE`]] and rounded up by [`round_scale`] (NaN/Inf pass through).
pub fn group_scales_reference(absmax: &[f32], perm: &[u32], group: usize) -> Vec<f32> {
    perm.chunks(group)
        .map(|g| {
            let m = g.iter().map(|&j| absmax[j as usize].to_bits()).max();
            let s = f32::from_bits(m.unwrap_or(0));
            if s.is_finite() {
                round_scale(s.clamp(MIN_SCALE, MAX_SCALE), group)
            } else {
                s
            }
        })
        .collect()
}

/// The number of low mantissa bits [`round_scale`] clears for groups of `group` channels:
/// the significant bits of the largest integer partial sum of a group, |Σ q_a·q_w| ≤
/// 64 · group (INT4 codes are -8..=7), i.e. bit length of 64 · group − 1 (capped at 23).
pub fn scale_drop_bits(group: usize) -> u32 {
    (u32::BITS - (64 * group as u32).saturating_sub(1).leading_zeros()).min(23)
}

/// A finite, normal, positive group scale `s` rounded up to 24 − [`scale_drop_bits`]
/// significant bits (11 for groups of 128; the scale grows by less than 2^-10 of itself).
/// Any positive scale smooths correctly, since the GEMM multiplies back exactly the scale
/// `quantize` divided by; this one makes `s · P` exact in f32 for every integer partial sum
/// P of a group, so the GEMM's `acc + s · P` rounds once whether or not a backend fuses it,
/// and the GPU's tiled kernels equal the CPU reference bit for bit. Scales ≤ 2^126 stay
/// finite.
pub fn round_scale(s: f32, group: usize) -> f32 {
    let mask = (1u32 << scale_drop_bits(group)) - 1;
    f32::from_bits((s.to_bits() + mask) & !mask)
}

/// The smoothing multipliers for `scales`: 1 / scale (IEEE division, correctly rounded),
/// 0 where a scale is not finite; what the GPU's `inv_scales` hold.
pub fn inverse(scales: &[f32]) -> Vec<f32> {
    scales
        .iter()
        .map(|s| if s.is_finite() { 1.0 / s } else { 0.0 })
        .collect()
}
