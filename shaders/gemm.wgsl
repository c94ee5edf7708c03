// Tiled INT4 × INT4 GEMM with per-K-group smoothing scales and a dequantizing epilogue:
//
//     y[i, n] = a_scale[i] · b_scale[n] · Σ_g s_g · Σ_{k in group g} qa[i, k] · qb[n, k]
//
// qa: [m, k / 8] u32 and qb: [n, k / 8] u32, both packed as `quantize.wgsl` writes them.
// s_g = gscale[g] when flags bit 0, else 1. When flags bit 1 (dynamic reorder) the weight
// rows are read through `perm`: position q of the activations meets weight channel perm[q].
//
// The host prepends a tile snippet (BM: the square output tile; TM: outputs per invocation
// along each side; KV: vec4 words of expanded nibbles per K step, 4 · KV = 16 · KV
// nibbles) and a dot snippet (`dot4x`). 256 invocations each compute TM × TM outputs at
// rows ty + 16·i and columns tx + 16·j. Tiles are loaded into registers one K step ahead,
// then expanded into workgroup memory: each packed word becomes two words of four i8
// lanes holding 16 × the even and 16 × the odd nibbles, so the inner loop is nothing but
// 4-lane dot products, 256 × the exact integer products. Rows are padded by one vec4 so
// that the 16 rows read by a warp's lanes fall in different banks. Integer sums of one
// group are turned into f32 (times s_g) at the group boundary.

@group(0) @binding(1) var<storage, read> qa: array<u32>;
@group(0) @binding(2) var<storage, read> qb: array<u32>;
@group(0) @binding(6) var<storage, read> perm: array<u32>;

const THREADS: u32 = 256u;
const SIDE: u32 = 16u; // BM / TM
const STRIDE: u32 = KV + 1u; // vec4 per padded tile row
const UNITS: u32 = BM * KV / THREADS; // (row, word pair) units each invocation loads
const PAIRS: u32 = KV; // packed word pairs per row and K step
const GATHER: u32 = 2u;

var<workgroup> As: array<vec4<u32>, BM * STRIDE>;
var<workgroup> Bs: array<vec4<u32>, BM * STRIDE>;

// The 8 nibbles of weight row `col` at positions 8·gw .. 8·gw + 7, read through `perm`.
fn gathered(col: u32, kw: u32, gw: u32) -> u32 {
    var word = 0u;
    for (var i = 0u; i < 8u; i++) {
        let ch = perm[gw * 8u + i];
        let nib = (qb[col * kw + ch / 8u] >> (4u * (ch % 8u))) & 0xfu;
        word |= nib << (4u * i);
    }
    return word;
}

// Two consecutive packed words of row `row` starting at word `gw` (zeros past the edges).
fn load_pair(is_b: bool, row: u32, rows: u32, kw: u32, gw: u32) -> vec2<u32> {
    var v = vec2<u32>(0u, 0u);
    if row >= rows {
        return v;
    }
    for (var h = 0u; h < 2u; h++) {
        let w = gw + h;
        if w < kw {
            if !is_b {
                v[h] = qa[row * kw + w];
            } else if (p.flags & GATHER) != 0u {
                v[h] = gathered(row, kw, w);
            } else {
                v[h] = qb[row * kw + w];
            }
        }
    }
    return v;
}

fn expand(v: vec2<u32>) -> vec4<u32> {
    return vec4<u32>((v.x << 4u) & MASK, v.x & MASK, (v.y << 4u) & MASK, v.y & MASK);
}

// Grid: (ceil(n / BM), ceil(m / BM)).
@compute @workgroup_size(256)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % SIDE;
    let ty = lid / SIDE;
    let row0 = wid.y * BM;
    let col0 = wid.x * BM;
    let kw = (p.k + 7u) / 8u;
    let steps = (kw + 2u * PAIRS - 1u) / (2u * PAIRS);

    var ra: array<vec2<u32>, UNITS>;
    var rb: array<vec2<u32>, UNITS>;
    for (var u = 0u; u < UNITS; u++) {
        let e = lid + u * THREADS;
        let gw = 2u * (e % PAIRS);
        ra[u] = load_pair(false, row0 + e / PAIRS, p.m, kw, gw);
        rb[u] = load_pair(true, col0 + e / PAIRS, p.n, kw, gw);
    }

    var acc_f: array<f32, TM * TM>;
    var acc_i: array<i32, TM * TM>;
    for (var s = 0u; s < steps; s++) {
        workgroupBarrier();
        for (var u = 0u; u < UNITS; u++) {
            let e = lid + u * THREADS;
            let idx = (e / PAIRS) * STRIDE + e % PAIRS;
            As[idx] = expand(ra[u]);
            Bs[idx] = expand(rb[u]);
        }
        workgroupBarrier();
        if s + 1u < steps {
            let next = (s + 1u) * 2u * PAIRS;
            for (var u = 0u; u < UNITS; u++) {
                let e = lid + u * THREADS;
                let gw = next + 2u * (e % PAIRS);
                ra[u] = load_pair(false, row0 + e / PAIRS, p.m, kw, gw);
                rb[u] = load_pair(true, col0 + e / PAIRS, p.n, kw, gw);
            }
        }
        for (var v = 0u; v < KV; v++) {
            var b: array<vec4<u32>, TM>;
            for (var j = 0u; j < TM; j++) {
                b[j] = Bs[(tx + SIDE * j) * STRIDE + v];
            }
            for (var i = 0u; i < TM; i++) {
                let a = As[(ty + SIDE * i) * STRIDE + v];
                for (var j = 0u; j < TM; j++) {
                    acc_i[i * TM + j] += dot4x(a.x, b[j].x) + dot4x(a.y, b[j].y)
                        + dot4x(a.z, b[j].z) + dot4x(a.w, b[j].w);
                }
            }
            // 16 nibbles per vec4; flush at each group boundary and at the end of K.
            let done = s * 16u * KV + (v + 1u) * 16u;
            if done - 16u < p.k && (done % p.group == 0u || done >= p.k) {
                var g = 1.0;
                if (p.flags & SMOOTH) != 0u {
                    g = gscale[(min(done, p.k) - 1u) / p.group];
                }
                for (var e = 0u; e < TM * TM; e++) {
                    acc_f[e] = fma(g, f32(acc_i[e] >> 8u), acc_f[e]);
                    acc_i[e] = 0;
                }
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let r = row0 + ty + SIDE * i;
        for (var j = 0u; j < TM; j++) {
            let c = col0 + tx + SIDE * j;
            if r < p.m && c < p.n {
                y[r * p.n + c] = a_scale[r] * b_scale[c] * acc_f[i * TM + j];
            }
        }
    }
}
