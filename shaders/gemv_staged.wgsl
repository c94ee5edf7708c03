// INT4 GEMM for decode with several rows (m ≤ ROWS, ROWS = 4, 8 or 16): the activations
// staged once a workgroup, four columns an invocation. Same contract as `gemv.wgsl`:
// y[i, n] = a_scale[i] · b_scale[n] · Σ_g s_g · Σ_{k in g} qa[i, k] · qb[n, k], for k a
// multiple of 32 below 2^18 and a group size that is a multiple of 32. The host prepends
// ROWS, SCALED (group scales or not) and a dot snippet (`dot4x`).
//
// `gemv.wgsl` loads and expands each row's activations in every group of 32 invocations
// and uses them for 2 columns. Here a workgroup (8 groups of 32 invocations, COLS = 32
// columns) walks k in chunks of 1024 codes: its 256 invocations load the chunk's ROWS
// rows once and expand them to one code a byte (sign-extended) in workgroup memory; then
// invocation l of group c reads codes 32·l … 32·l + 31 of each row there (two vec4<u32>,
// consecutive across the group, so conflict-free) for its 4 columns 32·wid.x + 4·c … + 3,
// whose words it read once from device memory (512 consecutive bytes of a weight row
// across the group). Weights are expanded to 16 × the code a byte, so a dot product of the
// two is 16 × the product sum, exact in i32. Rows past m are staged as zeros: ROWS is the
// host's bucket for m.
//
// Sums: each 32-code piece's dot products are chained onto a running i32 sum, each added
// to the one before. Without group scales (plain A4W4) the chain runs through the whole of
// the invocation's k (|16·P| ≤ 32·k) and the output is the exact integer, as for
// `gemv.wgsl`. With them (SCALED) each piece's chain starts at 0x4B400000, the bits of the
// f32 1.5·2^23, so that its end is the f32 1.5·2^23 + 16·P exactly (|16·P| ≤ 2^15), one
// subtraction gives 16·P, and it goes into an f32 accumulator as fma(s_g, 16·P, acc); the
// 1/16 goes into the output's scale (a power of two), so these are the roundings of
// fma(s_g, P, acc) and the decode bound of `gemm.rs` holds. The 32 invocations' sums of
// each output are then added through workgroup memory (the staging buffer, reused), two
// rows at a time.
//
// H200 (Vulkan), N = K = 8192, ms, against `gemv.wgsl` in the same command (m = 2 / 4 / 8
// / 16): plain 0.0194 / 0.0206 / 0.0317 / 0.0559 against 0.0222 / 0.0260 / 0.0366 / 0.0731;
// with group scales 0.0187 / 0.0199 / 0.0307 / 0.0555 against 0.0228 / 0.0267 / 0.0374 /
// 0.0727. Up to 4 rows it takes the time of m = 1 (0.0207, the weights' bytes); each row
// past that adds about 3 µs, the dot products' time. Tried: the rows written out (named
// accumulators and weights, no arrays): 5× slower; 8 columns an invocation: 1.3× slower
// at m = 16; the dot products summed in a tree instead of a chain: within 2%.

@group(0) @binding(1) var<storage, read> qa: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qb: array<vec4<u32>>;

const LANES: u32 = 32u;
const GROUPS: u32 = 8u; // groups of 32 invocations a workgroup
const NC: u32 = 4u; // columns an invocation
const COLS: u32 = GROUPS * NC; // columns a workgroup
const CHUNK: u32 = LANES; // vec4<u32> (32 codes each) of a row a chunk
const HALF: u32 = ROWS * CHUNK; // vec4 of one nibble half of the staged chunk
const LOW: u32 = 0x0f0f0f0fu;
const MAGIC: i32 = 0x4b400000; // bits of the f32 1.5 · 2^23
const RED_ROWS: u32 = 2u; // rows reduced at a time
const RED_OUT: u32 = RED_ROWS * COLS; // 64 outputs, 32 partial sums each
const RED_PARTS: u32 = GROUPS * LANES / RED_OUT; // 4 invocations an output

const RED_WORDS: u32 = RED_OUT * 33u + RED_PARTS * RED_OUT;

// The chunk: [half: low, high nibbles][row][32 vec4], one signed code a byte; then the
// reduction's partial sums, [RED_OUT][33] and [RED_PARTS][RED_OUT], as f32 bits
// (`gemm::staged_workgroup_bytes` is its size).
var<workgroup> stage: array<vec4<u32>, max(2u * HALF, RED_WORDS / 4u)>;

// The bytes of x (each 0 … 15) as signed codes: (b ^ 8) − 8 a byte, without borrows.
fn sext(x: u32) -> u32 {
    return ((x ^ 0x08080808u) + 0x78787878u) ^ 0x80808080u;
}

fn red_get(i: u32) -> f32 {
    return bitcast<f32>(stage[i / 4u][i % 4u]);
}

