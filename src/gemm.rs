//! `gemm`: the fused INT4 × INT4 GEMM with per-K-group smoothing scales.
//!
//! ```text
//! y[i, n] = a_scale[i] · w_scale[n] · Σ_g s_g · Σ_{k in group g} qa[i, k] · qw[n, k]
//! ```
//! `qa` ([m, k/8] u32) and `qw` ([n, k/8] u32) are packed as in [`crate::quantize`]; the
//! inner sum over a group is an exact i32 (at most 8 · 8 · group in magnitude), turned into
//! f32 and multiplied by the group's smoothing scale s_g once per group (group 128 by
//! default; any multiple of 16). Without smoothing scales (s_g = 1) this is plain A4W4,
//! the baseline that Runtime Smooth's overhead is measured against.
//!
//! Dynamic reorder: with `weight_perm`, position q of the (reordered) activations meets
//! weight input channel `weight_perm[q]`; the weights stay packed in their original order
//! and the kernel gathers their nibbles through the permutation.
//!
//! Decode (m ≤ 16) takes a separate memory-bound kernel (`shaders/gemv.wgsl`) that reads
//! each packed weight byte once; from m = [`STAGED_MIN_M`] one that also expands each
//! activation row once a workgroup, in workgroup memory, for 4 columns an invocation
//! (`shaders/gemv_staged.wgsl`, in variants of 4, 8 and 16 rows); with `weight_perm` and
//! m ≤ [`GATHER_MAX_M`] another one
//! (`shaders/gemv_gather.wgsl`, k ≤ 8192 where the adapter has the workgroup memory) reads
//! them once through the permutation, so that a decode step with dynamic reorder does not
//! permute the whole weight matrix first ([`decode_gathers`]).
//!
//! Tensor cores: where the context has cooperative matrices ([`Context::cooperative_matrix`],
//! the default where a Vulkan adapter offers wgpu's experimental 16 × 16 × 16 f16 → f32
//! ones, as NVIDIA's driver does), GEMMs without a gather run there instead of on `dot4I8Packed`
//! ([`prefill_on_tensor_cores`]: m > 16, `shaders/gemm_coop.wgsl`;
//! [`decode_on_tensor_cores`]: 12 ≤ m ≤ 16, `shaders/gemv_coop.wgsl`). INT4 codes become
//! f16 exactly and the tensor cores add their products in f32, exactly while the sums stay
//! below 2^24, so integer sums stay bit-exact. With group scales the tiled kernel keeps one
//! set of accumulators in Horner form (the running sum in units of the current group's
//! scale, rescaled at each group), with its own bound below. H200, 8192³: 4.5 ms (243 TOPS)
//! against 16.4 ms (67 TOPS) on dp4a; with group scales 5.1 ms.
//!
//! Tolerance against [`reference()`]: with unit scales the output is the exact integer
//! (|Σ| ≤ 64·k < 2^24 is exact in f32), so it is compared bit-exactly; with scales the
//! tiled dp4a kernel adds the same f32 terms s_g·P_g in the same order (|Δ| ≤ 4ε·|a·w|·Σ_g
//! |s_g·P_g|, allowing for FMA contraction), while the decode kernels add s_g·P_piece over
//! 32-nibble pieces in a lane-strided order and a tree: |Δ| ≤ (k/16 + 8)·ε·|a·w|·
//! Σ_pieces |s_g·P_piece|, the bound of any summation order over that many terms. The
//! tiled tensor-core kernel adds products to a non-integer running sum (the tensor cores
//! may round toward zero once every 8 codes) and rescales it once per group (a division,
//! 2.5 ulp in WGSL, and a product): |Δ| ≤ (k/8 + 3·k/group + 8)·ε·|a·w|·Σ_pieces
//! |s_g·P_piece| over 8-code pieces. Its running sum is Σ_h s_h·P_h / s_g ≤ 64·k ·
//! max(s) / s_g, finite wherever the group scales stay below 10^25 for k up to 2^20 (the
//! scales are at least [`crate::channel_max::MIN_SCALE`]); it runs the groups last to
//! first, so that the dynamic reorder's descending scales keep it below 64·k. Past that
//! range the sum can overflow to Inf (tested: a scale 10^38 times the one before it); a
//! ratio of scales that is no normal f32 is applied in two exact-power-of-two-split
//! factors. What the bound cannot promise there: a group's contribution below 2^-126 of
//! a later group's scale (scales more than ~10^40 apart) underflows to zero.

