//! `hadamard`: the normalized fast Walsh-Hadamard transform along the last dimension.
//!
//! For a row-major `[m, k]` f32 tensor, every row x becomes x · H_k / sqrt(k), where
//! H_k = H_a ⊗ H_{2^n} (Kronecker product) for the supported sizes
//! * k = 2^n, 0 ≤ n ≤ 15 (a = 1, Sylvester), and
//! * k = a · 2^n with a ∈ {12, 20, 28} and 0 ≤ n ≤ 12, or a = 36 and 0 ≤ n ≤ 11 (Paley
//!   construction II for H_a; 36·2^n covers hidden sizes like 576 and 2304).
//!
//! `y[i] = Σ_j H_k[i][j] x[j] / sqrt(k)`. H_k is symmetric with H_k · H_kᵀ = k·I, so the
//! transform is orthonormal and its own inverse (applying it twice returns the input).
//! Applying it to activations and to the weights' input channels keeps X·Wᵀ unchanged.
//!
//! Against [`reference()`] the GPU result is bit-identical, on every backend: the WGSL
//! passes (butterfly stages in registers, exchanged through workgroup memory, and across
//! subgroup lanes where the adapter has subgroups; the power-of-two stages above a tile
//! across tiles; then the dense H_a; m·2^n rows of up to [`MIXED_MAX_K`] elements with
//! 2^n ≥ 16 in one pass where they fit workgroup memory, e.g. 576, 1536, 2304, 5120) and the
//! CUDA kernels (one pass for 12, 20, 28 and 36 times 16 … 1024 where the row fits a block's
//! shared memory, e.g. 576 and the 14336 and 28672 of LLaMA-class FFN widths; else the
//! chunk FWHT and a cross pass) all run the reference's stages in its order, with
//! 1/sqrt(k) applied once at the end.
//!
//! f16 tensors ([`DType::F16`]): each element is read as f32, the transform runs in f32, and
//! the result is rounded to f16 once, so the output is bit-identical to [`reference_f16`].
//! CUDA reads and writes f16 in the FWHT kernels themselves; on wgpu (no shader-f16 feature
//! needed) the rows are widened into an f32 tensor, transformed there and narrowed back, which
//! moves three times the bytes of a direct kernel.

use crate::context::{grid_1d, Context, Kernel, Rec};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

const PARAMS: &str = include_str!("../shaders/hadamard_params.wgsl");
/// The cross passes (`cross_pow2`, `cross`).
const CROSS: &str = include_str!("../shaders/hadamard.wgsl");
/// The first pass: the stages inside each chunk (`fwht_chunk`).
const CHUNK: &str = include_str!("../shaders/hadamard_chunk.wgsl");
/// The first pass's registers, butterflies, loads, exchanges and stores.
const REGS: &str = include_str!("../shaders/hadamard_regs.wgsl");
/// The first pass with subgroup shuffles (`fwht_subgroup`).
const SUBGROUP: &str = include_str!("../shaders/hadamard_subgroup.wgsl");

/// The one-pass transform of m·2^n sizes (`fwht_mixed`).
const MIXED: &str = include_str!("../shaders/hadamard_mixed.wgsl");

/// The FWHT kernel `$entry` of `$body` for the `$tile` variant (tile constants and the
/// parameters prepended).
macro_rules! kernel {
    ($tile:literal, [$($body:expr),*], $entry:literal) => {
        Kernel {
            name: concat!("hadamard_", $tile),
            sources: &[
                include_str!(concat!("../shaders/hadamard_tile_", $tile, ".wgsl")),
                PARAMS,
                $($body),*
            ],
            entry: $entry,
            bounds_checks: false,
        }
    };
}

macro_rules! variant {
    ($tile:literal) => {
        [
            kernel!($tile, [CROSS], "cross_pow2"),
            kernel!($tile, [REGS, CHUNK], "fwht_chunk"),
            kernel!($tile, [CROSS], "cross"),
        ]
    };
}

/// (tile, [cross_pow2, fwht_chunk, cross]) for each tile size, largest first.
const VARIANTS: [(usize, [Kernel; 3]); 3] = [
    (8192, variant!("8192")),
    (4096, variant!("4096")),
    (2048, variant!("2048")),
];

/// The subgroup first pass (`fwht_subgroup`) for one chunk of `$tile` elements with an
/// exchange buffer of `$buf` and 4 · 2^`$qbits` elements an invocation.
macro_rules! subgroup_kernel {
    ($tile:literal, $buf:literal, $qbits:literal) => {
        SubgroupVariant {
            chunk: $tile,
            buf: $buf,
            elements: 4 << $qbits,
            kernel: Kernel {
                name: concat!("hadamard_subgroup_", $tile, "_", $buf, "_", $qbits),
                sources: &[
                    concat!(
                        "const TILE: u32 = ",
                        $tile,
                        "u;\nconst BUF: u32 = ",
                        $buf,
                        "u;\nconst QBITS: u32 = ",
                        $qbits,
                        "u;\n"
                    ),
                    PARAMS,
                    REGS,
                    SUBGROUP,
                ],
                entry: "fwht_subgroup",
                bounds_checks: false,
            },
        }
    };
}

/// One kernel of the subgroup first pass.
#[derive(Clone, Copy)]
struct SubgroupVariant {
    chunk: usize,
    /// Elements of the exchange buffer.
    buf: usize,
    /// Elements an invocation holds (16 or 32).
    elements: usize,
    kernel: Kernel,
}

