// Normalized fast Walsh-Hadamard transform along the last dimension of a row-major
// [rows, k] f32 tensor, in place: the passes after the first.
//
// H_k = H_a ⊗ H_{2^n}, run as the CPU reference runs it (so the result is bit-identical):
// `fwht_chunk` (`hadamard_chunk.wgsl`) applies the Sylvester transform to every contiguous
// chunk of `chunk` = 2^log2_chunk elements (the low stages); `cross_pow2` then applies the
// remaining power-of-two stages (a Sylvester H_outer, outer ≤ 16) across chunks with
// register butterflies; `cross` applies the dense ±1 H_a (`signs`, outer × outer ≤ 64:
// H_12, H_20, H_28, H_36) across the 2^n blocks, element by element. The host sets `rows`,
// `k`, `chunk` and `outer` of each pass, and a `scale` of 1 for all but the last
// (1/sqrt(k)).
//
// The host prepends `const TILE: u32 = ...; const WG: u32 = ...;` (the workgroup size) and
// `hadamard_params.wgsl`.

@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> signs: array<f32>;

const MAX_OUTER: u32 = 64u;

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
        // From the first product, not from 0: the reference's sum starts at -0.0, which
        // keeps a sum of negative zeros negative (0.0 + -0.0 is +0.0).
        var acc = signs[a * p.outer] * v[0];
        for (var b = 1u; b < p.outer; b++) {
            acc += signs[a * p.outer + b] * v[b];
        }
        x[base + a * p.chunk] = acc * p.scale;
    }
}
