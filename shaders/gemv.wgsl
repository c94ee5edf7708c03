// INT4 GEMM for decode (m ≤ 16 rows): memory bound, each packed weight byte read once.
// Same contract as `gemm.wgsl` without the gather: y[i, n] = a_scale[i] · b_scale[n] ·
// Σ_g s_g · Σ_{k in g} qa[i, k] · qb[n, k], for k a multiple of 32 and a group size that
// is a multiple of 32. The host prepends a dot snippet (`dot4x`).
//
// Each workgroup computes COLS = 16 output columns: the 32 invocations 32·c .. 32·c + 31
// walk the weight rows 2c, 2c + 1 of the workgroup's columns (NC = 2 a group), lane l
// reading 16 bytes (32 nibbles, one piece of a group) of each at vec4 index l, l + 32, …,
// so that every weight byte is read once, coalesced. Each activation vec4 is loaded and
// expanded once and used for the NC columns. Per vec4 the 32 products are summed exactly in
// i32 (nibbles expanded to 16 × value per byte: 256 × the product), then added to an f32
// accumulator times s_g (exact for integers below 2^24 when s_g = 1). The 32 lanes' sums
// are added through workgroup memory, two rows at a time, with three barriers per two rows.
// H200 (Vulkan, dp4a), N = K = 8192, ms for m = 1 / 16: the previous kernel (4 columns a
// group of lanes, a tree of six barriers per row) 0.0211 / 0.0934; with this reduction
// 0.0205 / 0.0793; with 2 columns a group as well (twice the workgroups) 0.0197 / 0.0772.
// The host's grid (`gemm::DECODE_COLUMNS` columns a workgroup) must match COLS.

@group(0) @binding(1) var<storage, read> qa: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qb: array<vec4<u32>>;

const MAXM: u32 = 16u;
const LANES: u32 = 32u;
const NC: u32 = 2u; // columns per 32 lanes
const COLS: u32 = 16u; // columns per workgroup

const GROUPS: u32 = 8u; // groups of 32 lanes per workgroup
const RED_ROWS: u32 = 2u; // rows reduced at a time
const RED_OUT: u32 = RED_ROWS * NC * GROUPS; // 32 outputs reduced at a time
const RED_PARTS: u32 = GROUPS * LANES / RED_OUT; // 8 invocations per output

// Partial sums [RED_ROWS][NC][GROUPS] × 32 lanes, 33 words apart (so that the invocations
// summing consecutive outputs read different banks), then [RED_PARTS][RED_OUT].
var<workgroup> red: array<f32, RED_OUT * 33u>;
var<workgroup> red_parts: array<f32, RED_PARTS * RED_OUT>;

fn slot(output: u32) -> u32 {
    return output * 33u;
}

// Grid: ceil(n / COLS) workgroups along x.
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
    // The 32 lanes' sums of each output, RED_ROWS rows at a time: RED_OUT outputs (row,
    // column) of 32 partial sums each; every invocation adds 32 / RED_PARTS of one output's,
    // then RED_OUT invocations the RED_PARTS results.
    let o = lid % RED_OUT;
    let part = lid / RED_OUT;
    for (var i0 = 0u; i0 < MAXM; i0 += RED_ROWS) {
        if i0 < p.m {
            for (var r = 0u; r < RED_ROWS; r++) {
                for (var j = 0u; j < NC; j++) {
                    red[slot((r * NC + j) * GROUPS + c) + l] = acc[(i0 + r) * NC + j];
                }
            }
            workgroupBarrier();
            var s = 0.0;
            for (var e = 0u; e < LANES / RED_PARTS; e++) {
                s += red[slot(o) + part * (LANES / RED_PARTS) + e];
            }
            red_parts[part * RED_OUT + o] = s;
            workgroupBarrier();
            if lid < RED_OUT {
                // Output o: row i0 + o / (NC · GROUPS), column group o % GROUPS, column
                // o / GROUPS % NC within it.
                let i = i0 + o / (NC * GROUPS);
                let col = wid.x * COLS + (o % GROUPS) * NC + (o / GROUPS) % NC;
                if i < p.m && col < p.n {
                    var t = 0.0;
                    for (var q = 0u; q < RED_PARTS; q++) {
                        t += red_parts[q * RED_OUT + o];
                    }
                    y[i * p.n + col] = a_scale[i] * b_scale[col] * t;
                }
            }
            workgroupBarrier();
        }
    }
}