/// The subgroup first pass's kernels, by preference for each chunk and elements an
/// invocation: a buffer of half the chunk, exchanged in two phases, else a quarter in four
/// (H200, M = 4096, ms, buffers of chunk / 4, chunk / 2, chunk: k = 8192 0.133 / 0.0994 /
/// 0.133; k = 16384 0.246 / 0.238 / (over 48 KiB)); at 32768 (32 elements an invocation,
/// a row does not fit 1024 invocations of 16) a quarter, else an eighth.
const SUBGROUP_VARIANTS: [SubgroupVariant; 8] = [
    subgroup_kernel!(32768, 8192, 3),
    subgroup_kernel!(32768, 4096, 3),
    subgroup_kernel!(16384, 8192, 2),
    subgroup_kernel!(16384, 4096, 2),
    subgroup_kernel!(16384, 8192, 3),
    subgroup_kernel!(16384, 4096, 3),
    subgroup_kernel!(8192, 4096, 2),
    subgroup_kernel!(4096, 2048, 2),
];

/// The one-pass kernel of m·2^n rows (`shaders/hadamard_mixed.wgsl`) for H_`$m` and rows of
/// `$m` · `$p` = `$k` elements, which its workgroup memory holds exactly, in workgroups of
/// `$wg` invocations ([`mixed_workgroup_size`]).
macro_rules! mixed_kernel {
    ($m:literal, $p:literal, $k:literal, $wg:literal) => {
        (
            $m,
            $p,
            $k,
            $wg,
            Kernel {
                name: concat!("hadamard_mixed_", $k),
                sources: &[
                    include_str!(concat!("../shaders/hadamard_dense_", $m, ".wgsl")),
                    concat!("const BUF: u32 = ", $k, "u;\nconst WG: u32 = ", $wg, "u;\n"),
                    PARAMS,
                    REGS,
                    MIXED,
                ],
                entry: "fwht_mixed",
                bounds_checks: false,
            },
        )
    };
}

/// Largest row (elements) of the one-pass m·2^n kernels: 48 KB of workgroup memory with
/// one word of padding per 16 elements.
pub const MIXED_MAX_K: usize = 11520;

/// (m, p, k, invocations, kernel) for each m·2^n size with p ≥ 16 and k ≤ [`MIXED_MAX_K`]. Each kernel's
/// workgroup memory is its row (4 bytes an element and a word per 16), no more: workgroup
/// memory bounds how many workgroups the H200's Vulkan driver runs at once (`fwht_chunk`'s
/// note). H200, M = 4096, 256 invocations, ms with the row in a buffer of 1536, 3840 or
/// 11520 elements → exactly its own: 2304 0.061 → 0.052, 2560 0.054 → 0.049, 5120 0.190 →
/// 0.120 (10240, already nearly exact, 0.358 → 0.348).
const MIXED_KERNELS: [(usize, usize, usize, usize, Kernel); 22] = [
    mixed_kernel!(12, 16, 192, 128),
    mixed_kernel!(12, 32, 384, 128),
    mixed_kernel!(12, 64, 768, 128),
    mixed_kernel!(12, 128, 1536, 128),
    mixed_kernel!(12, 256, 3072, 256),
    mixed_kernel!(12, 512, 6144, 512),
    mixed_kernel!(20, 16, 320, 128),
    mixed_kernel!(20, 32, 640, 128),
    mixed_kernel!(20, 64, 1280, 128),
    mixed_kernel!(20, 128, 2560, 256),
    mixed_kernel!(20, 256, 5120, 512),
    mixed_kernel!(20, 512, 10240, 1024),
    mixed_kernel!(28, 16, 448, 128),
    mixed_kernel!(28, 32, 896, 128),
    mixed_kernel!(28, 64, 1792, 256),
    mixed_kernel!(28, 128, 3584, 256),
    mixed_kernel!(28, 256, 7168, 512),
    mixed_kernel!(36, 16, 576, 128),
    mixed_kernel!(36, 32, 1152, 128),
    mixed_kernel!(36, 64, 2304, 256),
    mixed_kernel!(36, 128, 4608, 512),
    mixed_kernel!(36, 256, 9216, 1024),
];
// Every kernel's buffer is its row: k = m · p.
const _: () = {
    let mut i = 0;
    while i < MIXED_KERNELS.len() {
        let (m, p, k, wg, _) = MIXED_KERNELS[i];
        assert!(m * p == k && p >= MIN_CHUNK && k <= MIXED_MAX_K && wg == mixed_workgroup_size(k));
        i += 1;
    }
};

/// Invocations of a workgroup of the one-pass kernel for rows of k elements: more for longer
/// rows. H200 (Vulkan, M = 4096, ms at 128 / 256 / 512 / 1024 invocations): k = 576 0.023 /
/// 0.029 / 0.046 / 0.077, 1536 0.026 / 0.029 / 0.042 / 0.073, 3072 0.078 / 0.056 / 0.064 /
/// 0.099, 5120 0.169 / 0.120 / 0.093 / 0.138, 7168 0.434 / 0.257 / 0.181 / 0.179, 10240
/// 0.566 / 0.347 / 0.249 / 0.222 (the one workgroup or two an SM that such rows' workgroup
/// memory leaves need more invocations to hide their latency).
pub const fn mixed_workgroup_size(k: usize) -> usize {
    match k {
        0..=1536 => 128,
        1537..=3840 => 256,
        3841..=7168 => 512,
        _ => 1024,
    }
}

/// The one-pass kernel for rows of k = a · p (a one of [`FACTORS`], p ≥ 16, k ≤
/// [`MIXED_MAX_K`]) on an adapter with `limits`, where the row fits its workgroup memory and
/// its workgroup ([`mixed_workgroup_size`]) the adapter's; `None` sends the row through the
/// chunk and cross passes.
fn mixed_pass(limits: &wgpu::Limits, a: usize, p: usize) -> Option<Kernel> {
    let memory = limits.max_compute_workgroup_storage_size as usize;
    let invocations = limits.max_compute_invocations_per_workgroup as usize;
    MIXED_KERNELS
        .into_iter()
        .find(|&(m, chunk, k, wg, _)| {
            m == a && chunk == p && (k + k / 16) * 4 <= memory && wg <= invocations
        })
        .map(|(_, _, _, _, kernel)| kernel)
}

