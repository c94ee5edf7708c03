// INT4 GEMM for decode (m ≤ 16 rows): memory bound, each packed weight byte read once.
// Same contract as `gemm.wgsl` without the gather: y[i, n] = a_scale[i] · b_scale[n] ·
// Σ_g s_g · Σ_{k in g} qa[i, k] · qb[n, k], for k a multiple of 32 and a group size that
// is a multiple of 32. The host prepends a dot snippet (`dot4x`).
//
// Each workgroup computes 32 output columns: the 32 invocations 32·c .. 32·c + 31 walk the
// weight rows 4c .. 4c + 3 of the workgroup's columns, lane l reading 16 bytes (32 nibbles,
// one piece of a group) of each at vec4 index l, l + 32, …, so that every weight byte is
// read once, coalesced. Each activation vec4 is loaded and expanded once and used for the 4
// columns. Per vec4 the 32 products are summed exactly in i32 (nibbles expanded to 16 ×
// value per byte: 256 × the product), then added to an f32 accumulator times s_g (exact
// for integers below 2^24 when s_g = 1). The 32 lanes' sums are added in a tree in
// workgroup memory.

@group(0) @binding(1) var<storage, read> qa: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qb: array<vec4<u32>>;

const MAXM: u32 = 16u;
const LANES: u32 = 32u;
const NC: u32 = 4u; // columns per 32 lanes
const COLS: u32 = 32u; // columns per workgroup

var<workgroup> red: array<f32, 1024>; // [NC][256]

// Grid: ceil(n / 32) workgroups along x.
@compute @workgroup_size(256)
fn gemv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = lid / LANES;
    let l = lid % LANES;
    let col0 = wid.x * COLS + c * NC;
    let kv = p.k / 32u;
    let smoothing = (p.flags & SMOOTH) != 0u;
    var acc: array<f32, MAXM * NC>;
    for (var v = l; v < kv; v += LANES) {
        var we: array<vec4<u32>, NC>;
        var wo: array<vec4<u32>, NC>;
        for (var j = 0u; j < NC; j++) {
            var w = vec4<u32>(0u);
            if col0 + j < p.n {
                w = qb[(col0 + j) * kv + v];
            }
            we[j] = (w << vec4<u32>(4u)) & vec4<u32>(MASK);
            wo[j] = w & vec4<u32>(MASK);
        }
        var g = 1.0;
        if smoothing {
            g = gscale[v * 32u / p.group];
        }
        for (var i = 0u; i < MAXM; i++) {
            if i < p.m {
                let a = qa[i * kv + v];
                let ae = (a << vec4<u32>(4u)) & vec4<u32>(MASK);
                let ao = a & vec4<u32>(MASK);
                for (var j = 0u; j < NC; j++) {
                    let d = dot4x(ae.x, we[j].x) + dot4x(ao.x, wo[j].x)
                        + dot4x(ae.y, we[j].y) + dot4x(ao.y, wo[j].y)
                        + dot4x(ae.z, we[j].z) + dot4x(ao.z, wo[j].z)
                        + dot4x(ae.w, we[j].w) + dot4x(ao.w, wo[j].w);
                    acc[i * NC + j] = fma(g, f32(d >> 8u), acc[i * NC + j]);
                }
            }
        }
    }
    for (var i = 0u; i < MAXM; i++) {
        if i < p.m {
            for (var j = 0u; j < NC; j++) {
                red[j * 256u + lid] = acc[i * NC + j];
            }
            workgroupBarrier();
            for (var s = LANES / 2u; s > 0u; s >>= 1u) {
                if l < s {
                    for (var j = 0u; j < NC; j++) {
                        red[j * 256u + lid] += red[j * 256u + lid + s];
                    }
                }
                workgroupBarrier();
            }
            if l < NC && col0 + l < p.n {
                let col = col0 + l;
                y[i * p.n + col] = a_scale[i] * b_scale[col] * red[l * 256u + c * LANES];
            }
            workgroupBarrier();
        }
    }
}
