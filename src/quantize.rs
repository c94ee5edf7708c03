//! `quantize`: smooth, then per-row symmetric INT4 quantization and packing.
//!
//! For x: [m, k] f32 or f16 (each f16 element widened exactly: the codes of its f32
//! widening) and output position q of a row (0 ≤ q < k):
//! * `v = x[row, perm[q]] · mult[q / group]` (the gather only with a permutation, the
//!   multiplier only with smoothing: Runtime Smooth passes 1 / scale, see
//!   [`crate::channel_max::ChannelStats::inv_scales`]);
//! * with `amax = max_q |v|`: `row_scale = amax / 7` and
//!   `code = clamp(round_half_even(v · (7 / amax)), −8, 7)`, the two divisions correctly
//!   rounded once per row. Rows with `amax < 2^-123` (zeros, or values too small for the
//!   divisions to stay normal) get code 0 and row scale 0.
//!
//! Every per-element step is a correctly rounded multiply, so the codes are the same on
//! every adapter: WGSL's `/` may be off by 2.5 ulp (it is on NVIDIA), so the kernel does
//! its two per-row divisions with an exact integer long division (`shaders/div_rn.wgsl`).
//!
//! **Packed layout** (activations and weights alike): `[m, k / 8]` u32, row-major; word
//! `q / 8` of a row holds position q in bits `4·(q % 8) .. 4·(q % 8) + 3` as a
//! two's-complement nibble: the lower K index sits in the lower nibble.
//! Example: codes `[1, −1, 7, −8, 0, 0, 0, 0]` pack to `0x0000_87F1`.
//!
//! Tolerance against [`reference()`]: codes and row scales are bit-exact on every adapter.

use crate::context::{block_on, grid_1d, Context, Kernel, Rec};
use crate::error::{Error, Result};
use crate::tensor::{status, DType, Tensor};

macro_rules! variant {
    ($stage:literal, $n:literal, $entry:literal) => {
        (
            $n,
            Kernel {
                name: concat!("quantize_", $stage, "_", $entry),
                sources: &[
                    include_str!(concat!("../shaders/quantize_stage_", $stage, ".wgsl")),
                    include_str!("../shaders/div_rn.wgsl"),
                    include_str!("../shaders/quantize.wgsl"),
                    include_str!(concat!("../shaders/", $entry, ".wgsl")),
                ],
                entry: "quantize",
                bounds_checks: true,
            },
        )
    };
}

/// The four row stages' kernels with the entry point `$entry`, largest stage first.
macro_rules! variants {
    ($entry:literal) => {
        [
            variant!("8192", 8192, $entry),
            variant!("4096", 4096, $entry),
            variant!("2048", 2048, $entry),
            variant!("none", 1, $entry),
        ]
    };
}

/// (rows staged in workgroup memory up to this k, kernel), largest first; 1: no staging.
const VARIANTS: [(usize, Kernel); 4] = variants!("quantize_entry");

/// [`VARIANTS`] with the row maximum through subgroups, where the context has them (one
/// barrier fewer, and no serial pass over 32 partial maxima). H200 (Vulkan, M = 4096, ms,
/// without → with): k = 4096 plain 0.0453 → 0.0432, smoothed 0.0552 → 0.0523; k = 8192
/// smoothed 0.109 → 0.100; k = 32768 smoothed 0.414 → 0.402.
const SUBGROUP_VARIANTS: [(usize, Kernel); 4] = variants!("quantize_entry_subgroup");

/// Row stages the quantize kernel comes in (k up to which a row is staged in workgroup
/// memory; 1 = never).
pub const STAGES: [usize; 4] = [8192, 4096, 2048, 1];

/// The default row stage, from measurements on the H100 (Vulkan, M = 4096) with the
/// previous kernel, which read every value twice (maximum, then codes): without a gather,
/// none (0.070 ms at k = 4096 against 0.091–0.146 ms staged; the current kernel reads each
/// value once there, from registers the second time); with a gather (Runtime Smooth's
/// reorder), none up to k = 4096 (8192 now, below), the 4096 stage (512 invocations) up to
/// 16384 and the 8192 stage (1024 invocations) above: at k = 32768 the gather then reads a
/// 36 KiB slice per pass instead of device memory, 0.996 ms against 6.60 ms unstaged. Rows
/// longer than the stage are read from device memory; the stage's size still sets how much
/// workgroup memory, and so how much L1, the kernel has.
///
/// Rows without a gather longer than 16384 take the 4096 stage's kernel too, unstaged: its
/// 512 invocations keep half of a row of 32768 in registers where 256 keep a quarter (and
/// read the rest twice). H200 (Vulkan, M = 4096, six runs of one command): k = 32768 plain
/// 0.193 ms against 0.259–0.260 ms (1024 invocations: 0.242); at k ≤ 16384 the 512
/// invocations are slower (0.109 against 0.108 ms at 16384, 0.069 against 0.062 at 8192).
/// Gathered rows of 8192 are read unstaged too: on the H200 the gather from the caches beat
/// the staged row (0.0905–0.0909 against 0.0966–0.0969 ms, the same six runs).
fn default_stage(k: usize, gather: bool) -> usize {
    match (gather, k) {
        (false, ..=16384) | (true, ..=8192) => 1,
        (false, _) | (true, ..=16384) => 4096,
        (true, _) => 8192,
    }
}

