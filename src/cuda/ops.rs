//! The launches behind each op on the CUDA backend. The ops themselves (in `src/<op>.rs`)
//! check their arguments and allocate their outputs first, then call these.

use std::ffi::c_void;

use cudarc::driver::{DevicePtr, LaunchConfig};

use super::{
    Device, CHANNEL_MAX, GEMM, GEMM_WGMMA, HADAMARD, MATMUL, PERMUTE, QUANTIZE, ROTATE, WIDEN,
};
use crate::channel_max::{MAX_SCALE, MIN_SCALE};
use crate::context::CudaGemm;
use crate::error::{Error, Result};
use crate::gemm::GemmOptions;
use crate::quantize::{Quantized, Smooth};
use crate::tensor::{DType, Tensor};

/// The largest k the plain INT8 tensor-core kernel sums in i32 (its products are 256× the
/// codes': 256 · 64 · k < 2^31).
const PLAIN_INT8_MAX_K: usize = 65536;

/// A tile of the wgmma GEMM (`WG_HOST_CHECK` in `cuda/gemm_wgmma.cu`): its entry, its
/// consumer warpgroups (64 rows each) and its columns.
#[derive(Clone, Copy)]
struct WgmmaTile {
    entry: &'static str,
    consumers: usize,
    cols: usize,
    /// Blocks an SM holds (the kernel's `__launch_bounds__` minimum).
    per_sm: usize,
}

/// With group scales: 192 × 96 or 256 × 64 tiles, one block per SM, whichever has the
/// lower waves × wave time for the shape (`wgmma_step_tile`); each with the time of a wave
/// of blocks, µs, measured on the H200 at K = 8192 (only their ratio matters). Since the
/// producer signals before it waits (`01529dd`) the two are closer (46.0 and 42.4 before):
/// both tiles at M = 2048 / 4096 / 8192, two rounds, ms: 256 × 64 0.318–0.326 / 0.658–0.663
/// / 1.268–1.286, 192 × 96 0.325–0.327 / 0.634–0.636 / 1.196–1.199, so M = 4096 now takes
/// 192 × 96 (15 waves against 16).
const WGMMA_STEP: [(WgmmaTile, f64); 2] = [
    (
        WgmmaTile {
            entry: "gemm_wgmma_step_wide",
            consumers: 3,
            cols: 96,
            per_sm: 1,
        },
        42.0,
    ),
    (
        WgmmaTile {
            entry: "gemm_wgmma_step_tall",
            consumers: 4,
            cols: 64,
            per_sm: 1,
        },
        40.5,
    ),
];
/// Without: 128 × 64 tiles, two blocks per SM.
const WGMMA_PLAIN: WgmmaTile = WgmmaTile {
    entry: "gemm_wgmma_plain",
    consumers: 2,
    cols: 64,
    per_sm: 2,
};

/// The wgmma tile with group scales for an m × n output on `sms` SMs.
fn wgmma_step_tile(m: usize, n: usize, sms: usize) -> WgmmaTile {
    let time = |(t, wave): (WgmmaTile, f64)| t.blocks(m, n).div_ceil(sms.max(1)) as f64 * wave;
    let [wide, tall] = WGMMA_STEP;
    if time(tall) < time(wide) {
        tall.0
    } else {
        wide.0
    }
}

/// Tile columns a band of the tiled GEMMs' tile order (`banded_tile` in `cuda/common.cuh`;
/// measurements in `cuda/gemm_wgmma.cu`): bands walked row by row, so that each wave of
/// blocks reads a compact block of tiles and the next wave finds the band's W columns in
/// the L2. 8 for every tiled kernel: on the H200 the wgmma kernels' bands of 4 … 24 were
/// within 2% of each other, row-major up to 13% slower (packed weights past the L2).
const GEMM_BAND: u32 = 8;

/// The band of the GEMMs' tile order: what `RRS_CUDA_GEMM_BAND` sets (`value`, when the
/// variable is set: a number of tile columns, `0` for row-major), else [`GEMM_BAND`];
/// anything else is an error, not a silent default.
pub(crate) fn gemm_band_setting(value: Option<&str>) -> Result<u32> {
    let Some(v) = value else {
        return Ok(GEMM_BAND);
    };
    v.trim().parse::<u32>().map_err(|_| {
        Error::Unsupported(format!(
            "RRS_CUDA_GEMM_BAND={v:?}: expected a number of tile columns (0: row-major)"
        ))
    })
}

impl WgmmaTile {
    fn rows(self) -> usize {
        64 * self.consumers
    }

    /// A producer warpgroup and the consumers (`WG_THREADS`).
    fn threads(self) -> u32 {
        (128 * (1 + self.consumers)) as u32
    }

    /// Dynamic shared memory (`WG_SMEM`): four steps of packed A rows (64 B each), of W
    /// rows packed and unpacked (64 + 128 B), and eight mbarriers.
    fn smem(self) -> u32 {
        (4 * (self.rows() * 64 + self.cols * 192) + 2 * 4 * 8) as u32
    }

