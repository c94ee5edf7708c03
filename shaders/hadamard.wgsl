// Normalized fast Walsh-Hadamard transform along the last dimension of a row-major
// [rows, k] f32 tensor, in place.
//
// H_k = H_a ⊗ H_{2^n}, run as the CPU reference runs it (so the result is bit-identical):
// `fwht_chunk` applies the Sylvester transform to every contiguous chunk of `chunk` =
// 2^log2_chunk elements (the low stages); `cross_pow2` then applies the remaining
// power-of-two stages (a Sylvester H_outer, outer ≤ 16) across chunks with register
// butterflies; `cross` applies the dense ±1 H_a (`signs`, outer × outer ≤ 64: H_12, H_20,
// H_28, H_36) across the 2^n blocks, element by element. The host sets `rows`, `k`, `chunk`
// and `outer` of each pass, and a `scale` of 1 for all but the last (1/sqrt(k)).
//
// `fwht_chunk`: the host prepends `const TILE: u32 = ...; const WG: u32 = ...;` (tile and
// workgroup size). A workgroup loads TILE consecutive elements (one chunk, or several
// small ones), coalesced, into workgroup memory padded by one word per 16 (so that the
// strided reads below fall in distinct banks), then runs the butterfly stages in rounds:
// each invocation takes 16 elements at stride h into registers, applies up to four stages
// there, and writes them back. The first round covers the low `log2_chunk mod 4` stages
// (or 4); each later round covers 4. Finally the tile is stored, coalesced, times `scale`.

struct Params {
    rows: u32,
    k: u32,
    chunk: u32,
    log2_chunk: u32,
    outer: u32,
    scale: f32,
    from_src: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> signs: array<f32>;
// `fwht_chunk` reads its tile from `src` when `from_src` is set (out of place), else from x.
@group(0) @binding(3) var<storage, read> src: array<f32>;

const MAX_OUTER: u32 = 64u;

var<workgroup> buf: array<f32, TILE + TILE / 16u>;

fn pad(i: u32) -> u32 {
    return i + (i >> 4u);
}

// One workgroup per TILE elements (numbered wid.x + wid.y * nwg.x).
@compute @workgroup_size(WG)
fn fwht_chunk(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let total = p.rows * p.k;
    let t0 = (wid.x + wid.y * nwg.x) * TILE;
    if t0 >= total {
        return;
    }
    // Constant trip counts, loads first: all TILE / WG loads of an invocation are in flight
    // at once instead of one load-store round trip after another.
    var ld: array<f32, TILE / WG>;
    for (var t = 0u; t < TILE / WG; t++) {
        let i = t0 + lid + t * WG;
        ld[t] = 0.0;
        if i < total {
            if p.from_src != 0u {
                ld[t] = src[i];
            } else {
                ld[t] = x[i];
            }
        }
    }
    for (var t = 0u; t < TILE / WG; t++) {
        buf[pad(lid + t * WG)] = ld[t];
    }
    workgroupBarrier();
    let rounds = (p.log2_chunk + 3u) / 4u;
    let first = p.log2_chunk - 4u * (rounds - 1u);
    // h = 2^lh: the group's stride (shifts and masks, not divisions by a run-time h).
    var lh = 0u;
    for (var r = 0u; r < rounds; r++) {
        let h = 1u << lh;
        var bits = 4u;
        if r == 0u {
            bits = first;
        }
        for (var g = lid; g < TILE / 16u; g += WG) {
            // 16 elements at stride h whose index bits [log2 h, log2 h + 4) vary.
            let base = ((g >> lh) << (lh + 4u)) + (g & (h - 1u));
            var v: array<f32, 16>;
            for (var j = 0u; j < 16u; j++) {
                v[j] = buf[pad(base + j * h)];
            }
            // Stages s < bits over the 4 index bits of the group (constant bounds: unrolled,
            // so that v stays in registers).
            for (var s = 0u; s < 4u; s++) {
                if s < bits {
                    let half = 1u << s;
                    for (var j = 0u; j < 16u; j++) {
                        if (j & half) == 0u {
                            let a = v[j];
                            let b = v[j + half];
                            v[j] = a + b;
                            v[j + half] = a - b;
                        }
                    }
                }
            }
            for (var j = 0u; j < 16u; j++) {
                buf[pad(base + j * h)] = v[j];
            }
        }
        lh += bits;
        workgroupBarrier();
    }
    for (var t = 0u; t < TILE / WG; t++) {
        let i = lid + t * WG;
        if t0 + i < total {
            x[t0 + i] = buf[pad(i)] * p.scale;
        }
    }
}

// Power-of-two `outer` (≤ 16): the remaining Sylvester stages across chunks, as butterflies
// in registers. One invocation per (row, position inside a chunk).
@compute @workgroup_size(WG)
fn cross_pow2(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * nwg.x) * WG + lid;
    if idx >= p.rows * p.chunk {
        return;
    }
    let base = (idx / p.chunk) * p.k + idx % p.chunk;
    var v: array<f32, 16>;
    for (var a = 0u; a < 16u; a++) {
        v[a] = 0.0;
        if a < p.outer {
            v[a] = x[base + a * p.chunk];
        }
    }
    for (var s = 0u; s < 4u; s++) {
        let half = 1u << s;
        if half < p.outer {
            for (var j = 0u; j < 16u; j++) {
                if (j & half) == 0u {
                    let a = v[j];
                    let b = v[j + half];
                    v[j] = a + b;
                    v[j + half] = a - b;
                }
            }
        }
    }
    for (var a = 0u; a < 16u; a++) {
        if a < p.outer {
            x[base + a * p.chunk] = v[a] * p.scale;
        }
    }
}

// One invocation per (row, position inside a chunk): y[a] = scale * Σ_a' signs[a][a'] x[a'],
// where x[a'] is element a' * chunk + position of the row.
@compute @workgroup_size(WG)
fn cross(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * nwg.x) * WG + lid;
    if idx >= p.rows * p.chunk {
        return;
    }
    let row = idx / p.chunk;
    let pos = idx % p.chunk;
    let base = row * p.k + pos;
    var v: array<f32, MAX_OUTER>;
    for (var a = 0u; a < p.outer; a++) {
        v[a] = x[base + a * p.chunk];
    }
    for (var a = 0u; a < p.outer; a++) {
        var acc = 0.0;
        for (var b = 0u; b < p.outer; b++) {
            acc += signs[a * p.outer + b] * v[b];
        }
        x[base + a * p.chunk] = acc * p.scale;
    }
}