use crate::channel_max::check_group;
use crate::context::{grid_1d, Context, DotKernel, Kernel, Rec};
use crate::error::{Error, Result};
use crate::quantize::Quantized;
use crate::tensor::{DType, Tensor};

const SHADER: &str = include_str!("../shaders/gemm.wgsl");
const PARAMS: &str = include_str!("../shaders/gemm_params.wgsl");
const DP4A: &str = include_str!("../shaders/dot_dp4a.wgsl");
const PORTABLE: &str = include_str!("../shaders/dot_portable.wgsl");
const LARGE: &str = include_str!("../shaders/gemm_tile_large.wgsl");
const MEDIUM: &str = include_str!("../shaders/gemm_tile_medium.wgsl");
const SMALL: &str = include_str!("../shaders/gemm_tile_small.wgsl");

macro_rules! gemm_kernel {
    ($name:literal, $tile:ident, $dot:ident) => {
        Kernel {
            name: $name,
            sources: &[$tile, $dot, PARAMS, SHADER],
            entry: "gemm",
            bounds_checks: true,
        }
    };
}

const GEMV: [Kernel; 2] = [
    Kernel {
        name: "gemv_dp4a",
        sources: &[DP4A, PARAMS, include_str!("../shaders/gemv.wgsl")],
        entry: "gemv",
        bounds_checks: true,
    },
    Kernel {
        name: "gemv_portable",
        sources: &[PORTABLE, PARAMS, include_str!("../shaders/gemv.wgsl")],
        entry: "gemv",
        bounds_checks: true,
    },
];

macro_rules! staged_kernel {
    ($rows:literal, $scaled:literal, $dot:ident, $suffix:literal) => {
        Kernel {
            name: concat!("gemv_staged_", $rows, $suffix),
            sources: &[
                concat!(
                    "const ROWS: u32 = ",
                    $rows,
                    "u;\nconst SCALED: bool = ",
                    $scaled,
                    ";\n"
                ),
                $dot,
                PARAMS,
                include_str!("../shaders/gemv_staged.wgsl"),
            ],
            entry: "gemv_staged",
            bounds_checks: true,
        }
    };
    ($rows:literal) => {
        [
            [
                staged_kernel!($rows, "false", DP4A, "_dp4a"),
                staged_kernel!($rows, "false", PORTABLE, "_portable"),
            ],
            [
                staged_kernel!($rows, "true", DP4A, "_scaled_dp4a"),
                staged_kernel!($rows, "true", PORTABLE, "_scaled_portable"),
            ],
        ]
    };
}

/// The decode kernel for several rows (`shaders/gemv_staged.wgsl`: activations staged once
/// a workgroup, 4 columns an invocation), [rows: `STAGED_ROWS`][plain, with group
/// scales][dot].
const GEMV_STAGED: [[[Kernel; 2]; 2]; 3] =
    [staged_kernel!(4), staged_kernel!(8), staged_kernel!(16)];

/// Output columns per workgroup of the staged decode kernel (`COLS` in
/// `shaders/gemv_staged.wgsl`).
pub const STAGED_COLUMNS: usize = 32;

/// Smallest m that takes the staged decode kernel (`shaders/gemv_staged.wgsl`) with
/// `dot4I8Packed`; m = 1 takes `shaders/gemv.wgsl`, which reads no workgroup memory. H200
/// (Vulkan), N = K = 8192, m = 2: 0.0197 against 0.0221 ms.
pub const STAGED_MIN_M: usize = 2;

/// The same with the portable dot product, whose products cost more than the staging
/// saves while half the staged rows are padding: H200, N = K = 8192, m = 2 0.0515
/// against 0.0390 ms, m = 4 0.0532 against 0.0598.
pub const STAGED_MIN_M_PORTABLE: usize = 4;

/// The rows of the staged decode kernel's variants (`ROWS`), smallest first: a call takes
/// the first that holds its m.
const STAGED_ROWS: [usize; 3] = [4, 8, 16];