/// Whether rows of size k take the one-pass m·2^n kernel on this context
/// (`shaders/hadamard_mixed.wgsl`: an odd factor, a power-of-two part of at least 16, and the
/// row in the adapter's workgroup memory, up to [`MIXED_MAX_K`]), rather than a chunk pass
/// and a cross pass.
pub fn uses_one_pass(ctx: &Context, k: usize) -> bool {
    ctx.backend() == crate::Backend::Wgpu
        && factor(k).is_ok_and(|(a, p)| mixed_pass(ctx.limits(), a, p).is_some())
}

/// The power-of-two parts the subgroup first pass takes, each in one pass. H200 (Vulkan,
/// M = 4096, ms, against the exchange kernel's best tile): k = 4096 0.0493 against 0.0553,
/// k = 8192 0.0987 against 0.133, k = 16384 0.229 (16 elements an invocation; 0.222 with 32)
/// against 0.326 (the 4096 tile and a cross pass), k = 32768 (32 elements an invocation)
/// 0.459 against 0.644 (the same). Chunks of 16384 and a cross pass at k = 32768 took
/// 0.927 ms (the cross pass over 2 chunks is slow).
pub const SUBGROUP_CHUNKS: [usize; 4] = [4096, 8192, 16384, 32768];

/// Elements an invocation of the subgroup pass holds for a chunk, by preference: 32 from
/// 16384 (a chunk of 32768 needs them: 16 an invocation would take 2048 invocations), else
/// 16. H200 (Vulkan, M = 4096, ms, 32 against 16 an invocation at `5bb3a4e`): k = 16384
/// 0.2216–0.2218 against 0.2268–0.2298 (32 had been 2% slower before the quad stages were
/// fixed at compile time, `b92b80a`), k = 8192 0.1068 against 0.0981.
fn preferred_elements(chunk: usize) -> &'static [usize] {
    match chunk {
        ..=8192 => &[16],
        16384 => &[32, 16],
        _ => &[32],
    }
}

/// The subgroup variant rrs picks for a chunk: the first of [`preferred_elements`] that runs
/// on an adapter with `limits` and subgroups of `sizes` lanes.
fn default_variant(
    limits: &wgpu::Limits,
    sizes: (u32, u32),
    chunk: usize,
) -> Option<SubgroupVariant> {
    preferred_elements(chunk)
        .iter()
        .find_map(|&e| subgroup_variant(limits, sizes, chunk, e))
}

/// The subgroup first pass for a chunk of `chunk` elements, `elements` an invocation, on an
/// adapter whose subgroups have `sizes` = (min, max) lanes, if it can run there: every
/// power-of-two size S = 2^s between them has 2 + s + log2(elements / 4) ≤ log2(chunk) ≤
/// 8 + 2s (two rounds with one exchange cover the chunk; with 32 elements, whose second
/// round holds quads, at least 3 bits are left for it: 8 + s ≤ log2(chunk)), the workgroup's
/// chunk / elements
/// invocations fit `limits`, and so does the first buffer of [`SUBGROUP_VARIANTS`] for them
/// (4 bytes an element, one word of padding per 32).
fn subgroup_variant(
    limits: &wgpu::Limits,
    sizes: (u32, u32),
    chunk: usize,
    elements: usize,
) -> Option<SubgroupVariant> {
    let l = chunk.trailing_zeros();
    let qbits = (elements / 4).trailing_zeros();
    let lanes_ok = sizes.0 <= sizes.1
        && lane_bits(sizes)
            .all(|s| 2 + s + qbits + u32::from(qbits == 3) * 3 <= l && l <= 8 + 2 * s);
    let invocations = chunk / elements;
    if !lanes_ok || invocations > limits.max_compute_invocations_per_workgroup as usize {
        return None;
    }
    let memory = limits.max_compute_workgroup_storage_size as usize;
    SUBGROUP_VARIANTS
        .into_iter()
        .find(|v| v.chunk == chunk && v.elements == elements && (v.buf + v.buf / 32) * 4 <= memory)
}

/// Whether the subgroup first pass can run a chunk of `chunk` elements (one of
/// [`SUBGROUP_CHUNKS`]) on an adapter with `limits` whose subgroups have `sizes` = (min, max)
/// lanes, with one of its preferred elements an invocation: see `subgroup_variant`.
pub fn subgroup_fits(limits: &wgpu::Limits, sizes: (u32, u32), chunk: usize) -> bool {
    default_variant(limits, sizes, chunk).is_some()
}

/// log2 of every power-of-two subgroup size between `sizes` = (min, max).
fn lane_bits(sizes: (u32, u32)) -> std::ops::RangeInclusive<u32> {
    sizes.0.max(1).trailing_zeros()..=sizes.1.max(1).trailing_zeros()
}

/// The subgroup first pass for a power-of-two part `p` with `elements` an invocation, where
/// the context allows it: its kernel.
fn subgroup_pass(ctx: &Context, p: usize, elements: usize) -> Option<Kernel> {
    subgroup_variant(ctx.limits(), ctx.subgroup_sizes()?, p, elements).map(|v| v.kernel)
}