    /// Blocks of an m × n output.
    fn blocks(self, m: usize, n: usize) -> usize {
        m.div_ceil(self.rows()) * n.div_ceil(self.cols)
    }

    /// The kernel's checks of this tile, as NVRTC definitions (`gemm_wgmma_step_wide`:
    /// `RRS_HOST_WGMMA_STEP_WIDE_TILE`, …).
    fn defines(self) -> [String; 3] {
        let kind = self.entry["gemm_wgmma_".len()..].to_uppercase();
        [
            format!(
                "-DRRS_HOST_WGMMA_{kind}_TILE={}",
                self.consumers * 1000 + self.cols
            ),
            format!("-DRRS_HOST_WGMMA_{kind}_THREADS={}", self.threads()),
            format!("-DRRS_HOST_WGMMA_{kind}_SMEM={}", self.smem()),
        ]
    }
}

/// K steps the tensor-core GEMM keeps in flight on a GPU of compute capability `cc`
/// (`GEMM_STAGES` in `cuda/gemm.cu`).
fn gemm_stages(cc: (i32, i32)) -> usize {
    if cc.0 >= 9 {
        4
    } else {
        3
    }
}

/// Dynamic shared memory of the FWHT of `chunk` = 2^n elements (`cuda/hadamard.cu`): one
/// f32 per element (unused by blocks of fewer than 64 threads), plus, for the two-pass
/// kernels (2^12 … 2^14, but 2^14 not on sm_75, whose 64 KiB a block could not hold it;
/// `two_pass_logr`), four words of padding per 64 (enough for their slices of 64 or 128).
fn fwht_smem(chunk: usize, cc: (i32, i32)) -> u32 {
    (chunk * 4 + if two_pass(chunk, cc) { chunk / 4 } else { 0 }) as u32
}

/// The FWHT's normalization 1/sqrt(k), applied once at the end as the CPU reference
/// applies it: by the FWHT kernels and by the quantize that rotates its rows.
fn fwht_norm(k: usize) -> f32 {
    1.0 / (k as f32).sqrt()
}

/// Whether the FWHT of `chunk` = 2^n elements runs two passes (`two_pass_logr` in
/// `cuda/fwht.cuh`): 2^12 … 2^14, but 2^14 not on sm_75.
fn two_pass(chunk: usize, cc: (i32, i32)) -> bool {
    (4096..=16384).contains(&chunk) && (chunk < 16384 || cc >= (8, 0))
}

/// Dynamic shared memory of the streamed FWHT of 2^15 elements of `elem_bytes` each
/// (`STREAM_SMEM` in `cuda/hadamard.cu`): the next vector as it is, and an exchange buffer
/// of a vector of f32 plus four words of padding per 64 (half that beside a vector of f32, whose
/// exchanges then take two rounds).
fn fwht_stream_smem(elem_bytes: usize) -> u32 {
    let rounds = if elem_bytes == 4 { 2 } else { 1 };
    ((1 << 15) * elem_bytes + (32768 + 2048) / rounds * 4) as u32
}

/// Padding of each chunk of the one-pass m·2^n FWHT (`MIXED_PAD` in `cuda/hadamard.cu`).
const FWHT_MIXED_PAD: usize = 16;

/// Dynamic shared memory of the one-pass FWHT of `outer` chunks of `chunk` elements
/// (`fwht_mixed` in `cuda/hadamard.cu`): the row as f32, each chunk padded.
fn fwht_mixed_smem(outer: usize, chunk: usize) -> u32 {
    (outer * (chunk + FWHT_MIXED_PAD) * 4) as u32
}

/// Output columns per block of the decode kernels `gemv_mma` (`DEC_COLS`) and `gemv`
/// (`GEMV_WARPS · GEMV_COLS`) in `cuda/gemm.cu`.
const DECODE_COLUMNS: usize = 32;

/// What the launches above assume of a source's kernels on a GPU of compute capability
/// `cc`, as NVRTC `-D` definitions (`RRS_HOST_*`). Each source checks them against its own
/// constants with `static_assert`, so that a host and a kernel that drift apart fail to
/// compile (CI compiles every source for sm_75 … sm_90) instead of launching with the wrong
/// shared memory or grid.
pub(crate) fn host_defines(source: &str, cc: (i32, i32)) -> Vec<String> {
    match source {
        "hadamard" | "rotate" => (12..=14)
            .map(|l| format!("-DRRS_HOST_FWHT_SMEM_{l}={}", fwht_smem(1 << l, cc)))
            .chain([
                format!("-DRRS_HOST_FWHT_STREAM_SMEM_F32={}", fwht_stream_smem(4)),
                format!("-DRRS_HOST_FWHT_STREAM_SMEM_F16={}", fwht_stream_smem(2)),
                format!("-DRRS_HOST_FWHT_MIXED_PAD={FWHT_MIXED_PAD}"),
            ])
            .collect(),
        "quantize" => vec![format!(
            "-DRRS_HOST_QUANT_STREAM_STAGES={QUANT_STREAM_STAGES}"
        )],
        "channel_max" => vec![
            format!("-DRRS_HOST_RANK_CHANNELS={RANK_CHANNELS}"),
            format!("-DRRS_HOST_RANK_THREADS={RANK_THREADS}"),
        ],
        "gemm" => vec![
            format!("-DRRS_HOST_GEMM_STAGES={}", gemm_stages(cc)),
            format!("-DRRS_HOST_DECODE_COLUMNS={DECODE_COLUMNS}"),
        ],
        "gemm_wgmma" => WGMMA_STEP
            .iter()
            .map(|&(t, _)| t)
            .chain([WGMMA_PLAIN])
            .flat_map(WgmmaTile::defines)
            .collect(),
        _ => Vec::new(),
    }
}