/// Bytes of workgroup memory the staged decode kernel with `rows` rows declares
/// (`stage` in `shaders/gemv_staged.wgsl`: the chunk's two nibble halves, or the
/// reduction's 64 · 33 + 4 · 64 words, whichever is larger).
pub fn staged_workgroup_bytes(rows: usize) -> usize {
    16 * (2 * rows * 32).max((64 * 33 + 4 * 64) / 4)
}

/// Which variant of the staged decode kernel (an index into `STAGED_ROWS`) a decode call of
/// [`gemm`] takes, if any: wgpu, [`STAGED_MIN_M`] (or [`STAGED_MIN_M_PORTABLE`]) ≤ m ≤
/// [`DECODE_MAX_M`], k below 2^18 (its plain sums stay exact in f32), and the workgroup
/// memory on the adapter (16 KiB at m > 8, WebGPU's default). The caller has checked the
/// rest of a decode call's conditions (no permutation, k and the group multiples of 32).
fn staged_rows(ctx: &Context, m: usize, k: usize, dot: DotKernel) -> Option<usize> {
    let smem = ctx.limits().max_compute_workgroup_storage_size as usize;
    let rows = STAGED_ROWS.iter().position(|&r| m <= r)?;
    let min_m = match dot {
        DotKernel::Dot4I8Packed => STAGED_MIN_M,
        DotKernel::Portable => STAGED_MIN_M_PORTABLE,
    };
    (ctx.backend() == crate::Backend::Wgpu
        && m >= min_m
        && k < 1 << 18
        && staged_workgroup_bytes(STAGED_ROWS[rows]) <= smem)
        .then_some(rows)
}

/// The decode kernel on tensor cores (`shaders/gemv_coop.wgsl`; see
/// [`Context::cooperative_matrix`]).
const GEMV_COOP: Kernel = Kernel {
    name: "gemv_coop",
    sources: &[
        include_str!("../shaders/coop_enable.wgsl"),
        PARAMS,
        include_str!("../shaders/coop_unpack.wgsl"),
        include_str!("../shaders/gemv_coop.wgsl"),
    ],
    entry: "gemv_coop",
    bounds_checks: true,
};

macro_rules! coop_kernel {
    ($name:literal, $scaled:literal) => {
        Kernel {
            name: $name,
            sources: &[
                include_str!("../shaders/coop_enable.wgsl"),
                concat!("const SCALED: bool = ", $scaled, ";\n"),
                PARAMS,
                include_str!("../shaders/coop_unpack.wgsl"),
                include_str!("../shaders/gemm_coop.wgsl"),
            ],
            entry: "gemm_coop",
            bounds_checks: true,
        }
    };
}

/// The tiled GEMM on tensor cores (`shaders/gemm_coop.wgsl`; see
/// [`Context::cooperative_matrix`]): [plain, with group scales], both in 128 × 128 tiles of
/// 8 subgroups with 2 × 4 accumulators. With group scales in Horner form, one set of
/// accumulators: H200 (Vulkan), 8192³ 5.08 ms (plain 4.53) against 6.17 ms for the exact
/// f32 fold of `gemm.wgsl`, whose second set of accumulators needed 16 subgroups of 2 × 2
/// (6.54 ms with 8 of 2 × 4).
const GEMM_COOP: [Kernel; 2] = [
    coop_kernel!("gemm_coop_plain", "false"),
    coop_kernel!("gemm_coop_scaled", "true"),
];

/// Output rows and columns per workgroup of the cooperative-matrix GEMM.
const COOP_TILE: usize = 128;

/// Workgroup memory the cooperative-matrix kernels need, in bytes: `gemm_coop.wgsl`'s
/// tiles of 256 rows × 144 bytes and 8 stages of 1 KiB (`gemv_coop.wgsl` needs 38912).
/// A context uses them only where the adapter (or `ContextOptions::max_workgroup_storage`)
/// allows this much; `tests/shaders.rs` checks it against the shaders' declarations.
pub const COOP_WORKGROUP_BYTES: u32 = 256 * 144 + 8 * 1024;