/// The subgroup first pass rrs picks for a power-of-two part `p`: one of
/// [`SUBGROUP_CHUNKS`] with its preferred elements an invocation, where the context allows
/// it.
fn default_subgroup_pass(ctx: &Context, p: usize) -> Option<Kernel> {
    default_variant(ctx.limits(), ctx.subgroup_sizes()?, p).map(|v| v.kernel)
}

/// Whether the subgroup first pass of 16 elements an invocation runs its second round in
/// 16-byte quads by default, for a chunk on subgroups of `sizes` lanes: where that round's
/// lanes then cover at most two new index bits (n = log2(chunk) − 4 − s ≤ 4 for every size
/// 2^s). H200 (32 lanes, M = 4096, ms, quads against not, at `15d7907`): k = 4096 0.0516
/// against 0.0555 (n = 3), 8192 0.1027 against 0.1050 (n = 4), 16384 0.237 against 0.230
/// (n = 5: three shuffle stages more). 32 elements an invocation always run it in quads.
fn subgroup_quads(sizes: (u32, u32), chunk: usize) -> bool {
    let l = chunk.trailing_zeros();
    lane_bits(sizes).all(|s| (6 + s..=8 + s).contains(&l))
}

/// Whether a transform of rows of size k runs the subgroup first pass on this context
/// (`shaders/hadamard_subgroup.wgsl`; else the exchange kernel of a tile).
pub fn uses_subgroups(ctx: &Context, k: usize) -> bool {
    ctx.backend() == crate::Backend::Wgpu
        && factor(k).is_ok_and(|(_, p)| default_subgroup_pass(ctx, p).is_some())
}

/// FWHT tile sizes (elements per workgroup), largest first.
pub const TILES: [usize; 3] = [8192, 4096, 2048];

/// The FWHT tiles to use for size k, best first, from measurements on the H200 (Vulkan,
/// M = 4096, `bench --only fwht --tiles`): one pass where the row fits a tile (k = 4096:
/// 0.055 ms with the 4096 tile against 0.117 ms with the 2048 tile and a cross pass;
/// k = 8192: 0.133 ms with the 8192 tile against 0.177 / 0.210 ms with the 2048 / 4096
/// tiles), else the 4096 tile and a cross pass (k = 16384: 0.327 ms against 0.342 / 0.515 with
/// the 2048 / 8192 tiles; k = 32768: 0.645 against 0.679 / 0.852). The first that fits the
/// adapter is used. Where the adapter has subgroups, power-of-two parts of 4096 … 32768 run
/// the subgroup first pass instead ([`SUBGROUP_CHUNKS`], [`uses_subgroups`]); a tile asked for
/// ([`hadamard_inplace_with_tile`]) always runs the exchange kernel.
pub fn preferred_tiles(k: usize) -> &'static [usize] {
    match k {
        0..=2048 => &[2048],
        2049..=4096 => &[4096, 2048],
        4097..=8192 => &[8192, 2048],
        _ => &[4096, 2048],
    }
}

/// Invocations per workgroup of the cross passes of each tile
/// (`shaders/hadamard_tile_*.wgsl`): one per 8 elements (the chunk pass runs one per 16).
pub fn workgroup_size(tile: usize) -> usize {
    tile / 8
}

/// The smallest tile of the chunk pass (smaller chunks share a workgroup).
const MIN_CHUNK_TILE: usize = 2048;

/// Elements of the chunk pass's exchange buffer of a tile (`BUF` in
/// `shaders/hadamard_tile_*.wgsl`): 2048, and 4096 for the 8192 tile (H200, M = 4096,
/// k = 8192: 0.133 ms with 2 phases of 4096 against 0.147 ms with 4 of 2048; k = 4096:
/// 0.061 ms with one of 4096 against 0.055 ms with 2 of 2048).
pub fn exchange_elements(tile: usize) -> usize {
    if tile >= 8192 {
        4096
    } else {
        2048
    }
}

/// Workgroup memory of the chunk pass of a tile: its exchange buffer
/// ([`exchange_elements`]), 4 bytes an element and one word of padding per 16.
pub fn exchange_bytes(tile: usize) -> usize {
    exchange_elements(tile) * 17 / 16 * 4
}

/// Whether the FWHT tile of `tile` elements fits an adapter's `limits`: the chunk pass's
/// workgroup memory ([`exchange_bytes`]) and the cross passes' workgroup size.
pub fn tile_fits(limits: &wgpu::Limits, tile: usize) -> bool {
    exchange_bytes(tile) <= limits.max_compute_workgroup_storage_size as usize
        && workgroup_size(tile) <= limits.max_compute_invocations_per_workgroup as usize
}

/// The FWHT tile (elements per workgroup) rrs uses for rows of size k on this adapter.
pub fn tile_for(ctx: &Context, k: usize) -> Result<usize> {
    variant(ctx, None, k).map(|(tile, _)| tile)
}

/// The FWHT tile `tile` (default: the first of [`preferred_tiles`] for k that fits), if it
/// fits the adapter ([`tile_fits`]).
fn variant(ctx: &Context, tile: Option<usize>, k: usize) -> Result<(usize, [Kernel; 3])> {
    let limits = ctx.limits();
    let max = limits.max_compute_workgroup_storage_size;
    let threads = limits.max_compute_invocations_per_workgroup;
    let fits = |t: usize| tile_fits(limits, t);
    let tile = match tile {
        Some(t) => t,
        None => preferred_tiles(k)
            .iter()
            .copied()
            .chain(TILES.into_iter().rev())
            .find(|&t| fits(t))
            .unwrap_or(TILES[TILES.len() - 1]),
    };
    VARIANTS
        .into_iter()
        .find(|(t, _)| *t == tile && fits(*t))
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "the FWHT tile of {tile} elements does not fit the adapter's {max} bytes of \
                 workgroup memory or {threads} invocations per workgroup (tiles {TILES:?} \
                 need {} bytes and 1/8 invocation per element)",
                exchange_bytes(tile)
            ))
        })
}