/// Rows of shared memory a `quantize_stream` block streams through (`cuda/quantize.cu`).
const QUANT_STREAM_STAGES: usize = 2;

/// Channels a `rank_sort` block ranks, and its threads (`cuda/channel_max.cu`).
const RANK_CHANNELS: usize = 64;
const RANK_THREADS: u32 = 1024;

/// Rows each `absmax` block reduces, for `m` rows and `column_blocks` blocks across the
/// channels: up to 64, fewer (down to 8) where that leaves under four blocks an SM (e.g. the
/// 528 rows of partial maxima of `fwht_max_h_13` on an H200: 16 · 9 blocks of 59 rows took
/// 4.9 µs, 16 · 33 of 16 4.3 µs), and at most 1024 row blocks.
fn absmax_rows_per_block(m: usize, column_blocks: usize, sms: usize) -> usize {
    let row_blocks = (4 * sms).div_ceil(column_blocks.max(1));
    m.div_ceil(row_blocks).clamp(8, 64).max(m.div_ceil(1024))
}

/// A grid of `blocks` blocks (x only: CUDA allows 2^31 − 1).
fn grid(blocks: usize) -> Result<(u32, u32, u32)> {
    u32::try_from(blocks.max(1))
        .ok()
        .filter(|&b| b < i32::MAX as u32)
        .map(|b| (b, 1, 1))
        .ok_or_else(|| Error::TooLarge(format!("{blocks} CUDA blocks")))
}

fn config(grid: (u32, u32, u32), threads: u32, smem: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: grid,
        block_dim: (threads, 1, 1),
        shared_mem_bytes: smem,
    }
}

/// Launch `entry` of `source` with `cfg`; the arguments are references to locals, in the
/// kernel's parameter order (device pointers as `u64`).
macro_rules! launch {
    ($dev:expr, $source:expr, $entry:expr, $cfg:expr, [$($arg:expr),* $(,)?]) => {{
        let cfg: LaunchConfig = $cfg;
        let f = $dev.function($source, $entry, cfg.shared_mem_bytes)?;
        let mut args = [$(kernel_arg($arg)),*];
        // SAFETY: every op checked the shapes its kernel's indexing relies on, and the
        // arguments are in the kernel's parameter order with its types.
        unsafe { $dev.launch(&f, cfg, &mut args) }
            .map_err(|e| Error::Device(format!("launching {}: {e}", $entry)))
    }};
}

/// A kernel argument as `cuLaunchKernelEx` takes it: the address of the value.
fn kernel_arg<T>(value: &T) -> *mut c_void {
    value as *const T as *mut c_void
}

impl Device {
    /// The device pointer of a tensor's memory.
    fn p(&self, t: &Tensor) -> u64 {
        t.slice().device_ptr(&self.stream).0
    }

    /// The device pointer of an optional input (null when absent).
    fn p_opt(&self, t: Option<&Tensor>) -> u64 {
        t.map_or(0, |t| self.p(t))
    }

    /// dst (f32) = src (f16, same shape), exactly.
    pub fn widen(&self, src: &Tensor, dst: &Tensor) -> Result<()> {
        let (s, d, n) = (self.p(src), self.p(dst), src.numel() as u64);
        let cfg = config(grid(src.numel().div_ceil(256))?, 256, 0);
        launch!(self, WIDEN, "widen_h", cfg, [&s, &d, &n])
    }

    /// The first-pass FWHT kernel for chunks of `chunk` elements (f16 when `half`; `cross`:
    /// a cross pass follows, for which the streamed kernel has no entry), and its shared
    /// memory: the streamed one (2^15 on sm_90 and newer, `fwht_stream` in hadamard.cu, one
    /// block per SM) where a block may have its shared memory, else one block a chunk.
    fn fwht_variant(&self, chunk: usize, half: bool, cross: bool) -> (bool, u32) {
        let stream_smem = fwht_stream_smem(if half { 2 } else { 4 });
        if chunk == 1 << 15 && !cross && self.cc >= (9, 0) && self.smem_limit >= stream_smem {
            (true, stream_smem)
        } else {
            (false, fwht_smem(chunk, self.cc))
        }
    }

    /// Whether this device transforms chunks of `chunk` = 2^n elements in one pass (the
    /// streamed kernel, or one block a chunk whose shared memory fits): else the op splits
    /// them (2^15 as two chunks of 2^14 and a cross pass; `hadamard.rs`).
    pub fn fwht_chunk_fits(&self, chunk: usize, half: bool) -> bool {
        self.fwht_variant(chunk, half, false).1 <= self.smem_limit
    }

