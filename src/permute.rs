//! `permute`: reorder the K dimension of packed INT4 rows, `out[row, q] = src[row, perm[q]]`
//! nibble by nibble, on the GPU. Dynamic reorder runs it once per call on the packed
//! weights (reading and writing n · k / 2 bytes) so that the GEMM then reads them in order,
//! instead of gathering every nibble again in every output tile. Bit-exact.
//!
//! Rows of k ≤ 12288 where the adapter allows 4 · k bytes of workgroup (CUDA: shared)
//! memory go through tiles of 8 rows transposed in workgroup memory: one u32 per channel
//! holds the 8 rows' codes, so an output word of the 8 rows takes one load per channel
//! (`shaders/permute_tiles.wgsl`; on the H200 at n = k = 8192, 2–3 µs faster than staging
//! through Vulkan; on CUDA the dynamic-reorder layer at m = 2048 went from 587 to 560 µs).
//! Longer rows, k ≤ 32768 (16 KiB packed), are staged in workgroup memory where the adapter
//! allows it: a workgroup reads as many whole rows as 16 KiB holds, coalesced, gathers from
//! the stage rather than device memory at random, and reads each entry of the permutation
//! (4 bytes a code) once for all of them. Entries of `perm` past the row (≥ k) read the
//! row's last code; the op does not read the permutation back to check it.

use crate::context::{grid_1d, Context, Kernel, Rec};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

const PERMUTE: Kernel = Kernel {
    name: "permute",
    sources: &[include_str!("../shaders/permute.wgsl")],
    entry: "permute",
    // Every index is in range by construction: the op checks the tensors' sizes, and the
    // shader clamps the permutation's entries to the row.
    bounds_checks: false,
};

const PERMUTE_STAGED: Kernel = Kernel {
    entry: "permute_staged",
    ..PERMUTE
};

/// `permute_tiles` (`shaders/permute_tiles.wgsl`) for rows of k up to each size, with
/// 4 · k bytes of workgroup memory: the smallest that holds the row and fits the adapter
/// runs.
macro_rules! tiles_kernel {
    ($k:literal) => {
        (
            $k,
            Kernel {
                name: concat!("permute_tiles_", $k),
                sources: &[
                    concat!("const TILE_K: u32 = ", $k, "u;\n"),
                    include_str!("../shaders/permute.wgsl"),
                    include_str!("../shaders/nibble_tile.wgsl"),
                    include_str!("../shaders/permute_tiles.wgsl"),
                ],
                entry: "permute_tiles",
                bounds_checks: false,
            },
        )
    };
}
const TILES: [(usize, Kernel); 4] = [
    tiles_kernel!(2048),
    tiles_kernel!(4096),
    tiles_kernel!(8192),
    tiles_kernel!(12288),
];

/// The packed words (whole rows) that `permute_staged` holds: `STAGE_WORDS` in
/// `shaders/permute.wgsl`; the CUDA kernel stages as many.
const STAGE_WORDS: usize = 4096;

/// Rows a workgroup (CUDA block) stages at once: as many whole rows of `kw` packed words
/// as the stage holds, at least one (a row longer than the stage is staged alone where the
/// backend allows it), at most `rows`.
pub(crate) fn rows_per_stage(rows: usize, kw: usize) -> usize {
    (STAGE_WORDS / kw.max(1)).clamp(1, rows.max(1))
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    k: u32,
    rows_per_wg: u32,
    _pad: u32,
}

/// Permute packed rows (`[rows, k / 8]` u32) by `perm` (`[k]` u32) on the GPU.
pub fn permute(ctx: &Context, packed: &Tensor, perm: &Tensor) -> Result<Tensor> {
    ctx.run(|rec| record(ctx, rec, packed, perm))
}

/// Record [`permute`] into `enc`.
pub fn encode(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    packed: &Tensor,
    perm: &Tensor,
) -> Result<Tensor> {
    record(ctx, &mut Rec::wgpu(enc), packed, perm)
}

/// [`encode`] on either backend.
pub(crate) fn record(
    ctx: &Context,
    rec: &mut Rec,
    packed: &Tensor,
    perm: &Tensor,
) -> Result<Tensor> {
    packed.expect(ctx, "packed rows", DType::U32, 2)?;
    perm.expect(ctx, "permutation", DType::U32, 1)?;
    let (rows, kw) = packed.rows_cols();
    if perm.numel() != kw * 8 {
        return Err(Error::Shape(format!(
            "a permutation of {} entries for packed rows of k = {}",
            perm.numel(),
            kw * 8
        )));
    }
    let out = Tensor::output(ctx, DType::U32, packed.shape())?;
    #[cfg(feature = "cuda")]
    if let Rec::Cuda(cu) = rec {
        cu.permute(packed, perm, &out)?;
        return Ok(out);
    }
    let rows_per_wg = rows_per_stage(rows, kw);
    let params = Params {
        rows: rows as u32,
        k: (kw * 8) as u32,
        rows_per_wg: rows_per_wg as u32,
        _pad: 0,
    };
    let bufs = [(1, packed.buffer()), (2, perm.buffer()), (3, out.buffer())];
    let smem = ctx.limits().max_compute_workgroup_storage_size as usize;
    let tiles = TILES.iter().find(|(k, _)| kw * 8 <= *k && k * 4 <= smem);
    let (kernel, groups) = if let Some((_, kernel)) = tiles {
        (*kernel, rows.div_ceil(8))
    } else if kw <= STAGE_WORDS && smem >= STAGE_WORDS * 4 {
        (PERMUTE_STAGED, rows.div_ceil(rows_per_wg))
    } else {
        (PERMUTE, (rows * kw).div_ceil(256))
    };
    ctx.dispatch(rec, kernel, &params, &bufs, grid_1d(groups as u32))?;
    Ok(out)
}

/// CPU reference of [`permute`] (entries of `perm` past the row read its last code, as on
/// the GPU).
pub fn reference(packed: &[u32], k: usize, perm: &[u32]) -> Vec<u32> {
    let nib = |row: &[u32], c: usize| (row[c / 8] >> (4 * (c % 8))) & 0xf;
    packed
        .chunks(k / 8)
        .flat_map(|row| {
            (0..k / 8).map(move |w| {
                (0..8).fold(0u32, |word, i| {
                    word | nib(row, (perm[w * 8 + i] as usize).min(k - 1)) << (4 * i)
                })
            })
        })
        .collect()
}