/// Whether [`gemm`] takes the cooperative-matrix GEMM (`shaders/gemm_coop.wgsl`) for
/// m > [`DECODE_MAX_M`]: a context with [`Context::cooperative_matrix`], no permutation, no
/// tile asked for, k a multiple of 64 (below 2^18 without group scales, where its sums stay
/// exact in f32) and groups that are multiples of 64.
pub fn prefill_on_tensor_cores(ctx: &Context, m: usize, k: usize, group: Option<usize>) -> bool {
    ctx.cooperative_matrix()
        && m > DECODE_MAX_M
        && k.is_multiple_of(64)
        && match group {
            Some(g) => g.is_multiple_of(64),
            None => k < 1 << 18,
        }
}

/// Output columns per workgroup of the cooperative-matrix decode kernel.
const COOP_COLUMNS: usize = 16;

/// Smallest m that takes the cooperative-matrix decode kernel where the context has it. Its
/// time is flat in m; below this the dp4a kernels are faster (H200, Vulkan, N = K = 8192:
/// m = 8 0.037 against 0.053 ms with `gemv.wgsl`, 0.030 with `gemv_staged.wgsl`). At
/// m = 16 the staged kernel ties with it (0.056 ms) at N = K = 8192 and trails at 4096
/// (0.022 against 0.018 ms), so it stays the default there.
pub const COOP_MIN_M: usize = 12;

/// Whether [`gemm`] takes the cooperative-matrix decode kernel (`shaders/gemv_coop.wgsl`):
/// a context with [`Context::cooperative_matrix`], [`COOP_MIN_M`] ≤ m ≤ [`DECODE_MAX_M`],
/// no permutation, k a multiple of 128 below 2^18 (its sums stay exact in f32) and groups
/// that are multiples of 128.
pub fn decode_on_tensor_cores(ctx: &Context, m: usize, k: usize, group: Option<usize>) -> bool {
    ctx.cooperative_matrix()
        && (COOP_MIN_M..=DECODE_MAX_M).contains(&m)
        && k.is_multiple_of(128)
        && k < 1 << 18
        && group.is_none_or(|g| g.is_multiple_of(128))
}

/// Whether [`gemm`] without a permutation or a tile asked for runs on tensor cores:
/// [`decode_on_tensor_cores`] for m ≤ [`DECODE_MAX_M`], else [`prefill_on_tensor_cores`].
pub fn on_tensor_cores(ctx: &Context, m: usize, k: usize, group: Option<usize>) -> bool {
    if m <= DECODE_MAX_M {
        decode_on_tensor_cores(ctx, m, k, group)
    } else {
        prefill_on_tensor_cores(ctx, m, k, group)
    }
}

macro_rules! gather_kernel {
    ($k:literal, $tiles:literal, $dot:ident, $name:literal) => {
        GatherKernel {
            k: $k,
            columns: 8 * $tiles,
            kernel: Kernel {
                name: $name,
                sources: &[
                    concat!(
                        "const TILE_K: u32 = ",
                        $k,
                        "u;\nconst TILES_PER_WG: u32 = ",
                        $tiles,
                        "u;\n"
                    ),
                    $dot,
                    PARAMS,
                    include_str!("../shaders/nibble_tile.wgsl"),
                    include_str!("../shaders/gemv_gather.wgsl"),
                ],
                entry: "gemv_gather",
                // Unclamped: every index is in range by construction for the shapes
                // `record` checks (the permutation's entries clamped to k − 1 in the
                // kernel, the tile and the reduction under constant bounds); see
                // `GEMV_GATHER` for what the clamping cost.
                bounds_checks: false,
            },
        }
    };
}

/// A variant of the gathering decode kernel: rows of k up to `k` (4 · k bytes of workgroup
/// memory), `columns` output columns a workgroup (tiles of 8, one after another).
#[derive(Clone, Copy)]
struct GatherKernel {
    k: usize,
    columns: usize,
    kernel: Kernel,
}