/// Whether the kernel of row stage `stage` (one of [`STAGES`]) fits an adapter's `limits`:
/// the stage, padded by one word per 8, plus the reduction buffer of one word per
/// invocation (4112 bytes) in workgroup memory, and stage / 8 invocations (at least 256).
/// A stage that does not fit is replaced by the next smaller one that does.
pub fn stage_fits(limits: &wgpu::Limits, stage: usize) -> bool {
    stage_bytes(stage) <= limits.max_compute_workgroup_storage_size as usize
        && stage / 8 <= (limits.max_compute_invocations_per_workgroup as usize).max(256)
}

/// Workgroup memory [`stage_fits`] counts for row stage `stage`.
fn stage_bytes(stage: usize) -> usize {
    stage * 9 / 8 * 4 + 4096 + 16
}

/// The kernel with row stage `stage`, or the next smaller one that fits ([`stage_fits`]).
fn kernel(ctx: &Context, stage: usize) -> Result<Kernel> {
    let variants = match ctx.subgroup_sizes() {
        Some(_) => SUBGROUP_VARIANTS,
        None => VARIANTS,
    };
    variants
        .into_iter()
        .find(|(s, _)| *s <= stage && stage_fits(ctx.limits(), *s))
        .map(|(_, k)| k)
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "the adapter allows {} bytes of workgroup memory; quantize needs {}",
                ctx.limits().max_compute_workgroup_storage_size,
                stage_bytes(1)
            ))
        })
}

/// INT4 codes packed 8 per u32 (see the module docs for the layout), with one f32 scale
/// per row: row i of the dequantized matrix is `scales[i] · codes[i, :]`. `clone` is cheap
/// and shares the buffers.
#[derive(Clone, Debug)]
pub struct Quantized {
    /// [rows, k / 8] u32.
    pub packed: Tensor,
    /// `[rows]` f32.
    pub scales: Tensor,
    /// Number of rows.
    pub rows: usize,
    /// Logical row length (in INT4 codes).
    pub k: usize,
}

impl Quantized {
    /// Fail unless the parts agree and live on `ctx`: `packed` `[rows, k / 8]` u32, `scales`
    /// `[rows]` f32, k a positive multiple of 8 (the fields are public, so a hand-built value
    /// is checked before a kernel indexes by `rows` and `k`). Allocates nothing unless it
    /// fails (the GEMM calls it for both operands every time).
    pub(crate) fn check(&self, ctx: &Context, what: &str) -> Result<()> {
        self.packed.expect_on(ctx, what)?;
        self.scales.expect_on(ctx, what)?;
        check_k(self.k)?;
        let (packed, scales) = (&self.packed, &self.scales);
        if packed.dtype() != DType::U32
            || packed.shape() != [self.rows, self.k / 8]
            || scales.dtype() != DType::F32
            || scales.shape() != [self.rows]
        {
            return Err(Error::Shape(format!(
                "quantized {what} of {} rows and k = {} need packed [{}, {}] U32 and [{}] F32 \
                 row scales, got packed {:?} {:?} and row scales {:?} {:?}",
                self.rows,
                self.k,
                self.rows,
                self.k / 8,
                self.rows,
                packed.dtype(),
                packed.shape(),
                scales.dtype(),
                scales.shape()
            )));
        }
        Ok(())
    }
}

/// What to apply before quantizing: a gather along K and per-group multipliers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Smooth<'a> {
    /// `[k]` u32: position q reads channel `perm[q]`. A permutation of 0..k (as
    /// [`crate::channel_max`] returns); entries past k give unspecified codes, never a read
    /// outside the input (the kernels clamp them).
    pub perm: Option<&'a Tensor>,
    /// ([k / group] f32, group): position q is multiplied by `multipliers[q / group]`.
    pub multipliers: Option<(&'a Tensor, usize)>,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    k: u32,
    group: u32,
    flags: u32,
}

