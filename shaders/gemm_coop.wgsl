// Tiled INT4 GEMM (prefill) on tensor cores, through wgpu's experimental cooperative
// matrices (16 × 16 × 16, f16 operands, f32 accumulators). Same contract as `gemm.wgsl`
// without the gather:
//
//     y[i, n] = a_scale[i] · b_scale[n] · Σ_g s_g · Σ_{k in group g} qa[i, k] · qb[n, k]
//
// for k a multiple of 64 and, with smoothing scales, groups that are multiples of 64. The
// host prepends `const SCALED: bool`, so that the plain kernel has no second set of
// accumulators.
//
// INT4 codes are exact in f16 (`coop_unpack.wgsl`) and their products exact in f32; a sum
// of them stays an exact integer in an f32 accumulator while below 2^24, whatever order the
// tensor cores add in. Plain (SCALED false): the sums run over all of k in the
// accumulators (exact for k < 2^18), so the output is the dp4a kernel's exact integer
// times a_scale · b_scale. Scaled: each group's exact sum P_g collects in its own
// accumulators and is folded as t + s_g · P_g at the group's end, the same f32 terms in
// the same order as `gemm.wgsl` (within its 4ε bound).
//
// A workgroup (8 subgroups of 32 invocations; the host takes this kernel only where
// subgroups have exactly 32) computes a 128 × 128 tile of y; subgroup s the 32 × 64 part
// at rows 32 · (s / 2) and columns 64 · (s % 2), as 2 × 4 accumulators. Each K step of 64
// codes, every invocation loads one vec4<u32> (32 codes) of A and one of W, unpacks both
// to f16 in workgroup memory (rows padded to 72 halves, 144 bytes, so that the 8 rows of a
// 16-byte-per-row load fall in different banks), and loads the next step's words before
// the 4 × 8 products, so that they are in flight meanwhile. The output goes through a
// 16 × 16 stage per subgroup, scaled on the way out; rows past m and columns past n are
// zeros in, skipped out.

@group(0) @binding(1) var<storage, read> qa: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qb: array<vec4<u32>>;

const BT: u32 = 128u; // tile side
const STEP: u32 = 64u; // codes per K step
const ROW: u32 = 18u; // vec4<f16> per padded tile row (72 halves)
const B_TILE: u32 = BT * ROW; // where W's rows start in `tiles`

var<workgroup> tiles: array<vec4<f16>, 2u * BT * ROW>;
var<workgroup> stage: array<f32, 8u * 256u>;

// The vec4<u32> (32 codes) `half` of row `row` in K step `step`: zeros past `rows`.
fn step_word(packed_a: bool, row: u32, rows: u32, half: u32, step: u32) -> vec4<u32> {
    if row >= rows {
        return vec4<u32>(0u);
    }
    let at = row * (p.k / 32u) + step * (STEP / 32u) + half;
    if packed_a {
        return qa[at];
    }
    return qb[at];
}

// Write the 16 × 16 block `t` at (row0, col0) of y, scaled, through subgroup `sg`'s stage.
fn emit(t: coop_mat16x16<f32, C>, sg: u32, lane: u32, row0: u32, col0: u32) {
    let at = sg * 256u;
    coopStoreT(t, &stage[at], 16u);
    workgroupBarrier();
    for (var e = lane; e < 256u; e += 32u) {
        let i = row0 + e / 16u;
        let j = col0 + e % 16u;
        if i < p.m && j < p.n {
            y[i * p.n + j] = a_scale[i] * b_scale[j] * stage[at + e];
        }
    }
    workgroupBarrier();
}