/// The decode kernel that reads the weights through a permutation (`shaders/gemv_gather.wgsl`),
/// [dot kernel][size]. At k = 8192 a workgroup takes 4 tiles: H200 (Vulkan), m = 1, 47.5
/// against 55.4 µs with one; at 4096 one: 16.1 against 18.6 µs with four. It runs without
/// naga's index clamping, which cost it 11% there (N = K = 8192, µs, clamped → not: m = 1
/// 47.3–47.4 → 42.0–42.1, m = 4 61.1–61.3 → 55.3–55.4; `RRS_SHADER_CHECKS=none`, under
/// which a gathered decode call runs this kernel alone).
const GEMV_GATHER: [[GatherKernel; 3]; 2] = [
    [
        gather_kernel!(2048, 1, DP4A, "gemv_gather_2048_dp4a"),
        gather_kernel!(4096, 1, DP4A, "gemv_gather_4096_dp4a"),
        gather_kernel!(8192, 4, DP4A, "gemv_gather_8192_dp4a"),
    ],
    [
        gather_kernel!(2048, 1, PORTABLE, "gemv_gather_2048_portable"),
        gather_kernel!(4096, 1, PORTABLE, "gemv_gather_4096_portable"),
        gather_kernel!(8192, 4, PORTABLE, "gemv_gather_8192_portable"),
    ],
];

/// Largest m that the gathering decode kernel (`shaders/gemv_gather.wgsl`) takes.
pub const GATHER_MAX_M: usize = 4;

/// The gathering decode kernel for these shapes, where it applies on this context: wgpu,
/// m ≤ [`GATHER_MAX_M`], k and the group multiples of 32, and k ≤ 8192 with 4 · k bytes of
/// workgroup memory on the adapter (rounded up to 2048, 4096 or 8192).
fn gather_kernel(
    ctx: &Context,
    m: usize,
    k: usize,
    group: Option<usize>,
    dot: DotKernel,
) -> Option<GatherKernel> {
    if ctx.backend() != crate::Backend::Wgpu
        || m > GATHER_MAX_M
        || !k.is_multiple_of(32)
        || group.is_some_and(|g| !g.is_multiple_of(32))
    {
        return None;
    }
    let smem = ctx.limits().max_compute_workgroup_storage_size as usize;
    GEMV_GATHER[dot_index(dot)]
        .into_iter()
        .find(|g| k <= g.k && g.k * 4 <= smem)
}

/// The index of `dot` in the kernel tables (`[…][dot]`).
fn dot_index(dot: DotKernel) -> usize {
    match dot {
        DotKernel::Dot4I8Packed => 0,
        DotKernel::Portable => 1,
    }
}

/// Whether [`gemm`] with a `weight_perm` and group scales in groups of `group` takes the
/// gathering decode kernel (`shaders/gemv_gather.wgsl`: wgpu, m ≤ [`GATHER_MAX_M`], k and
/// the group multiples of 32, k ≤ 8192 with 4 · k bytes of workgroup memory) rather than
/// the tiled kernel's gather. `RrsLinear` with dynamic reorder passes the permutation to the
/// GEMM where it does and k ≥ 8192 (below, permuting the packed weights first measured
/// faster), and permutes the packed weights first otherwise.
pub fn decode_gathers(ctx: &Context, m: usize, k: usize, group: usize, dot: DotKernel) -> bool {
    gather_kernel(ctx, m, k, Some(group), dot).is_some()
}

/// Output columns per workgroup of the decode kernel (`COLS` in `shaders/gemv.wgsl`).
pub const DECODE_COLUMNS: usize = 16;

/// Largest m that takes the decode kernel (`shaders/gemv.wgsl`).
pub const DECODE_MAX_M: usize = 16;

/// [tile][dot kernel]
const KERNELS: [[Kernel; 2]; 3] = [
    [
        gemm_kernel!("gemm_large_dp4a", LARGE, DP4A),
        gemm_kernel!("gemm_large_portable", LARGE, PORTABLE),
    ],
    [
        gemm_kernel!("gemm_medium_dp4a", MEDIUM, DP4A),
        gemm_kernel!("gemm_medium_portable", MEDIUM, PORTABLE),
    ],
    [
        gemm_kernel!("gemm_small_dp4a", SMALL, DP4A),
        gemm_kernel!("gemm_small_portable", SMALL, PORTABLE),
    ],
];

/// Output tile of the GEMM kernel (see `shaders/gemm_tile_*.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// 128 × 128 outputs, 8 × 8 per invocation; 28 KiB of workgroup memory.
    Large,
    /// 64 × 64 outputs, 4 × 4 per invocation; 18 KiB.
    Medium,
    /// 64 × 64 outputs, 4 × 4 per invocation, shorter K steps; 10 KiB (fits WebGPU's
    /// default 16 KiB).
    Small,
}