    /// FWHT of each row of `src` (or of `x` in place) into `x`: k = outer · chunk; f32 or
    /// f16 (both tensors the same dtype; f16 is converted to f32 on load and rounded once).
    /// An m·2^n size (`outer` = m > 1; or 2^15 split as two chunks of 2^14) runs a cross
    /// pass after the chunks' FWHT, with H_m from constant memory (`hadamard.cu`); in f16 the
    /// first pass writes `staged`, an f32 tensor of x's shape, and the cross pass rounds.
    pub fn hadamard(
        &self,
        src: Option<&Tensor>,
        x: &Tensor,
        outer: usize,
        chunk: usize,
        staged: Option<&Tensor>,
    ) -> Result<()> {
        let (rows, k) = x.rows_cols();
        let half = x.dtype() == DType::F16;
        let vectors = (rows * outer) as u64;
        let norm = fwht_norm(k);
        let cross = outer > 1;
        let scale = if cross { 1.0 } else { norm };
        let log2 = chunk.trailing_zeros();
        let (stream, smem) = self.fwht_variant(chunk, half, cross);
        let kind = if stream {
            "stream".to_string()
        } else {
            log2.to_string()
        };
        let staged = staged.filter(|_| half && cross);
        let (entry, dst) = match (staged, half) {
            (Some(t), _) => (format!("fwht_hf_{kind}"), t),
            (None, true) => (format!("fwht_h_{kind}"), x),
            (None, false) => (format!("fwht_{kind}"), x),
        };
        let threads = self.max_threads(HADAMARD, &entry, smem)?;
        let blocks = if stream {
            (rows * outer).min(self.sms)
        } else {
            rows * outer
        };
        let cfg = config(grid(blocks)?, threads, smem);
        let (dp, sp) = (self.p(dst), self.p_opt(src.or(staged.map(|_| x))));
        launch!(self, HADAMARD, &entry, cfg, [&dp, &sp, &vectors, &scale])?;
        if cross {
            let (rows64, chunk32) = (rows as u64, chunk as u32);
            let cfg = config(grid((rows * chunk).div_ceil(128))?, 128, 0);
            if staged.is_some() {
                let (yp, entry) = (self.p(x), format!("fwht_cross_fh_{outer}"));
                launch!(
                    self,
                    HADAMARD,
                    &entry,
                    cfg,
                    [&yp, &dp, &rows64, &chunk32, &norm]
                )?;
            } else {
                let entry = format!("fwht_cross_{outer}");
                launch!(self, HADAMARD, &entry, cfg, [&dp, &rows64, &chunk32, &norm])?;
            }
        }
        Ok(())
    }

    /// Shared memory of `fwht_max_h_<n>`: the two-pass FWHT's, and the next row staged as
    /// it is (f16).
    fn fwht_max_smem(&self, k: usize) -> u32 {
        fwht_smem(k, self.cc) + (k * 2) as u32
    }

    /// The entry of [`Device::fwht_max`] for rows of `k`, its threads and shared memory.
    fn fwht_max_kernel(&self, k: usize) -> Result<(String, u32, u32)> {
        let entry = format!("fwht_max_h_{}", k.trailing_zeros());
        let smem = self.fwht_max_smem(k);
        let threads = self.max_threads(HADAMARD, &entry, smem)?;
        Ok((entry, threads, smem))
    }

    /// Whether the f16 FWHT of rows of `k` also takes their channel maxima on this GPU
    /// ([`Device::fwht_max`]): k = 2^13, and `RRS_CUDA_FUSE_MAX` not `0`.
    pub fn fwht_fuses_max(&self, k: usize) -> bool {
        self.fuse_max && k == 1 << 13 && self.fwht_max_smem(k) <= self.smem_limit
    }

    /// The blocks of [`Device::fwht_max`] for `rows` rows: as many as the SMs hold at once
    /// (each takes every so-many-th row), at most one a row. Its `partial` has this many rows.
    pub fn fwht_max_blocks(&self, rows: usize, k: usize) -> Result<usize> {
        let (entry, threads, smem) = self.fwht_max_kernel(k)?;
        let per_sm = self.blocks_per_sm(HADAMARD, &entry, threads, smem)?;
        Ok(rows.min(per_sm * self.sms).max(1))
    }

    /// The normalized FWHT of each f16 row of `src` into `x` (k = 2^13, see
    /// [`Device::fwht_fuses_max`]), bit for bit as [`Device::hadamard`] writes it, and into
    /// row b of `partial` ([blocks, k] f16, blocks from [`Device::fwht_max_blocks`]) the max
    /// of |x[i, j]| over the rows i that block b transformed, so that the channel maxima of
    /// `partial` are those of x.
    pub fn fwht_max(&self, src: &Tensor, x: &Tensor, partial: &Tensor) -> Result<()> {
        let (rows, k) = x.rows_cols();
        let (entry, threads, smem) = self.fwht_max_kernel(k)?;
        let cfg = config(grid(partial.rows_cols().0)?, threads, smem);
        let (xp, sp, pp) = (self.p(x), self.p(src), self.p(partial));
        let (vectors, norm) = (rows as u64, fwht_norm(k));
        launch!(
            self,
            HADAMARD,
            &entry,
            cfg,
            [&xp, &sp, &vectors, &norm, &pp]
        )
    }