/// Largest power-of-two factor the register cross pass (`cross_pow2`) applies.
const MAX_SPREAD: usize = 16;
/// Smallest chunk of the chunk pass (`fwht_chunk`: 16 elements per invocation).
const MIN_CHUNK: usize = 16;

/// Odd Hadamard factors supported besides powers of two.
pub const FACTORS: [usize; 4] = [12, 20, 28, 36];
/// Largest supported power of two.
pub const MAX_POW2: usize = 1 << 15;
/// Largest power-of-two part of an m·2^n size.
const MAX_FACTOR_POW2: usize = 4096;

/// How the WGSL passes split a size k = a · 2^n for a workgroup tile: the `chunk` =
/// min(2^n, tile) stages in registers and workgroup memory (chunk = 1, no chunk pass, when
/// 2^n < 16), then the `spread` = 2^n / chunk stages above
/// them across chunks (`cross_pow2`), then the dense H_a across the 2^n blocks (`cross`):
/// the CPU reference's order, so the result is bit-identical to it.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    chunk: usize,
    spread: usize,
    a: usize,
    /// Row-major ±1 entries of H_a (empty when a = 1).
    signs: Vec<f32>,
}

/// The supported sizes, for error messages.
pub fn supported_sizes() -> String {
    format!(
        "2^n for n = 0..=15 (up to {MAX_POW2}), 12·2^n, 20·2^n, 28·2^n for n = 0..=12, and \
         36·2^n for n = 0..=11"
    )
}

/// Split k into (a, 2^n) with a ∈ {1, 12, 20, 28, 36}, or fail with the supported list.
pub fn factor(k: usize) -> Result<(usize, usize)> {
    for a in [1].into_iter().chain(FACTORS) {
        if k.is_multiple_of(a) && (k / a).is_power_of_two() {
            let p = k / a;
            let max = match a {
                1 => MAX_POW2,
                36 => MAX_FACTOR_POW2 / 2,
                _ => MAX_FACTOR_POW2,
            };
            if p <= max {
                return Ok((a, p));
            }
        }
    }
    Err(Error::Unsupported(format!(
        "Hadamard size k = {k} is not supported; supported sizes: {}",
        supported_sizes()
    )))
}

/// The passes for size k with a workgroup tile of `tile` elements.
fn plan(k: usize, tile: usize) -> Result<Plan> {
    let (a, p) = factor(k)?;
    // The chunk pass holds 16 consecutive elements per invocation; below that the register
    // cross pass runs all of the (at most 3) power-of-two stages.
    let chunk = if p < MIN_CHUNK { 1 } else { p.min(tile) };
    let spread = p / chunk;
    if spread > MAX_SPREAD {
        return Err(Error::Unsupported(format!(
            "Hadamard size k = {k} needs {spread} chunks of the FWHT tile {tile} on this \
             adapter; at most {MAX_SPREAD} are supported"
        )));
    }
    let signs = if a > 1 {
        small_hadamard(a)
            .into_iter()
            .flatten()
            .map(f32::from)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Plan {
        chunk,
        spread,
        a,
        signs,
    })
}

/// The Sylvester Hadamard matrix of size `n` (a power of two): `H[i][j] = (-1)^popcount(i & j)`.
pub fn sylvester(n: usize) -> Vec<Vec<i8>> {
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| if (i & j).count_ones() % 2 == 0 { 1 } else { -1 })
                .collect()
        })
        .collect()
}

/// The finite field GF(q) for q ∈ {5, 9, 13, 17}: elements are indices e = a + p·b standing
/// for a + b·i (b = 0 for the prime fields; GF(9) = GF(3)[i] with i² = −1).
struct Field {
    q: usize,
    p: usize,
}

impl Field {
    fn new(q: usize) -> Self {
        let p = if q == 9 { 3 } else { q };
        Field { q, p }
    }
    fn parts(&self, e: usize) -> (usize, usize) {
        (e % self.p, e / self.p)
    }
    fn sub(&self, x: usize, y: usize) -> usize {
        let (p, (a, b), (c, d)) = (self.p, self.parts(x), self.parts(y));
        (a + p - c) % p + p * ((b + p - d) % p)
    }
    fn mul(&self, x: usize, y: usize) -> usize {
        let (p, (a, b), (c, d)) = (self.p, self.parts(x), self.parts(y));
        (a * c + p * p - (b * d) % p) % p + p * ((a * d + b * c) % p)
    }
    /// Quadratic character: 0 for 0, 1 for a non-zero square, −1 otherwise.
    fn chi(&self, x: usize) -> i8 {
        if x == 0 {
            0
        } else if (1..self.q).any(|y| self.mul(y, y) == x) {
            1
        } else {
            -1
        }
    }
}

/// The Hadamard matrix of order 12, 20, 28 or 36: entries ±1, H·Hᵀ = n·I, and symmetric, so
/// the normalized transform is its own inverse.
///
/// Paley construction II with q = 5, 9, 13, 17 (q ≡ 1 mod 4; GF(9) for order 20): the
/// Jacobsthal matrix `Q[i][j] = χ(x_j − x_i)` gives the symmetric conference matrix
/// C = [[0, 1ᵀ], [1, Q]], and H = C ⊗ [[1, 1], [1, −1]] + I ⊗ [[1, −1], [−1, −1]].
///
/// # Panics
/// For any other order (an internal invariant: callers go through [`factor`]).
pub fn small_hadamard(n: usize) -> Vec<Vec<i8>> {
    let q = match n {
        12 => 5,
        20 => 9,
        28 => 13,
        36 => 17,
        _ => panic!("no Hadamard matrix of order {n} is built in"),
    };
    let f = Field::new(q);
    let c = |i: usize, j: usize| -> i8 {
        match (i, j) {
            (0, 0) => 0,
            (0, _) | (_, 0) => 1,
            _ => f.chi(f.sub(j - 1, i - 1)),
        }
    };
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    let (bi, bj, si, sj) = (i / 2, j / 2, i % 2, j % 2);
                    let kron = [[1, 1], [1, -1]][si][sj];
                    let diag = [[1, -1], [-1, -1]][si][sj];
                    c(bi, bj) * kron + if bi == bj { diag } else { 0 }
                })
                .collect()
        })
        .collect()
}

