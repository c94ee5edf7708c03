// FP32 reference GEMM: y[i, n] = Σ_k x[i, k] · w[n, k], x: [m, k], w: [n, k], y: [m, n],
// all row-major f32. 64 × 64 output tile per workgroup, 4 × 4 per invocation, K in tiles
// of 16 through workgroup memory.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    _pad: u32,
}

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(0) var<uniform> p: Params;

const TILE: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> Xs: array<f32, 1024>; // [TILE][BK]
var<workgroup> Ws: array<f32, 1024>;

// Grid: (ceil(n / 64), ceil(m / 64)).
@compute @workgroup_size(256)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tx = lid % 16u;
    let ty = lid / 16u;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        for (var t = 0u; t < 4u; t++) {
            let e = lid + t * 256u;
            let r = e / BK;
            let kk = k0 + e % BK;
            var vx = 0.0;
            if row0 + r < p.m && kk < p.k {
                vx = x[(row0 + r) * p.k + kk];
            }
            Xs[e] = vx;
            var vw = 0.0;
            if col0 + r < p.n && kk < p.k {
                vw = w[(col0 + r) * p.k + kk];
            }
            Ws[e] = vw;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            for (var i = 0u; i < 4u; i++) {
                let a = Xs[(ty * 4u + i) * BK + kk];
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] += a * Ws[(tx * 4u + j) * BK + kk];
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
                y[r * p.n + c] = acc[i * 4u + j];
            }
        }
    }
}