    /// Whether the FWHT of rows of `outer` · `chunk` elements (an m·2^n size) runs in one
    /// pass on this GPU (`fwht_mixed` in `cuda/hadamard.cu`): outer ∈ {12, 20, 28, 36},
    /// chunk 16 … 1024, the row's f32 copy within the shared memory a block may have, and
    /// `RRS_CUDA_FUSE_CROSS` not `0`.
    pub fn fwht_fuses_cross(&self, outer: usize, chunk: usize) -> bool {
        self.fuse_cross
            && crate::hadamard::FACTORS.contains(&outer)
            && (16..=1024).contains(&chunk)
            && fwht_mixed_smem(outer, chunk) <= self.smem_limit
    }

    /// The FWHT of each row of `src` (or of `x` in place) into `x` in one pass, for an
    /// m·2^n size that [`Device::fwht_fuses_cross`] takes: one block a row (f32 or f16, both
    /// tensors the same dtype; f16 widened on load and rounded once).
    pub fn fwht_mixed(
        &self,
        src: Option<&Tensor>,
        x: &Tensor,
        outer: usize,
        chunk: usize,
    ) -> Result<()> {
        let (rows, k) = x.rows_cols();
        if rows == 0 {
            return Ok(()); // one block a row, no row count in the kernel: launch none
        }
        let h = if x.dtype() == DType::F16 { "_h" } else { "" };
        let entry = format!("fwht_mixed{h}_{outer}_{}", chunk.trailing_zeros());
        let smem = fwht_mixed_smem(outer, chunk);
        let cfg = config(grid(rows)?, self.max_threads(HADAMARD, &entry, smem)?, smem);
        let (xp, sp, norm) = (self.p(x), self.p_opt(src), fwht_norm(k));
        launch!(self, HADAMARD, &entry, cfg, [&xp, &sp, &norm])
    }

    /// Whether `cuda/rotate.cu` fuses the normalized FWHT of rows of `k` with the quantize
    /// on this GPU: k = 2^12 … 2^14 (the two-pass sizes; its shared memory is theirs), and
    /// `RRS_CUDA_FUSE_ROTATION` is not `0`.
    pub fn rotation_fuses(&self, k: usize) -> bool {
        self.fuse_rotation
            && k.is_power_of_two()
            && two_pass(k, self.cc)
            && fwht_smem(k, self.cc) <= self.smem_limit
    }