/// Quantize `x` ([m, k] f32 or f16, k a multiple of 8) on the GPU, then check that no row
/// maximum is NaN or Inf (this check reads one word back).
/// Blocks for the check.
pub fn quantize(ctx: &Context, x: &Tensor, smooth: Smooth) -> Result<Quantized> {
    block_on(quantize_async(ctx, x, smooth))
}

/// [`quantize`], without blocking.
pub async fn quantize_async(ctx: &Context, x: &Tensor, smooth: Smooth<'_>) -> Result<Quantized> {
    status::run_checked(ctx, "quantize", |rec, st| {
        record(ctx, rec, x, smooth, st, None)
    })
    .await
}

pub(crate) fn check_k(k: usize) -> Result<()> {
    if k == 0 || !k.is_multiple_of(8) {
        return Err(Error::Unsupported(format!(
            "INT4 packing needs k to be a positive multiple of 8, got k = {k}"
        )));
    }
    Ok(())
}

/// Record [`quantize`] into `enc`; NaN/Inf set bit 1 of `status`.
pub fn encode(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    x: &Tensor,
    smooth: Smooth,
    status: &Tensor,
) -> Result<Quantized> {
    encode_with_stage(ctx, enc, x, smooth, status, None)
}

/// [`encode`] with a given row stage (one of [`STAGES`]) instead of the default; for tests
/// and benchmarks.
pub fn encode_with_stage(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    x: &Tensor,
    smooth: Smooth,
    status: &Tensor,
    stage: Option<usize>,
) -> Result<Quantized> {
    record(ctx, &mut Rec::wgpu(enc), x, smooth, status, stage)
}

/// [`encode_with_stage`] on either backend (the stage is WGSL's; CUDA ignores it).
pub(crate) fn record(
    ctx: &Context,
    rec: &mut Rec,
    x: &Tensor,
    smooth: Smooth,
    status: &Tensor,
    stage: Option<usize>,
) -> Result<Quantized> {
    quantize_rows(ctx, rec, x, smooth, status, stage, false)
}

/// [`quantize`] of the rotated rows of `x` (its normalized FWHT, as [`crate::hadamard`]
/// computes it: f16 rows are rotated into f16), without writing them where the backend
/// fuses the two (CUDA, k = 2^12 … 2^14, `cuda/rotate.cu`); elsewhere the rotation is
/// written and read back. Blocks for the check.
pub fn quantize_rotated(ctx: &Context, x: &Tensor, smooth: Smooth) -> Result<Quantized> {
    block_on(quantize_rotated_async(ctx, x, smooth))
}

/// [`quantize_rotated`], without blocking.
pub async fn quantize_rotated_async(
    ctx: &Context,
    x: &Tensor,
    smooth: Smooth<'_>,
) -> Result<Quantized> {
    status::run_checked(ctx, "quantize_rotated", |rec, st| {
        record_rotated(ctx, rec, x, smooth, st)
    })
    .await
}

/// [`quantize_rotated`] into a recording.
pub(crate) fn record_rotated(
    ctx: &Context,
    rec: &mut Rec,
    x: &Tensor,
    smooth: Smooth,
    status: &Tensor,
) -> Result<Quantized> {
    x.expect_activations(ctx, "quantize input", 2)?;
    if crate::hadamard::fuses_rotation(ctx, x.rows_cols().1) {
        return quantize_rows(ctx, rec, x, smooth, status, None, true);
    }
    let rotated = crate::hadamard::record_into(ctx, rec, x)?;
    record(ctx, rec, &rotated, smooth, status, None)
}

