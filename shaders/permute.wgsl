// Reorder the K dimension of packed INT4 rows: out[row, q] = src[row, perm[q]] nibble by
// nibble, for [rows, k / 8] u32 packed as `quantize.wgsl` writes them. Dynamic reorder
// runs it on the packed weights once per call, so that the GEMM reads them in order.
// Entries of perm past the row (>= k) read the row's last code.

struct Params {
    rows: u32,
    k: u32,
    // permute_staged: rows a workgroup stages at once (>= 1, rows_per_wg · k / 8 <=
    // STAGE_WORDS); each entry of the permutation is read once per workgroup, not per row.
    rows_per_wg: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
// The permutation [k] u32, read four entries at a time: entries 8w .. 8w + 7 (output
// word w) are perm[2w] and perm[2w + 1].
@group(0) @binding(2) var<storage, read> perm: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

// `permute_staged` holds up to STAGE_WORDS packed words of whole rows (rows of k <= 32768)
// in workgroup memory: 16 KiB, WebGPU's default limit.
const STAGE_WORDS: u32 = 4096u;
var<workgroup> stage: array<u32, STAGE_WORDS>;

// Code `ch` of a packed row, as the low nibble.
fn nibble(word: u32, ch: u32) -> u32 {
    return (word >> (4u * (ch % 8u))) & 0xfu;
}

// Channels 8w .. 8w + 7 of the permutation, clamped to the row.
fn channels(w: u32, j: u32) -> vec4<u32> {
    return min(perm[2u * w + j], vec4(p.k - 1u));
}

// Gather from device memory: one invocation per output word; grid: 1-D over
// ceil(rows · k / 8 / 256), folded. For rows longer than the stage. Each code is a
// random read within the row, so a row longer than L1 reads device memory at random.
@compute @workgroup_size(256)
fn permute(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let kw = p.k / 8u;
    let idx = (wid.x + wid.y * nwg.x) * 256u + lid;
    if idx >= p.rows * kw {
        return;
    }
    let base = idx / kw * kw;
    let w = idx % kw;
    var word = 0u;
    for (var j = 0u; j < 2u; j++) {
        let chs = channels(w, j);
        for (var c = 0u; c < 4u; c++) {
            word |= nibble(src[base + chs[c] / 8u], chs[c]) << (16u * j + 4u * c);
        }
    }
    dst[idx] = word;
}

// Gather from workgroup memory: a workgroup stages rows_per_wg consecutive rows (grid: 1-D
// over ceil(rows / rows_per_wg), folded), reading them once, coalesced, then gathers from
// the stage. The permutation (4 bytes a code, 8 times the packed row's bytes) is read once
// for all the staged rows. k <= 8 · STAGE_WORDS.
@compute @workgroup_size(256)
fn permute_staged(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let kw = p.k / 8u;
    let row0 = (wid.x + wid.y * nwg.x) * p.rows_per_wg;
    if row0 >= p.rows {
        return;
    }
    let words = min(p.rows_per_wg, p.rows - row0) * kw;
    let base = row0 * kw;
    for (var w = lid; w < words; w += 256u) {
        stage[w] = src[base + w];
    }
    workgroupBarrier();
    for (var w = lid; w < kw; w += 256u) {
        let lo = channels(w, 0u);
        let hi = channels(w, 1u);
        for (var r = 0u; r < words; r += kw) {
            var word = 0u;
            for (var c = 0u; c < 4u; c++) {
                word |= nibble(stage[r + lo[c] / 8u], lo[c]) << (4u * c);
                word |= nibble(stage[r + hi[c] / 8u], hi[c]) << (16u + 4u * c);
            }
            dst[base + r + w] = word;
        }
    }
}