/// The dense, unnormalized H_k (±1 entries) for a supported k: H_a ⊗ H_{2^n}.
pub fn dense(k: usize) -> Result<Vec<Vec<i8>>> {
    let (a, p) = factor(k)?;
    let ha = if a == 1 {
        vec![vec![1i8]]
    } else {
        small_hadamard(a)
    };
    Ok((0..k)
        .map(|i| {
            (0..k)
                .map(|j| {
                    let s = if ((i % p) & (j % p)).count_ones() % 2 == 0 {
                        1
                    } else {
                        -1
                    };
                    ha[i / p][j / p] * s
                })
                .collect()
        })
        .collect())
}

/// Transform every row of `x` ([m, k] f32 or f16) in place on the GPU.
pub fn hadamard_inplace(ctx: &Context, x: &Tensor) -> Result<()> {
    ctx.run(|rec| transform(ctx, rec, None, x, None))
}

/// [`hadamard_inplace`] with a given workgroup tile (one of [`TILES`]) instead of the
/// preferred one; for tests and benchmarks.
pub fn hadamard_inplace_with_tile(ctx: &Context, x: &Tensor, tile: usize) -> Result<()> {
    hadamard_inplace_with(ctx, x, FirstPass::Tile(tile))
}

/// How the WGSL transform's first pass runs, where a caller picks it (tests, benchmarks);
/// by default rrs picks per size and adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstPass {
    /// The exchange kernel of a workgroup tile (one of [`TILES`]), and that tile's cross
    /// passes.
    Tile(usize),
    /// The subgroup kernel (rows whose power-of-two part is one of [`SUBGROUP_CHUNKS`], on
    /// a context with subgroups; see `shaders/hadamard_subgroup.wgsl`).
    Subgroup {
        /// Elements an invocation holds: 16 (chunks of 4096 … 16384) or 32 (16384, 32768).
        elements: usize,
        /// With 16 elements: whether the second round holds 16-byte quads (vector stores,
        /// more shuffle stages) rather than four index bits in registers (where the subgroup
        /// size does not allow quads, it runs without). 32 elements always hold quads.
        quads: bool,
    },
}

/// [`hadamard_inplace`] with the first pass `pass`; an [`Error::Unsupported`] where it
/// cannot run this size on this context.
pub fn hadamard_inplace_with(ctx: &Context, x: &Tensor, pass: FirstPass) -> Result<()> {
    ctx.run(|rec| transform(ctx, rec, None, x, Some(pass)))
}

/// Transform every row of `x` ([m, k] f32 or f16) into a new tensor of its dtype on the
/// GPU.
pub fn hadamard(ctx: &Context, x: &Tensor) -> Result<Tensor> {
    ctx.run(|rec| record_into(ctx, rec, x))
}

/// Transform every row of `src` into `dst`, a tensor of the same dtype and shape that the
/// caller keeps (nothing is allocated: for loops that reuse their buffers). `dst` may be
/// `src` itself (then in place).
pub fn hadamard_into(ctx: &Context, src: &Tensor, dst: &Tensor) -> Result<()> {
    let src = (!src.same_memory(dst)).then_some(src);
    ctx.run(|rec| transform(ctx, rec, src, dst, None))
}

/// Record the transform of `src` into a new tensor (out of place: the first pass reads
/// `src`, so nothing is copied).
pub fn encode_into(ctx: &Context, enc: &mut wgpu::CommandEncoder, src: &Tensor) -> Result<Tensor> {
    record_into(ctx, &mut Rec::wgpu(enc), src)
}

/// [`encode_into`] on either backend.
pub(crate) fn record_into(ctx: &Context, rec: &mut Rec, src: &Tensor) -> Result<Tensor> {
    src.expect_activations(ctx, "hadamard input", 2)?;
    let out = Tensor::output(ctx, src.dtype(), src.shape())?;
    transform(ctx, rec, Some(src), &out, None)?;
    Ok(out)
}

/// The transform of f16 `src` ([m, k]) into a new tensor and, where the backend fuses the
/// two (CUDA, k = 2^13: `cuda/hadamard.cu`'s `fwht_max_h_13`), a small f16 tensor of
/// partial channel maxima of the output ([blocks, k], blocks ≤ m: row b the max of |y| over
/// the rows that block b transformed), whose channel maxima ([`crate::channel_max`]) are
/// exactly those of the output: Runtime Smooth after a rotation then reads the rotated rows
/// once, for the codes, instead of twice. The output is bit for bit [`hadamard`]'s. `None`
/// where the backend does not fuse them (the caller then rotates and reduces as usual).
pub fn hadamard_with_maxima(ctx: &Context, src: &Tensor) -> Result<Option<(Tensor, Tensor)>> {
    ctx.run(|rec| record_with_maxima(ctx, rec, src))
}