/// The codes of `x`, or of its rotation computed on the fly (`rotated`; only where
/// [`crate::hadamard::fuses_rotation`]).
fn quantize_rows(
    ctx: &Context,
    rec: &mut Rec,
    x: &Tensor,
    smooth: Smooth,
    status: &Tensor,
    stage: Option<usize>,
    rotated: bool,
) -> Result<Quantized> {
    x.expect_activations(ctx, "quantize input", 2)?;
    let (m, k) = x.rows_cols();
    if m == 0 {
        return Err(Error::Shape(
            "quantize needs at least one row (m = 0)".into(),
        ));
    }
    check_k(k)?;
    let mut flags = 0;
    let mut group = k;
    if let Some(p) = smooth.perm {
        p.expect(ctx, "quantize permutation", DType::U32, 1)?;
        if p.numel() != k {
            return Err(Error::Shape(format!(
                "the permutation has {} entries but k = {k}",
                p.numel()
            )));
        }
        flags |= 2;
    }
    if let Some((s, g)) = smooth.multipliers {
        s.expect(ctx, "smoothing multipliers", DType::F32, 1)?;
        crate::channel_max::check_group(k, g)?;
        if s.numel() != k / g {
            return Err(Error::Shape(format!(
                "{} smoothing multipliers given for k = {k} in groups of {g}: need {}",
                s.numel(),
                k / g
            )));
        }
        flags |= 1;
        group = g;
    }
    let packed = Tensor::output(ctx, DType::U32, &[m, k / 8])?;
    let scales = Tensor::output(ctx, DType::F32, &[m])?;
    #[cfg(feature = "cuda")]
    if let Rec::Cuda(cu) = rec {
        cu.quantize(x, smooth, group, [&packed, &scales], status, rotated)?;
        return Ok(Quantized {
            packed,
            scales,
            rows: m,
            k,
        });
    }
    debug_assert!(!rotated, "no fused rotation on wgpu");
    let x = &*crate::convert::for_ops(ctx, rec, x)?;
    let perm = smooth.perm.map_or(&ctx.gpu()?.dummy, |p| p.buffer());
    let mults = smooth
        .multipliers
        .map_or(&ctx.gpu()?.dummy, |(s, _)| s.buffer());
    let params = Params {
        rows: m as u32,
        k: k as u32,
        group: group as u32,
        flags,
    };
    let bufs = [
        (1, x.buffer()),
        (2, perm),
        (3, mults),
        (4, packed.buffer()),
        (5, scales.buffer()),
        (6, status.buffer()),
    ];
    let stage = stage.unwrap_or_else(|| default_stage(k, smooth.perm.is_some()));
    ctx.dispatch(rec, kernel(ctx, stage)?, &params, &bufs, grid_1d(m as u32))?;
    Ok(Quantized {
        packed,
        scales,
        rows: m,
        k,
    })
}

/// Rows whose max |v| is below this (2^-123) quantize to zeros.
pub const MIN_AMAX: f32 = 9.403_955e-38;

/// CPU reference of [`quantize`]: `(packed [m, k / 8], row scales [m])`.
pub fn reference(
    x: &[f32],
    k: usize,
    perm: Option<&[u32]>,
    multipliers: Option<(&[f32], usize)>,
) -> Result<(Vec<u32>, Vec<f32>)> {
    check_k(k)?;
    let m = x.len() / k;
    let mut packed = Vec::with_capacity(m * k / 8);
    let mut row_scales = Vec::with_capacity(m);
    let mut v = vec![0f32; k];
    for row in x.chunks(k) {
        for (q, out) in v.iter_mut().enumerate() {
            let c = perm.map_or(q, |p| p[q] as usize);
            *out = row[c];
            if let Some((s, g)) = multipliers {
                *out *= s[q / g];
            }
        }
        let amax = f32::from_bits(v.iter().map(|a| a.to_bits() & 0x7fff_ffff).max().unwrap());
        let ok = (MIN_AMAX..=f32::MAX).contains(&amax);
        let (scale, inv) = if ok {
            (amax / 7.0, 7.0 / amax)
        } else {
            (0.0, 0.0)
        };
        row_scales.push(scale);
        let codes: Vec<i32> = v
            .iter()
            .map(|&a| if ok { code(a, inv) } else { 0 })
            .collect();
        packed.extend(pack(&codes));
    }
    Ok((packed, row_scales))
}

/// The symmetric INT4 code of `v` for a scale of reciprocal `inv`:
/// `clamp(round_ties_even(v · inv), -8, 7)`.
pub fn code(v: f32, inv: f32) -> i32 {
    (v * inv).round_ties_even().clamp(-8.0, 7.0) as i32
}

/// Pack INT4 codes (`[rows, k]`, each in -8..=7) into `[rows, k / 8]` words, code i of a word
/// in bits 4i..4i + 4 (the inverse of [`unpack`]).
pub(crate) fn pack(codes: &[i32]) -> Vec<u32> {
    codes
        .chunks(8)
        .map(|word| {
            word.iter()
                .enumerate()
                .fold(0u32, |w, (i, &c)| w | ((c as u32) & 0xf) << (4 * i))
        })
        .collect()
}

/// Unpack `[rows, k / 8]` words into i8 codes `[rows, k]` (the inverse of the packing).
pub fn unpack(packed: &[u32]) -> Vec<i8> {
    packed
        .iter()
        .flat_map(|&w| (0..8).map(move |i| ((w << (28 - 4 * i)) as i32 >> 28) as i8))
        .collect()
}