impl Tile {
    /// All tiles, largest first.
    pub const ALL: [Tile; 3] = [Tile::Large, Tile::Medium, Tile::Small];

    /// Output rows (and columns) per workgroup.
    pub fn side(self) -> usize {
        match self {
            Tile::Large => 128,
            Tile::Medium | Tile::Small => 64,
        }
    }

    /// Workgroup memory the kernel needs, in bytes.
    pub fn workgroup_bytes(self) -> u32 {
        match self {
            Tile::Large => 2 * 128 * 7 * 16,
            Tile::Medium => 2 * 64 * 9 * 16,
            Tile::Small => 2 * 64 * 5 * 16,
        }
    }

    /// The largest tile whose workgroup memory fits the adapter.
    pub fn best(ctx: &Context) -> Result<Tile> {
        let max = ctx.limits().max_compute_workgroup_storage_size;
        Tile::ALL
            .into_iter()
            .find(|t| t.workgroup_bytes() <= max)
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "the adapter allows {max} bytes of workgroup memory; the smallest GEMM tile needs {}",
                    Tile::Small.workgroup_bytes()
                ))
            })
    }
}

/// Options of the GEMM.
#[derive(Clone, Copy, Debug)]
pub struct GemmOptions<'a> {
    /// K-group size of the smoothing scales: a multiple of 16 that divides k (or k itself).
    pub group: usize,
    /// [k / group] f32 smoothing scales; `None` for plain A4W4 (all s_g = 1).
    pub group_scales: Option<&'a Tensor>,
    /// `[k]` u32: dynamic reorder, read weight channel `weight_perm[q]` at position q. A
    /// permutation of 0..k; entries past k give unspecified results, never a read outside
    /// the weights (the kernels clamp them).
    pub weight_perm: Option<&'a Tensor>,
    /// Dot-product code to use.
    pub dot: DotKernel,
    /// Output tile; `None` picks a decode kernel where one applies (m ≤ 16, k and the
    /// group multiples of 32, no gather; or with the gather m ≤ [`GATHER_MAX_M`] and
    /// k ≤ 8192 where the adapter has 4 · k bytes of workgroup memory), else the
    /// largest tile that fits the adapter ([`Tile::best`]).
    pub tile: Option<Tile>,
}

