// INT4 GEMM for decode (m ≤ 16 rows) on tensor cores, through wgpu's experimental
// cooperative matrices (16 × 16 × 16, f16 operands, f32 accumulators). Same contract as
// `gemv.wgsl`: y[i, n] = a_scale[i] · b_scale[n] · Σ_g s_g · Σ_{k in g} qa[i, k] · qb[n, k],
// here for k a multiple of 128 and groups that are multiples of 128.
//
// INT4 codes are exact in f16 (`coop_unpack.wgsl`) and their products exact in f32; a sum
// of them stays an exact integer in the f32 accumulator while below 2^24 (|Σ| ≤ 64 · k,
// so for k < 2^18), whatever order the tensor cores add in. With unit scales the output
// is therefore the dp4a kernels' exact integer times a_scale · b_scale. With scales each
// 128-code step's exact sum P is folded as acc + s_g · P, and the subgroups' sums are
// added at the end: k/128 + 3 roundings, within the decode tolerance of `gemm.rs`.
//
// A workgroup (4 subgroups of 32 invocations; the host takes this kernel only where
// subgroups have exactly 32) computes the 16 × 16 outputs of rows 0 .. 15 and columns
// 16 · wid.x .. + 15. Subgroup s takes the K steps s, s + 4, s + 8, …: it unpacks its
// step's 16 activation rows and 16 weight rows (128 codes each, 2 vec4<u32> per
// invocation) to f16 in its own part of workgroup memory, then runs 8 k16 products into
// one accumulator. Rows are padded to 136 halves (272 bytes) so that the 16 rows a
// cooperative load reads start 16 bytes apart in the banks. The next step's words are
// loaded before the products, so they are in flight while the tensor cores run. Rows past
// m and columns past n are zeros.
//
// H200 (Vulkan), N = K = 8192: 0.056 ms at m = 16 against the dp4a kernel's 0.071, but
// flat in m (0.051 at m = 2, where the dp4a kernel takes 0.022), so the host takes it from
// m = `gemm::COOP_MIN_M`. Reading A from an f16 copy in device memory instead (cooperative
// loads from a storage buffer) took 0.115 ms. What bounds it (timing-only builds, 2026-12-01):
// without unpacking either operand it still takes 0.040 ms (the unpack is 29% of it), and
// in workgroups of one subgroup with K split across workgroups (cheap barriers, twice the
// warps) 0.056 ms, no faster; the rest is each step's cooperative loads and products,
// whose code the driver generates (BENCHMARKS.md). Not the chain of 8 products through one
// accumulator either: two independent chains (even and odd k16 slices, added at the end)
// took 0.0570 / 0.0568 ms against 0.0565 / 0.0562 (2026-12-04).

@group(0) @binding(1) var<storage, read> qa: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qb: array<vec4<u32>>;

const SUBGROUPS: u32 = 4u;
const STEP: u32 = 128u; // codes per K step
const ROW: u32 = 34u; // vec4<f16> per padded tile row (136 halves)
const TILE: u32 = 16u * ROW; // one operand's 16 rows
const OUT: u32 = 256u; // one subgroup's 16 × 16 sums

var<workgroup> tiles: array<vec4<f16>, SUBGROUPS * 2u * TILE>;
var<workgroup> sums: array<f32, SUBGROUPS * OUT>;

// The two vec4<u32> (64 codes) of row `row` that invocation half `h` holds in K step
// `step`; zeros past `rows` or past the last step.
fn step_words(packed_a: bool, row: u32, rows: u32, h: u32, step: u32, steps: u32) -> array<vec4<u32>, 2> {
    var v = array<vec4<u32>, 2>(vec4<u32>(0u), vec4<u32>(0u));
    if row < rows && step < steps {
        let at = row * (p.k / 32u) + step * (STEP / 32u) + 2u * h;
        if packed_a {
            v[0] = qa[at];
            v[1] = qa[at + 1u];
        } else {
            v[0] = qb[at];
            v[1] = qb[at + 1u];
        }
    }
    return v;
}

// Grid: ceil(n / 16) workgroups along x.
@compute @workgroup_size(128)
fn gemv_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let sg = lid / 32u;
    let lane = lid % 32u;
    let row = lane / 2u; // the operand row this invocation unpacks
    let h = lane % 2u; // which 64 codes of it
    let col0 = wid.x * 16u;
    let steps = p.k / STEP;
    let smoothing = (p.flags & SMOOTH) != 0u;
    let a_base = sg * 2u * TILE;
    let b_base = a_base + TILE;
    let at = row * ROW + 16u * h; // 64 codes = 16 vec4<f16>
    var acc: coop_mat16x16<f32, C>;
    var wa = step_words(true, row, p.m, h, sg, steps);
    var wb = step_words(false, col0 + row, p.n, h, sg, steps);
    // Every subgroup runs the same number of rounds (the barriers are workgroup-wide);
    // past the last step it multiplies zeros.
    for (var s0 = 0u; s0 < steps; s0 += SUBGROUPS) {
        let step = s0 + sg;
        store_codes(a_base + at, wa[0]);
        store_codes(a_base + at + 8u, wa[1]);
        store_codes(b_base + at, wb[0]);
        store_codes(b_base + at + 8u, wb[1]);
        workgroupBarrier();
        wa = step_words(true, row, p.m, h, step + SUBGROUPS, steps);
        wb = step_words(false, col0 + row, p.n, h, step + SUBGROUPS, steps);
        var part: coop_mat16x16<f32, C>;
        if !smoothing {
            part = acc;
        }
        for (var kk = 0u; kk < STEP / 16u; kk++) {
            // (`let` copies: naga 30's SPIR-V writer needs cooperative operands and indices
            // evaluated first.)
            let ia = a_base + 4u * kk;
            let ib = b_base + 4u * kk;
            let a = coopLoadT<coop_mat16x16<f16, A>>(&tiles[ia], ROW);
            let b = coopLoad<coop_mat16x16<f16, B>>(&tiles[ib], ROW);
            part = coopMultiplyAdd(a, b, part);
        }
        if smoothing {
            var g = 0.0;
            if step < steps {
                g = gscale[step * STEP / p.group];
            }
            acc = acc + g * part;
        } else {
            acc = part;
        }
        workgroupBarrier();
    }
    let result = acc;
    let at_sum = sg * OUT;
    coopStoreT(result, &sums[at_sum], 16u);
    workgroupBarrier();
    for (var o = lid; o < OUT; o += 128u) {
        let i = o / 16u;
        let col = col0 + o % 16u;
        if i < p.m && col < p.n {
            var t = 0.0;
            for (var q = 0u; q < SUBGROUPS; q++) {
                t += sums[q * OUT + o];
            }
            y[i * p.n + col] = a_scale[i] * b_scale[col] * t;
        }
    }
}