/// [`hadamard_with_maxima`], recorded.
pub(crate) fn record_with_maxima(
    ctx: &Context,
    rec: &mut Rec,
    src: &Tensor,
) -> Result<Option<(Tensor, Tensor)>> {
    src.expect_activations(ctx, "hadamard input", 2)?;
    #[cfg(feature = "cuda")]
    if let Rec::Cuda(cu) = rec {
        let (rows, k) = src.rows_cols();
        if src.dtype() != DType::F16 || rows == 0 || !cu.fwht_fuses_max(k) {
            return Ok(None);
        }
        let out = Tensor::output(ctx, DType::F16, src.shape())?;
        let partial = Tensor::output(ctx, DType::F16, &[cu.fwht_max_blocks(rows, k)?, k])?;
        cu.fwht_max(src, &out, &partial)?;
        return Ok(Some((out, partial)));
    }
    let _ = (ctx, rec, src);
    Ok(None)
}

/// Whether [`crate::quantize::quantize_rotated`] computes the rotation of f32 rows of `k`
/// inside its kernel on this context instead of writing it first: on CUDA, where
/// `cuda/rotate.cu` has kernels for k (2^12 … 2^14), unless `RRS_CUDA_FUSE_ROTATION=0`.
pub fn fuses_rotation(ctx: &Context, k: usize) -> bool {
    #[cfg(feature = "cuda")]
    if let Some(cu) = &ctx.cuda {
        return cu.rotation_fuses(k);
    }
    let _ = (ctx, k);
    false
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    k: u32,
    chunk: u32,
    log2_chunk: u32,
    outer: u32,
    scale: f32,
    from_src: u32,
    quads: u32,
}

/// Record the in-place transform of `x` into `enc`.
pub fn encode(ctx: &Context, enc: &mut wgpu::CommandEncoder, x: &Tensor) -> Result<()> {
    transform(ctx, &mut Rec::wgpu(enc), None, x, None)
}

/// [`encode`] with a given workgroup tile (one of [`TILES`]); `None` picks the preferred
/// one ([`preferred_tiles`]).
pub fn encode_with_tile(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    x: &Tensor,
    tile: Option<usize>,
) -> Result<()> {
    encode_with(ctx, enc, x, tile.map(FirstPass::Tile))
}

/// [`encode`] with the first pass `pass` (`None`: rrs's choice).
pub fn encode_with(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    x: &Tensor,
    pass: Option<FirstPass>,
) -> Result<()> {
    transform(ctx, &mut Rec::wgpu(enc), None, x, pass)
}