fn red_set(i: u32, x: f32) {
    stage[i / 4u][i % 4u] = bitcast<u32>(x);
}

// Grid: ceil(n / COLS) workgroups along x.
@compute @workgroup_size(256)
fn gemv_staged(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = lid / LANES;
    let l = lid % LANES;
    let col0 = wid.x * COLS + c * NC;
    let kv = p.k / 32u;
    var acc: array<f32, ROWS * NC>;
    var acci: array<i32, ROWS * NC>;
    for (var v0 = 0u; v0 < kv; v0 += CHUNK) {
        // Stage the chunk's rows: ROWS · CHUNK words, zeros past m and past k.
        for (var e = lid; e < HALF; e += GROUPS * LANES) {
            let i = e / CHUNK;
            let v = v0 + e % CHUNK;
            var a = vec4<u32>(0u);
            if i < p.m && v < kv {
                a = qa[i * kv + v];
            }
            stage[e] = vec4<u32>(sext(a.x & LOW), sext(a.y & LOW), sext(a.z & LOW), sext(a.w & LOW));
            stage[HALF + e] = vec4<u32>(
                sext((a.x >> 4u) & LOW),
                sext((a.y >> 4u) & LOW),
                sext((a.z >> 4u) & LOW),
                sext((a.w >> 4u) & LOW),
            );
        }
        workgroupBarrier();
        let v = v0 + l;
        var we: array<vec4<u32>, NC>;
        var wo: array<vec4<u32>, NC>;
        for (var j = 0u; j < NC; j++) {
            var w = vec4<u32>(0u);
            if col0 + j < p.n && v < kv {
                w = qb[(col0 + j) * kv + v];
            }
            we[j] = (w << vec4<u32>(4u)) & vec4<u32>(MASK);
            wo[j] = w & vec4<u32>(MASK);
        }
        var g = 0.0;
        if SCALED && v < kv {
            g = gscale[v * 32u / p.group];
        }
        for (var i = 0u; i < ROWS; i++) {
            let ae = stage[i * CHUNK + l];
            let ao = stage[HALF + i * CHUNK + l];
            for (var j = 0u; j < NC; j++) {
                // One chain of dot products, each added to the sum before it.
                var d = MAGIC;
                if !SCALED {
                    d = acci[i * NC + j];
                }
                d = dot4x(ae.x, we[j].x) + d;
                d = dot4x(ao.x, wo[j].x) + d;
                d = dot4x(ae.y, we[j].y) + d;
                d = dot4x(ao.y, wo[j].y) + d;
                d = dot4x(ae.z, we[j].z) + d;
                d = dot4x(ao.z, wo[j].z) + d;
                d = dot4x(ae.w, we[j].w) + d;
                d = dot4x(ao.w, wo[j].w) + d;
                if SCALED {
                    acc[i * NC + j] = fma(g, bitcast<f32>(d) - 12582912.0, acc[i * NC + j]);
                } else {
                    acci[i * NC + j] = d;
                }
            }
        }
        workgroupBarrier();
    }
    // Each output's 32 partial sums, RED_ROWS rows at a time: invocation l of group c
    // writes its RED_ROWS · NC sums to slots (r · COLS + c · NC + j) · 33 + l; then
    // invocation t adds 32 / RED_PARTS of output t / RED_PARTS's and RED_OUT invocations
    // the RED_PARTS results.
    let o = lid / RED_PARTS;
    let part = lid % RED_PARTS;
    let parts = RED_OUT * 33u;
    for (var i0 = 0u; i0 < ROWS; i0 += RED_ROWS) {
        if i0 >= p.m {
            break;
        }
        for (var r = 0u; r < RED_ROWS; r++) {
            for (var j = 0u; j < NC; j++) {
                var s = 0.0;
                if SCALED {
                    s = acc[(i0 + r) * NC + j];
                } else {
                    s = f32(acci[(i0 + r) * NC + j] >> 4u);
                }
                red_set((r * COLS + c * NC + j) * 33u + l, s);
            }
        }
        workgroupBarrier();
        var s = 0.0;
        for (var e = 0u; e < LANES / RED_PARTS; e++) {
            s += red_get(o * 33u + part * (LANES / RED_PARTS) + e);
        }
        red_set(parts + part * RED_OUT + o, s);
        workgroupBarrier();
        if lid < RED_OUT {
            // Output lid: row i0 + lid / COLS, column lid % COLS of the workgroup's.
            let i = i0 + lid / COLS;
            let col = wid.x * COLS + lid % COLS;
            if i < p.m && col < p.n {
                var t = 0.0;
                for (var q = 0u; q < RED_PARTS; q++) {
                    t += red_get(parts + q * RED_OUT + lid);
                }
                if SCALED {
                    t *= 0.0625;
                }
                y[i * p.n + col] = a_scale[i] * b_scale[col] * t;
            }
        }
        workgroupBarrier();
    }
}