impl GemmOptions<'_> {
    /// Plain A4W4 with group 128 and the context's default dot kernel.
    pub fn plain(ctx: &Context) -> Self {
        GemmOptions {
            group: 128,
            group_scales: None,
            weight_perm: None,
            dot: ctx.dot_kernel(),
            tile: None,
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
    ctx.run(|rec| record(ctx, rec, a, w, opts))
}

/// Record [`gemm`] into `enc`.
pub fn encode(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    a: &Quantized,
    w: &Quantized,
    opts: GemmOptions,
) -> Result<Tensor> {
    record(ctx, &mut Rec::wgpu(enc), a, w, opts)
}

/// [`encode`] on either backend (the tile and dot kernel are WGSL's; CUDA picks its own).
pub(crate) fn record(
    ctx: &Context,
    rec: &mut Rec,
    a: &Quantized,
    w: &Quantized,
    opts: GemmOptions,
) -> Result<Tensor> {
    a.check(ctx, "activations")?;
    w.check(ctx, "weights")?;
    let (m, n, k) = (a.rows, w.rows, a.k);
    if w.k != k {
        return Err(Error::Shape(format!(
            "activations have k = {k} but weights have k = {}",
            w.k
        )));
    }
    check_group(k, opts.group)?;
    if !opts.group.is_multiple_of(16) && opts.group != k {
        return Err(Error::Unsupported(format!(
            "the GEMM's group size must be a multiple of 16 (or all of k = {k}), got {}",
            opts.group
        )));
    }
    let mut flags = 0;
    if let Some(s) = opts.group_scales {
        s.expect(ctx, "group scales", DType::F32, 1)?;
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
        p.expect(ctx, "weight permutation", DType::U32, 1)?;
        if p.numel() != k {
            return Err(Error::Shape(format!(
                "the weight permutation has {} entries but k = {k}",
                p.numel()
            )));
        }
        flags |= 2;
    }
    let y = Tensor::output(ctx, DType::F32, &[m, n])?;
    #[cfg(feature = "cuda")]
    if let Rec::Cuda(cu) = rec {
        // The gather as its own pass: permute the packed weights, then the GEMM.
        let permuted = match opts.weight_perm {
            Some(p) => Some(Quantized {
                packed: crate::permute::record(ctx, &mut Rec::Cuda(cu), &w.packed, p)?,
                ..w.clone()
            }),
            None => None,
        };
        cu.gemm(a, permuted.as_ref().unwrap_or(w), &opts, &y)?;
        return Ok(y);
    }
    let tile = match opts.tile {
        Some(t) => {
            let max = ctx.limits().max_compute_workgroup_storage_size;
            if t.workgroup_bytes() > max {
                return Err(Error::Unsupported(format!(
                    "GEMM tile {t:?} needs {} bytes of workgroup memory; the adapter allows {max}",
                    t.workgroup_bytes()
                )));
            }
            t
        }
        None => Tile::best(ctx)?,
    };
    let params = Params {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        group: opts.group as u32,
        flags,
        _pad: [0; 3],
    };
    let gscale = opts.group_scales.map_or(&ctx.gpu()?.dummy, |s| s.buffer());
    let perm = opts.weight_perm.map_or(&ctx.gpu()?.dummy, |p| p.buffer());

    let dot = dot_index(opts.dot);
    let decode = opts.tile.is_none()
        && m <= DECODE_MAX_M
        && opts.weight_perm.is_none()
        && k.is_multiple_of(32)
        && (opts.group_scales.is_none() || opts.group.is_multiple_of(32));
    let scaled_group = opts.group_scales.map(|_| opts.group);
    let gather = match opts.weight_perm {
        Some(_) if opts.tile.is_none() => gather_kernel(ctx, m, k, scaled_group, opts.dot),
        _ => None,
    };
    let coop = opts.tile.is_none()
        && opts.weight_perm.is_none()
        && on_tensor_cores(ctx, m, k, scaled_group);
    let (coop_decode, coop_tiles) = (coop && m <= DECODE_MAX_M, coop && m > DECODE_MAX_M);
    let staged = decode.then(|| staged_rows(ctx, m, k, opts.dot)).flatten();
    let (kernel, grid) = if let Some(g) = gather {
        (g.kernel, grid_1d(n.div_ceil(g.columns) as u32))
    } else if coop_tiles {
        let grid = [
            n.div_ceil(COOP_TILE) as u32,
            m.div_ceil(COOP_TILE) as u32,
            1,
        ];
        (GEMM_COOP[usize::from(opts.group_scales.is_some())], grid)
    } else if coop_decode {
        (GEMV_COOP, [n.div_ceil(COOP_COLUMNS) as u32, 1, 1])
    } else if let Some(rows) = staged {
        let kernel = GEMV_STAGED[rows][usize::from(opts.group_scales.is_some())][dot];
        (kernel, [n.div_ceil(STAGED_COLUMNS) as u32, 1, 1])
    } else if decode {
        (GEMV[dot], [n.div_ceil(DECODE_COLUMNS) as u32, 1, 1])
    } else {
        let side = tile.side();
        let grid = [n.div_ceil(side) as u32, m.div_ceil(side) as u32, 1];
        (KERNELS[tile as usize][dot], grid)
    };
    let bufs = [
        (1, a.packed.buffer()),
        (2, w.packed.buffer()),
        (3, a.scales.buffer()),
        (4, w.scales.buffer()),
        (5, gscale),
        (7, y.buffer()),
        (6, perm),
    ];
    // The decode and cooperative-matrix kernels have no gather (both exclude a
    // permutation): they bind everything but it.
    let bufs = if decode || coop_tiles {
        &bufs[..6]
    } else {
        &bufs[..]
    };
    ctx.dispatch(rec, kernel, &params, bufs, grid)?;
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

/// CPU reference of [`gemm`]: `[m, n]` f32, summing `s_g · P_g` over groups in order, each
/// with one rounding (`acc = fma(s_g, P_g, acc)`).
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
                // One rounding per group: a fused multiply-add, as the GPU kernels do.
                group_scales.map_or(1.0, |s| s[g]).mul_add(v as f32, acc)
            });
            a_scale[idx / n] * w_scale[idx % n] * acc
        })
        .collect()
}