// Grid: (ceil(n / 128), ceil(m / 128)).
@compute @workgroup_size(256)
fn gemm_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let sg = lid / 32u;
    let lane = lid % 32u;
    let i0 = wid.y * BT;
    let j0 = wid.x * BT;
    let ra = (sg / 2u) * 32u; // this subgroup's rows within the tile
    let cb = (sg % 2u) * 64u; // and columns
    let row = lid / 2u; // the tile row this invocation unpacks, of A and of W
    let half = lid % 2u;
    let at = row * ROW + 8u * half;
    let steps = p.k / STEP;
    var zero: coop_mat16x16<f32, C>;
    var t00: coop_mat16x16<f32, C>;
    var t01: coop_mat16x16<f32, C>;
    var t02: coop_mat16x16<f32, C>;
    var t03: coop_mat16x16<f32, C>;
    var t10: coop_mat16x16<f32, C>;
    var t11: coop_mat16x16<f32, C>;
    var t12: coop_mat16x16<f32, C>;
    var t13: coop_mat16x16<f32, C>;
    var p00: coop_mat16x16<f32, C>;
    var p01: coop_mat16x16<f32, C>;
    var p02: coop_mat16x16<f32, C>;
    var p03: coop_mat16x16<f32, C>;
    var p10: coop_mat16x16<f32, C>;
    var p11: coop_mat16x16<f32, C>;
    var p12: coop_mat16x16<f32, C>;
    var p13: coop_mat16x16<f32, C>;
    var wa = step_word(true, i0 + row, p.m, half, 0u);
    var wb = step_word(false, j0 + row, p.n, half, 0u);
    for (var s = 0u; s < steps; s++) {
        store_codes(at, wa);
        store_codes(B_TILE + at, wb);
        workgroupBarrier();
        if s + 1u < steps {
            wa = step_word(true, i0 + row, p.m, half, s + 1u);
            wb = step_word(false, j0 + row, p.n, half, s + 1u);
        }
        for (var kk = 0u; kk < STEP / 16u; kk++) {
            // (`let` copies: naga 30's SPIR-V writer needs cooperative operands and indices
            // evaluated first.)
            let ia0 = ra * ROW + 4u * kk;
            let ia1 = ia0 + 16u * ROW;
            let ib0 = B_TILE + cb * ROW + 4u * kk;
            let ib1 = ib0 + 16u * ROW;
            let ib2 = ib1 + 16u * ROW;
            let ib3 = ib2 + 16u * ROW;
            let a0 = coopLoadT<coop_mat16x16<f16, A>>(&tiles[ia0], ROW);
            let a1 = coopLoadT<coop_mat16x16<f16, A>>(&tiles[ia1], ROW);
            let b0 = coopLoad<coop_mat16x16<f16, B>>(&tiles[ib0], ROW);
            let b1 = coopLoad<coop_mat16x16<f16, B>>(&tiles[ib1], ROW);
            let b2 = coopLoad<coop_mat16x16<f16, B>>(&tiles[ib2], ROW);
            let b3 = coopLoad<coop_mat16x16<f16, B>>(&tiles[ib3], ROW);
            if SCALED {
                p00 = coopMultiplyAdd(a0, b0, p00);
                p01 = coopMultiplyAdd(a0, b1, p01);
                p02 = coopMultiplyAdd(a0, b2, p02);
                p03 = coopMultiplyAdd(a0, b3, p03);
                p10 = coopMultiplyAdd(a1, b0, p10);
                p11 = coopMultiplyAdd(a1, b1, p11);
                p12 = coopMultiplyAdd(a1, b2, p12);
                p13 = coopMultiplyAdd(a1, b3, p13);
            } else {
                t00 = coopMultiplyAdd(a0, b0, t00);
                t01 = coopMultiplyAdd(a0, b1, t01);
                t02 = coopMultiplyAdd(a0, b2, t02);
                t03 = coopMultiplyAdd(a0, b3, t03);
                t10 = coopMultiplyAdd(a1, b0, t10);
                t11 = coopMultiplyAdd(a1, b1, t11);
                t12 = coopMultiplyAdd(a1, b2, t12);
                t13 = coopMultiplyAdd(a1, b3, t13);
            }
        }
        if SCALED && ((s + 1u) * STEP) % p.group == 0u {
            let g = gscale[s * STEP / p.group];
            t00 = t00 + g * p00;
            p00 = zero;
            t01 = t01 + g * p01;
            p01 = zero;
            t02 = t02 + g * p02;
            p02 = zero;
            t03 = t03 + g * p03;
            p03 = zero;
            t10 = t10 + g * p10;
            p10 = zero;
            t11 = t11 + g * p11;
            p11 = zero;
            t12 = t12 + g * p12;
            p12 = zero;
            t13 = t13 + g * p13;
            p13 = zero;
        }
        workgroupBarrier();
    }
    let r0 = i0 + ra;
    let c0 = j0 + cb;
    emit(t00, sg, lane, r0 + 0u, c0 + 0u);
    emit(t01, sg, lane, r0 + 0u, c0 + 16u);
    emit(t02, sg, lane, r0 + 0u, c0 + 32u);
    emit(t03, sg, lane, r0 + 0u, c0 + 48u);
    emit(t10, sg, lane, r0 + 16u, c0 + 0u);
    emit(t11, sg, lane, r0 + 16u, c0 + 16u);
    emit(t12, sg, lane, r0 + 16u, c0 + 32u);
    emit(t13, sg, lane, r0 + 16u, c0 + 48u);
}
