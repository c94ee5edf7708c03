// Tiled INT4 × INT4 GEMM with per-K-group smoothing scales and a dequantizing epilogue:
//
//     y[i, n] = a_scale[i] · b_scale[n] · Σ_g s_g · Σ_{k in group g} qa[i, k] · qb[n, k]
//
// qa: [m, k / 8] u32 and qb: [n, k / 8] u32, both packed as `quantize.wgsl` writes them.
// s_g = gscale[g] when flags bit 0, else 1. When flags bit 1 (dynamic reorder) the weight
// rows are read through `perm`: position q of the activations meets weight channel perm[q].
// The workgroup computes a 64 × 64 output tile, 4 × 4 per invocation, walking K in tiles of
// 128 (16 words) through workgroup memory. Products of one group are summed exactly in i32
// and turned into f32 (times s_g) once per group, at the group boundary.
// `dot8(a, b)` and `finish(acc)` come from a dot-product snippet prepended by the host
// (dot4I8Packed or portable shifts); Σ finish(Σ dot8) is the exact integer dot product.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    group: u32,
    flags: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(1) var<storage, read> qa: array<u32>;
@group(0) @binding(2) var<storage, read> qb: array<u32>;
@group(0) @binding(3) var<storage, read> a_scale: array<f32>;
@group(0) @binding(4) var<storage, read> b_scale: array<f32>;
@group(0) @binding(5) var<storage, read> gscale: array<f32>;
@group(0) @binding(6) var<storage, read> perm: array<u32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
@group(0) @binding(0) var<uniform> p: Params;

const TILE: u32 = 64u;
const KW: u32 = 16u; // words per K-tile (128 nibbles)
const SMOOTH: u32 = 1u;
const GATHER: u32 = 2u;

var<workgroup> As: array<u32, 1024>; // [TILE rows][KW words]
var<workgroup> Bs: array<u32, 1024>;
var<workgroup> Ps: array<u32, 128>;

// Grid: (ceil(n / 64), ceil(m / 64)).
@compute @workgroup_size(256)
fn gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % 16u;
    let ty = lid / 16u;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let kw = p.k / 8u;
    let group_words = p.group / 8u;
    let gather = (p.flags & GATHER) != 0u;

    var acc_f: array<f32, 16>;
    var acc_i: array<i32, 16>;
    for (var k0 = 0u; k0 < kw; k0 += KW) {
        if gather && lid < 128u && k0 * 8u + lid < p.k {
            Ps[lid] = perm[k0 * 8u + lid];
        }
        workgroupBarrier();
        for (var t = 0u; t < 4u; t++) {
            let e = lid + t * 256u;
            let r = e / KW;
            let w = e % KW;
            let gw = k0 + w;
            var va = 0u;
            if row0 + r < p.m && gw < kw {
                va = qa[(row0 + r) * kw + gw];
            }
            As[e] = va;
            var vb = 0u;
            let col = col0 + r;
            if col < p.n && gw < kw {
                if gather {
                    for (var i = 0u; i < 8u; i++) {
                        let ch = Ps[w * 8u + i];
                        let nib = (qb[col * kw + ch / 8u] >> (4u * (ch % 8u))) & 0xfu;
                        vb |= nib << (4u * i);
                    }
                } else {
                    vb = qb[col * kw + gw];
                }
            }
            Bs[e] = vb;
        }
        workgroupBarrier();
        for (var w = 0u; w < KW; w++) {
            var av: array<u32, 4>;
            var bv: array<u32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = As[(ty * 4u + i) * KW + w];
                bv[i] = Bs[(tx * 4u + i) * KW + w];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc_i[i * 4u + j] += dot8(av[i], bv[j]);
                }
            }
            let done = k0 + w + 1u;
            if done <= kw && done % group_words == 0u {
                var s = 1.0;
                if (p.flags & SMOOTH) != 0u {
                    s = gscale[done / group_words - 1u];
                }
                for (var e = 0u; e < 16u; e++) {
                    acc_f[e] += s * f32(finish(acc_i[e]));
                    acc_i[e] = 0;
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + ty * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + tx * 4u + j;
            if r < p.m && c < p.n {
                y[r * p.n + c] = a_scale[r] * b_scale[c] * acc_f[i * 4u + j];
            }
        }
    }
}