/// The transform of `src` (or of `x` itself when `src` is `None`) into `x`.
fn transform(
    ctx: &Context,
    rec: &mut Rec,
    src: Option<&Tensor>,
    x: &Tensor,
    pass: Option<FirstPass>,
) -> Result<()> {
    x.expect_activations(ctx, "hadamard input", 2)?;
    let (rows, k) = x.rows_cols();
    if let Some(s) = src {
        s.expect_on(ctx, "hadamard source")?;
        if s.shape() != x.shape() || s.dtype() != x.dtype() {
            return Err(Error::Shape(format!(
                "hadamard source {:?} {:?} and destination {:?} differ",
                s.dtype(),
                s.shape(),
                x.shape()
            )));
        }
    }
    #[cfg(feature = "cuda")]
    if let Rec::Cuda(cu) = rec {
        let (mut outer, mut chunk) = factor(k)?;
        if outer > 1 && cu.fwht_fuses_cross(outer, chunk) {
            return cu.fwht_mixed(src, x, outer, chunk);
        }
        if outer == 1 && chunk == 1 << 15 && !cu.fwht_chunk_fits(chunk, x.dtype() == DType::F16) {
            // A GPU whose blocks cannot hold 2^15 (sm_75, sm_86, sm_89: 64 or 99 KiB): two
            // chunks of 2^14, then the last stage as a cross pass with H_2, which adds and
            // subtracts as the reference's last butterfly does (bit-identical).
            (outer, chunk) = (2, 1 << 14);
        }
        let staged = (outer > 1 && x.dtype() == DType::F16)
            .then(|| Tensor::output(ctx, DType::F32, x.shape()))
            .transpose()?;
        return cu.hadamard(src, x, outer, chunk, staged.as_ref());
    }
    if x.dtype() == DType::F16 {
        // Widen to f32, transform there, narrow once (`convert`): the reference's rounding.
        let wide = crate::convert::to_f32(ctx, rec, src.unwrap_or(x))?;
        transform(ctx, rec, None, &wide, pass)?;
        return crate::convert::narrow(ctx, rec, &wide, x);
    }
    let (a, p) = factor(k)?;
    // An m·2^n row that fits workgroup memory: one pass (unless a first pass is asked for).
    if let Some(kernel) = mixed_pass(ctx.limits(), a, p).filter(|_| pass.is_none()) {
        let params = Params {
            rows: rows as u32,
            k: k as u32,
            chunk: p as u32,
            log2_chunk: p.trailing_zeros(),
            outer: a as u32,
            scale: 1.0 / (k as f32).sqrt(),
            from_src: u32::from(src.is_some()),
            quads: 0,
        };
        let source = src.map_or(&ctx.gpu()?.dummy, |s| s.buffer());
        let bufs = [(1, x.buffer()), (3, source)];
        return ctx.dispatch(rec, kernel, &params, &bufs, grid_1d(rows as u32));
    }
    // The subgroup first pass where it fits (unless a tile is asked for), else the exchange
    // kernel of the tile.
    let (subgroup, tile) = match pass {
        Some(FirstPass::Tile(t)) => (None, Some(t)),
        Some(FirstPass::Subgroup { elements, quads }) => {
            let kernel = subgroup_pass(ctx, p, elements).ok_or_else(|| {
                Error::Unsupported(format!(
                    "the subgroup FWHT pass of {elements} elements an invocation does not run \
                     k = {k} on {} (power-of-two parts {SUBGROUP_CHUNKS:?}, on an adapter with \
                     subgroups)",
                    ctx.describe()
                ))
            })?;
            (Some((p, kernel, quads)), None)
        }
        None => {
            let chosen = default_subgroup_pass(ctx, p);
            let quads = ctx.subgroup_sizes().is_some_and(|sz| subgroup_quads(sz, p));
            (chosen.map(|kernel| (p, kernel, quads)), None)
        }
    };
    let (tile, [pow2_kernel, _, cross_kernel]) = variant(ctx, tile, k)?;
    let plan = plan(k, subgroup.map_or(tile, |(chunk, _, _)| chunk))?;
    // The chunk pass runs the smallest tile that holds a chunk: above the exchange buffer's
    // size, a tile must be one chunk (`shaders/hadamard_chunk.wgsl`, phases).
    let chunk_tile = plan.chunk.max(MIN_CHUNK_TILE);
    let chunk_kernel = match subgroup {
        Some((_, kernel, _)) => kernel,
        None => VARIANTS
            .into_iter()
            .find(|(t, _)| *t == chunk_tile)
            .map(|(_, kernels)| kernels)
            .expect("every chunk is a power of two between 2048 and a tile that fits")[1],
    };
    // 1/sqrt(k) once, in the last pass, as the reference applies it.
    let last = |pass: usize| {
        let passes = [plan.chunk > 1, plan.spread > 1, plan.a > 1];
        if passes[pass + 1..].iter().any(|&p| p) {
            1.0
        } else {
            1.0 / (k as f32).sqrt()
        }
    };
    let params = Params {
        rows: rows as u32,
        k: k as u32,
        chunk: plan.chunk as u32,
        log2_chunk: plan.chunk.trailing_zeros(),
        outer: 1,
        scale: last(0),
        from_src: u32::from(src.is_some() && plan.chunk > 1),
        quads: u32::from(subgroup.is_some_and(|(_, _, quads)| quads)),
    };
    if plan.chunk > 1 {
        let tiles = (rows * k).div_ceil(chunk_tile) as u32;
        let source = src.map_or(&ctx.gpu()?.dummy, |s| s.buffer());
        let bufs = [(1, x.buffer()), (3, source)];
        ctx.dispatch(rec, chunk_kernel, &params, &bufs, grid_1d(tiles))?;
    } else if let Some(s) = src {
        // No power-of-two part (k = 12, 20, 28, 36, or 1): the cross pass works in place.
        rec.encoder()
            .copy_buffer_to_buffer(s.buffer(), 0, x.buffer(), 0, (rows * k * 4) as u64);
    }
    let wg = workgroup_size(tile);
    if plan.spread > 1 {
        // Within each 2^n block (the row seen as `a` rows of 2^n).
        let p = Params {
            rows: (rows * plan.a) as u32,
            k: (k / plan.a) as u32,
            outer: plan.spread as u32,
            scale: last(1),
            ..params
        };
        let groups = grid_1d((rows * plan.a * plan.chunk).div_ceil(wg) as u32);
        ctx.dispatch(rec, pow2_kernel, &p, &[(1, x.buffer())], groups)?;
    }
    if plan.a > 1 {
        let block = plan.chunk * plan.spread;
        let p = Params {
            chunk: block as u32,
            outer: plan.a as u32,
            scale: last(2),
            ..params
        };
        let signs = ctx.constant(
            bytemuck::cast_slice(&plan.signs),
            wgpu::BufferUsages::STORAGE,
        )?;
        let bufs = [(1, x.buffer()), (2, &signs)];
        let groups = grid_1d((rows * block).div_ceil(wg) as u32);
        ctx.dispatch(rec, cross_kernel, &p, &bufs, groups)?;
    }
    Ok(())
}

/// CPU reference for f16 rows: each element as f32, [`reference()`], then rounded to the
/// nearest f16 once.
pub fn reference_f16(x: &[half::f16], k: usize) -> Result<Vec<half::f16>> {
    let wide: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
    Ok(reference(&wide, k)?
        .into_iter()
        .map(half::f16::from_f32)
        .collect())
}

/// CPU reference: the same transform, row by row (in-place butterflies on each
/// 2^n block, then the dense H_a across blocks, then 1/sqrt(k)).
pub fn reference(x: &[f32], k: usize) -> Result<Vec<f32>> {
    let (a, p) = factor(k)?;
    if !x.len().is_multiple_of(k) {
        return Err(Error::Shape(format!(
            "hadamard input of {} elements is not a whole number of rows of k = {k}",
            x.len()
        )));
    }
    let ha = (a > 1).then(|| small_hadamard(a));
    let norm = 1.0 / (k as f32).sqrt();
    let mut out = x.to_vec();
    let mut tmp = vec![0f32; a];
    for row in out.chunks_mut(k) {
        for block in row.chunks_mut(p) {
            let mut h = 1;
            while h < p {
                for i in (0..p).step_by(2 * h) {
                    for j in i..i + h {
                        let (u, v) = (block[j], block[j + h]);
                        block[j] = u + v;
                        block[j + h] = u - v;
                    }
                }
                h *= 2;
            }
        }
        if let Some(ha) = &ha {
            for pos in 0..p {
                for (i, t) in tmp.iter_mut().enumerate() {
                    *t = (0..a).map(|j| ha[i][j] as f32 * row[j * p + pos]).sum();
                }
                for (i, t) in tmp.iter().enumerate() {
                    row[i * p + pos] = *t;
                }
            }
        }
        for v in row.iter_mut() {
            *v *= norm;
        }
    }
    Ok(out)
}
