// Normalized fast Walsh-Hadamard transform along the last dimension of a
// row-major [rows, k] f32 tensor, in place.
//
// H_k = H_outer ⊗ H_chunk: `fwht_chunk` applies the Sylvester transform to every
// contiguous chunk of `chunk` (a power of two, at most 4096) elements in
// workgroup memory; `cross` then applies a small dense ±1 matrix (`signs`,
// outer × outer: H_12, H_20, H_28, or a Sylvester matrix of size ≤ 8) across the
// chunks, element by element. Each pass multiplies by its own `scale`, so that
// the product of the passes is 1/sqrt(k).

struct Params {
    rows: u32,
    k: u32,
    chunk: u32,
    log2_chunk: u32,
    outer: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> signs: array<f32>;

const WG: u32 = 256u;
const MAX_CHUNK: u32 = 4096u;
const MAX_OUTER: u32 = 28u;

var<workgroup> buf: array<f32, MAX_CHUNK>;

// One workgroup per chunk; chunks are numbered row-major over [rows, k / chunk].
@compute @workgroup_size(256)
fn fwht_chunk(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = wid.x + wid.y * nwg.x;
    if c >= p.rows * (p.k / p.chunk) {
        return;
    }
    let base = c * p.chunk;
    for (var i = lid; i < p.chunk; i += WG) {
        buf[i] = x[base + i];
    }
    workgroupBarrier();
    for (var s = 0u; s < p.log2_chunk; s++) {
        let h = 1u << s;
        for (var t = lid; t < p.chunk / 2u; t += WG) {
            let i = ((t >> s) << (s + 1u)) + (t & (h - 1u));
            let a = buf[i];
            let b = buf[i + h];
            buf[i] = a + b;
            buf[i + h] = a - b;
        }
        workgroupBarrier();
    }
    for (var i = lid; i < p.chunk; i += WG) {
        x[base + i] = buf[i] * p.scale;
    }
}

// One invocation per (row, position inside a chunk): y[a] = scale * Σ_a' signs[a][a'] x[a'],
// where x[a'] is element a' * chunk + position of the row.
@compute @workgroup_size(256)
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