    /// Channel maxima, the permutation (sorted, or as `stats[1]` already holds when not
    /// `sorted`) and the group scales into `stats` = [absmax, perm, scales, inv_scales].
    pub fn channel_max(
        &self,
        x: &Tensor,
        stats: [&Tensor; 4],
        status: &Tensor,
        group: usize,
        sorted: bool,
        row_exp: Option<&Tensor>,
    ) -> Result<()> {
        let [absmax, perm, scales, inv] = stats;
        let (m, k) = x.rows_cols();
        let (m32, k32, g32) = (m as u32, k as u32, group as u32);
        // The row-normalized statistic: each row's exponent first, one block a row.
        let rp = self.p_opt(row_exp);
        if row_exp.is_some() {
            let xp = self.p(x);
            let cfg = config(grid(m)?, 256, 0);
            let entry = match x.dtype() {
                DType::F16 => "row_exponent_h",
                _ => "row_exponent",
            };
            launch!(self, CHANNEL_MAX, entry, cfg, [&xp, &rp, &m32, &k32])?;
        }
        // f16: a thread takes two channels (`absmax_h`; the op checked that k is even).
        let (entry, per_thread) = match x.dtype() {
            DType::F16 => ("absmax_h", 2),
            _ => ("absmax", 1),
        };
        let column_blocks = k.div_ceil(256 * per_thread);
        let rows_per_block = absmax_rows_per_block(m, column_blocks, self.sms) as u32;
        let cfg = LaunchConfig {
            grid_dim: (
                column_blocks as u32,
                m.div_ceil(rows_per_block as usize) as u32,
                1,
            ),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let (xp, ap, pp) = (self.p(x), self.p(absmax), self.p(perm));
        launch!(
            self,
            CHANNEL_MAX,
            entry,
            cfg,
            [&xp, &ap, &rp, &m32, &k32, &rows_per_block]
        )?;
        if sorted {
            // RANK_CHANNELS channels a block; the keys staged in shared memory where they fit
            // beside the warps' counts (channel_max.cu).
            let counts = RANK_THREADS as usize / 32 * RANK_CHANNELS * 4;
            let (entry, smem) = if counts + k * 4 <= self.smem_limit as usize {
                ("rank_sort", counts + k * 4)
            } else {
                ("rank_sort_global", counts)
            };
            let cfg = config(grid(k.div_ceil(RANK_CHANNELS))?, RANK_THREADS, smem as u32);
            launch!(self, CHANNEL_MAX, entry, cfg, [&ap, &pp, &k32])?;
        }
        let (lo, hi) = (MIN_SCALE, MAX_SCALE);
        let (sp, ip, stp) = (self.p(scales), self.p(inv), self.p(status));
        // One warp per group, 8 a block (channel_max.cu).
        let cfg = config(grid((k / group).div_ceil(8))?, 256, 0);
        launch!(
            self,
            CHANNEL_MAX,
            "group_scales",
            cfg,
            [&ap, &pp, &sp, &ip, &stp, &k32, &g32, &lo, &hi]
        )
    }

    /// Smooth, quantize and pack `x` (f32 or f16) into `out` = [packed, scales]; `rotated`:
    /// the normalized FWHT of `x`'s rows, which the kernel computes (`fwht_quantize`; see
    /// [`Device::rotation_fuses`]; f16 rows rounded to f16 after it, as the FWHT stores them).
    pub fn quantize(
        &self,
        x: &Tensor,
        smooth: Smooth,
        group: usize,
        out: [&Tensor; 2],
        status: &Tensor,
        rotated: bool,
    ) -> Result<()> {
        let (m, k) = x.rows_cols();
        let (rows, k32, g32) = (m as u64, k as u32, group as u32);
        let (xp, pp, mp) = (
            self.p(x),
            self.p_opt(smooth.perm),
            self.p_opt(smooth.multipliers.map(|(s, _)| s)),
        );
        let (qp, sp, stp) = (self.p(out[0]), self.p(out[1]), self.p(status));
        // The f16 entries carry `_h` after the kernel's name.
        let h = if x.dtype() == DType::F16 { "_h" } else { "" };
        let elem = x.dtype().size();
        if rotated {
            let (entry, scale) = (
                format!("fwht_quantize{h}_{}", k.trailing_zeros()),
                fwht_norm(k),
            );
            let smem = fwht_smem(k, self.cc);
            let cfg = config(grid(m)?, self.max_threads(ROTATE, &entry, smem)?, smem);
            return launch!(
                self,
                ROTATE,
                &entry,
                cfg,
                [&xp, &pp, &mp, &qp, &sp, &stp, &rows, &g32, &scale]
            );
        }
        // A permuted row is staged in shared memory where it fits (160 KiB, and what the
        // device allows a block).
        let fits = smooth.perm.is_none() || k * elem <= (160 * 1024).min(self.smem_limit as usize);
        let stage = if smooth.perm.is_some() && fits {
            (k * elem) as u32
        } else {
            0
        };
        // Permuted rows of up to 8192 codes with one multiplier a word: `quantize_stream`,
        // persistent blocks that keep their permutation entries in registers and stage the
        // next row while they quantize one (QUANT_STREAM_STAGES rows of shared memory).
        // Other rows of up to 32768 codes: `quantize_regs`, one block a row, each value read
        // once and kept in registers (8 · words-per-thread of them); its entries are 256
        // threads × 1, 2, 4 or 8 words, and 1024 × 4. Both take the same arguments.
        let words = k / 8;
        let stream_smem = QUANT_STREAM_STAGES * k * elem;
        let in_registers = if smooth.perm.is_some()
            && smooth.multipliers.is_none_or(|_| group.is_multiple_of(8))
            && words <= 256 * 4
            && stream_smem <= self.smem_limit as usize
        {
            let per_thread = words.div_ceil(256).next_power_of_two().max(1);
            let entry = format!("quantize_stream{h}_256_{per_thread}");
            let per_sm = self.blocks_per_sm(QUANTIZE, &entry, 256, stream_smem as u32)?;
            let blocks = m.min(per_sm * self.sms);
            Some((entry, config(grid(blocks)?, 256, stream_smem as u32)))
        } else if fits && words <= 1024 * 4 {
            let (threads, per_thread) = match words.div_ceil(256) {
                w @ 0..=8 => (256, w.next_power_of_two().max(1)),
                _ => (1024, 4),
            };
            let entry = format!("quantize_regs{h}_{threads}_{per_thread}");
            Some((entry, config(grid(m)?, threads as u32, stage)))
        } else {
            None
        };
        if let Some((entry, cfg)) = in_registers {
            return launch!(
                self,
                QUANTIZE,
                &entry,
                cfg,
                [&xp, &pp, &mp, &qp, &sp, &stp, &rows, &k32, &g32]
            );
        }
        let staged = u32::from(stage > 0);
        let cfg = config(grid(m)?, 256, stage);
        let entry = format!("quantize{h}");
        launch!(
            self,
            QUANTIZE,
            &entry,
            cfg,
            [&xp, &pp, &mp, &qp, &sp, &stp, &rows, &k32, &g32, &staged]
        )
    }

    /// Reorder the codes of `packed` rows by `perm` into `out`.
    pub fn permute(&self, packed: &Tensor, perm: &Tensor, out: &Tensor) -> Result<()> {
        let (rows, kw) = packed.rows_cols();
        let (rows64, k32) = (rows as u64, (kw * 8) as u32);
        let (ip, pp, op) = (self.p(packed), self.p(perm), self.p(out));
        // Rows of k ≤ 12288 go through transposed tiles of 8 rows (4 · k bytes of shared
        // memory, no opt-in); rows up to 48 KiB packed (k ≤ 98304) are staged, as many a
        // block as on wgpu.
        if kw * 8 <= 12288 {
            let cfg = config(grid(rows.div_ceil(8))?, 256, (kw * 32) as u32);
            launch!(
                self,
                PERMUTE,
                "permute_tiles",
                cfg,
                [&ip, &pp, &op, &rows64, &k32]
            )
        } else if kw * 4 <= 48 << 10 {
            let per_block = crate::permute::rows_per_stage(rows, kw);
            let smem = (per_block * kw * 4) as u32;
            let cfg = config(grid(rows.div_ceil(per_block))?, 256, smem);
            let per_block = per_block as u32;
            launch!(
                self,
                PERMUTE,
                "permute_staged",
                cfg,
                [&ip, &pp, &op, &rows64, &k32, &per_block]
            )
        } else {
            let cfg = config(grid((rows * kw).div_ceil(256))?, 256, 0);
            launch!(
                self,
                PERMUTE,
                "permute",
                cfg,
                [&ip, &pp, &op, &rows64, &k32]
            )
        }
    }

    /// y = x · wᵀ in f32.
    pub fn matmul(&self, x: &Tensor, w: &Tensor, y: &Tensor) -> Result<()> {
        let (m, k) = x.rows_cols();
        let n = w.rows_cols().0;
        let (m32, n32, k32) = (m as u32, n as u32, k as u32);
        let cfg = LaunchConfig {
            grid_dim: (n.div_ceil(16) as u32, m.div_ceil(16) as u32, 1),
            block_dim: (16, 16, 1),
            shared_mem_bytes: 0,
        };
        let (xp, wp, yp) = (self.p(x), self.p(w), self.p(y));
        launch!(
            self,
            MATMUL,
            "matmul",
            cfg,
            [&xp, &wp, &yp, &m32, &n32, &k32]
        )
    }

    /// The A4W4 GEMM into `y`: for up to 16 rows the tensor-core decode kernel where k and the
    /// group are multiples of 128 (else the dp4a GEMV); the tensor-core kernel of this
    /// device's path where k and the group are multiples of 64; else the SIMT kernel.
    /// `opts.weight_perm` must already be applied to `w` (see `gemm::record`).
    pub fn gemm(&self, a: &Quantized, w: &Quantized, opts: &GemmOptions, y: &Tensor) -> Result<()> {
        let wp = &w.packed;
        let (m, n, k, group) = (a.rows, w.rows, a.k, opts.group);
        let scaled = opts.group_scales.is_some();
        let (m32, n32, k32, mut g32) = (m as u32, n as u32, k as u32, group as u32);
        let tiles = (n.div_ceil(128) as u32, m.div_ceil(128) as u32, 1);
        let (source, entry, cfg) = if m <= 16 && k % 128 == 0 && (!scaled || group % 128 == 0) {
            // 32 columns per block, K split over its 8 warps (gemm.cu).
            (
                GEMM,
                "gemv_mma".to_string(),
                config(grid(n.div_ceil(DECODE_COLUMNS))?, 256, 0),
            )
        } else if self.gemm == CudaGemm::Wgmma
            && k % 128 == 0
            && k < 1 << 26
            && if scaled {
                group == 128
            } else {
                k <= PLAIN_INT8_MAX_K
            }
        {
            // A producer and consumer warpgroups (gemm_wgmma.cu), a tile of WGMMA_STEP with
            // group scales, WGMMA_PLAIN without.
            let tile = if scaled {
                wgmma_step_tile(m, n, self.sms)
            } else {
                WGMMA_PLAIN
            };
            let entry = tile.entry;
            // Persistent blocks, as many as the SMs hold, each taking every grid-th tile.
            let blocks = tile.blocks(m, n).min(tile.per_sm * self.sms.max(1));
            let cfg = LaunchConfig {
                grid_dim: (blocks as u32, 1, 1),
                block_dim: (tile.threads(), 1, 1),
                shared_mem_bytes: tile.smem(),
            };
            (GEMM_WGMMA, entry.to_string(), cfg)
        } else if m <= 16 && k % 32 == 0 && (!scaled || group % 32 == 0) {
            // 8 warps of GEMV_COLS = 4 columns per block (gemm.cu; 2 measured faster at
            // N = 4096 but slower at N = 8192).
            (
                GEMM,
                "gemv".to_string(),
                config(grid(n.div_ceil(DECODE_COLUMNS))?, 256, 0),
            )
        } else if k % 64 == 0 && k < 1 << 26 && (!scaled || group % 64 == 0) {
            // K step 128 where k and the group allow it; shared memory as Layout in gemm.cu:
            // GEMM_STAGES stages × 2 operands × 128 rows × step / 2 bytes.
            let step = if k % 128 == 0 && (!scaled || group % 128 == 0) {
                128
            } else {
                64
            };
            let path = match self.gemm {
                CudaGemm::Int4 => "int4",
                // The shapes the wgmma kernel does not take run as on the INT8 path.
                CudaGemm::Int8 | CudaGemm::Wgmma => "int8",
            };
            // Without group scales the `_plain` kernel (fewer registers, two blocks per SM),
            // whose INT8 sums (256× the codes' products) fit i32 up to k = 65536; beyond, the
            // scaled kernel with unit scales, its sums added in f32 every 65536 codes.
            let entry = if scaled && group == step {
                format!("gemm_{path}_k{step}_step")
            } else if scaled {
                format!("gemm_{path}_k{step}")
            } else if path == "int8" && k > PLAIN_INT8_MAX_K {
                g32 = PLAIN_INT8_MAX_K as u32;
                format!("gemm_{path}_k{step}")
            } else {
                format!("gemm_{path}_k{step}_plain")
            };
            let cfg = LaunchConfig {
                grid_dim: tiles,
                block_dim: (256, 1, 1),
                shared_mem_bytes: (gemm_stages(self.cc) * 2 * 128 * step / 2) as u32,
            };
            (GEMM, entry, cfg)
        } else {
            let cfg = LaunchConfig {
                grid_dim: (n.div_ceil(128) as u32, m as u32, 1),
                block_dim: (128, 1, 1),
                shared_mem_bytes: 0,
            };
            (GEMM, "gemm_simt".to_string(), cfg)
        };
        if cfg.grid_dim.1 > 65535 {
            return Err(Error::TooLarge(format!(
                "{m} rows: the CUDA GEMM grid allows 65535 row blocks"
            )));
        }
        let (ap, wpp, sap, swp) = (
            self.p(&a.packed),
            self.p(wp),
            self.p(&a.scales),
            self.p(&w.scales),
        );
        let (gp, yp) = (self.p_opt(opts.group_scales), self.p(y));
        // The tiled kernels' band of tile columns (`banded_tile`); the others ignore it.
        let band = self.gemm_band;
        launch!(
            self,
            source,
            &entry,
            cfg,
            [&ap, &wpp, &sap, &swp, &gp, &yp, &m32, &n32, &k32, &g32, &band]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `RRS_CUDA_GEMM_BAND`: unset is the default, a number is the band, junk is an error.
    #[test]
    fn gemm_band_setting_parses_or_refuses() {
        assert_eq!(gemm_band_setting(None).unwrap(), GEMM_BAND);
        assert_eq!(gemm_band_setting(Some("0")).unwrap(), 0);
        assert_eq!(gemm_band_setting(Some(" 16 ")).unwrap(), 16);
        for bad in ["", "eight", "-1", "8x"] {
            let e = gemm_band_setting(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("RRS_CUDA_GEMM_BAND"), "{bad:?}: {e}");
        }
    }

    /// The rows a block of `absmax` cover every row in at most 1024 row blocks.
    #[test]
    fn absmax_blocks_cover_every_row() {
        for sms in [1, 46, 132] {
            for column_blocks in [1, 2, 16, 64] {
                for m in [1, 7, 8, 9, 528, 2048, 4096, 65536, 70000, 1 << 20] {
                    let r = absmax_rows_per_block(m, column_blocks, sms);
                    let blocks = m.div_ceil(r);
                    assert!(
                        blocks * r >= m && blocks <= 1024,
                        "m = {m}: {r} rows a block"
                    );
                    assert!(r >= 8 && (r <= 64 || r == m.div_ceil(1024)), "m = {m}: {r}");
                }
            }
        }
        // Large batches keep 64 rows a block; the H200's 528 partial rows take 16.
        assert_eq!(absmax_rows_per_block(4096, 16, 132), 64);
        assert_eq!(absmax_rows_per_block(528, 16, 132), 16);
    }

    /// The wgmma tile with group scales follows the waves of blocks on the H100/H200's 132
    /// SMs: 256 × 64 at M = 2048 and 4096 (N = 8192: 1024 and 2048 blocks, 8 and 16 waves,
    /// against 946 and 1892 of 192 × 96, also 8 and 15 waves but longer ones), 192 × 96 at
    /// 8192 (29 waves against 32) and for `tests/cuda.rs`'s shape chosen for it.
    #[test]
    fn wgmma_tile_follows_the_waves() {
        let entry = |m, n, sms| wgmma_step_tile(m, n, sms).entry;
        assert_eq!(entry(2048, 8192, 132), "gemm_wgmma_step_tall");
        assert_eq!(entry(4096, 8192, 132), "gemm_wgmma_step_wide");
        assert_eq!(entry(8192, 8192, 132), "gemm_wgmma_step_wide");
        assert_eq!(entry(300, 260, 132), "gemm_wgmma_step_tall");
        for sms in [114, 132] {
            assert_eq!(entry(1100, 1800, sms), "gemm_wgmma_step_wide", "{sms} SMs");
        }
    }
}
