// Tiled INT4 GEMM (prefill) on tensor cores, through wgpu's experimental cooperative
// matrices (16 × 16 × 16, f16 operands, f32 accumulators). Same contract as `gemm.wgsl`
// without the gather:
//
//     y[i, n] = a_scale[i] · b_scale[n] · Σ_g s_g · Σ_{k in group g} qa[i, k] · qb[n, k]
//
// for k a multiple of 64 and, with smoothing scales, groups that are multiples of 64. The
// host prepends `const SCALED: bool` (whether group scales are applied).
//
// INT4 codes are exact in f16 (`coop_unpack.wgsl`) and their products exact in f32; a sum
// of them stays an exact integer in an f32 accumulator while below 2^24, whatever order the
// tensor cores add in. Plain (SCALED false): the accumulators run over all of k (exact for
// k < 2^18), so the output is the dp4a kernel's exact integer times a_scale · b_scale.
// Scaled, one set of accumulators in Horner form: they hold the running sum in units of the
// current group's scale, Σ_h s_h·P_h / s_g, and change units at each group's first step
// (times s_last / s_g) before its products add in; the output is s_g times them for the
// last g. K steps run last to first, so that the groups of a descending reorder (the
// channel_max sort) come in ascending order and each change of units shrinks the sum. The
// tensor cores add integers to a non-integer sum there (they may round toward zero once
// every 8 codes), so the bound is any summation order's over 8-code pieces plus the scale
// ratio's division (2.5 ulp in WGSL) and its product per group: (k/8 + 3·k/group + 8)·ε·
// |a·w|·Σ|s_g·P_piece| (`gemm.rs`, with the range where it holds). A second set of
// accumulators for the exact f32 fold of `gemm.wgsl` halved the warps an SM holds: 6.2
// against 4.5 ms plain at 8192³ on the H200.
//
// A workgroup (8 subgroups of 32 invocations; the host takes this kernel only where
// subgroups have exactly 32) computes a 128 × 128 tile of y; subgroup s the 32 × 64 part at
// rows 32 · (s / 2) and columns 64 · (s % 2), as 2 × 4 accumulators (named, not an array:
// with arrays of cooperative matrices the kernel ran 7.5× slower on the H200). Each K step
// of 64 codes, the invocations load the step's 2 vec4<u32> (32 codes each) of every row of
// A and W, one each, and unpack them to f16 in workgroup memory (rows padded to 72 halves,
// 144 bytes, so that the 8 rows of a 16-byte-per-row load fall in different banks); they
// load the next step's words before the products, so that those are in flight meanwhile.
// The output goes through a 16 × 16 stage per subgroup, scaled on the way out; rows past m
// and columns past n are zeros in, skipped out. The unpack is not what bounds it: a
// timing-only build that skipped A's ran slower (5.31 against 4.56 ms at 8192³ on the H200;
// it also spaces out the subgroups' cooperative loads after each barrier).

@group(0) @binding(1) var<storage, read> qa: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qb: array<vec4<u32>>;

const BT: u32 = 128u; // tile rows
const BN: u32 = 128u; // tile columns
const THREADS: u32 = 256u; // 8 subgroups of 32
const STEP: u32 = 64u; // codes per K step
const ROW: u32 = 18u; // vec4<f16> per padded tile row (72 halves)
const B_TILE: u32 = BT * ROW; // where W's rows start in `tiles`

var<workgroup> tiles: array<vec4<f16>, (BT + BN) * ROW>;
var<workgroup> stage: array<f32, 8u * 256u>; // one 16 × 16 block a subgroup

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

// Write the 16 × 16 block `t` at (row0, col0) of y, times `unit` and the row and column
// scales, through subgroup `sg`'s stage.
fn emit(t: coop_mat16x16<f32, C>, unit: f32, sg: u32, lane: u32, row0: u32, col0: u32) {
    let at = sg * 256u;
    coopStoreT(t, &stage[at], 16u);
    workgroupBarrier();
    for (var e = lane; e < 256u; e += 32u) {
        let i = row0 + e / 16u;
        let j = col0 + e % 16u;
        if i < p.m && j < p.n {
            y[i * p.n + j] = a_scale[i] * b_scale[j] * unit * stage[at + e];
        }
    }
    workgroupBarrier();
}

// Grid: (ceil(n / 128), ceil(m / 128)).
@compute @workgroup_size(THREADS)
fn gemm_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let sg = lid / 32u;
    let lane = lid % 32u;
    let i0 = wid.y * BT;
    let j0 = wid.x * BN;
    let ra = (sg / 2u) * 32u; // this subgroup's rows within the tile
    let cb = (sg % 2u) * 64u; // and columns
    // Each K step: invocation lid unpacks vec4 lid of A's 2 · BT (2 a row) and of W's
    // 2 · BN.
    let row = lid / 2u;
    let half = lid % 2u;
    let at_a = row * ROW + 8u * half;
    let at_b = B_TILE + at_a;
    let steps = p.k / STEP;
    var p00: coop_mat16x16<f32, C>;
    var p01: coop_mat16x16<f32, C>;
    var p02: coop_mat16x16<f32, C>;
    var p03: coop_mat16x16<f32, C>;
    var p10: coop_mat16x16<f32, C>;
    var p11: coop_mat16x16<f32, C>;
    var p12: coop_mat16x16<f32, C>;
    var p13: coop_mat16x16<f32, C>;
    // Scaled: the accumulators hold Σ s_h·P_h / s_g over the groups h done so far, g the
    // current one (the last steps first: groups of descending scales come in ascending).
    let per_group = p.group / STEP; // K steps a group
    var unit = 1.0;
    if SCALED {
        unit = gscale[(steps - 1u) / per_group];
    }
    var left = per_group; // steps left in the current group, counting this one
    var wa = step_word(true, i0 + row, p.m, half, steps - 1u);
    var wb = step_word(false, j0 + row, p.n, half, steps - 1u);
    for (var s = 0u; s < steps; s++) {
        let st = steps - 1u - s; // the K step this iteration does
        store_codes(at_a, wa);
        store_codes(at_b, wb);
        workgroupBarrier();
        if st > 0u {
            wa = step_word(true, i0 + row, p.m, half, st - 1u);
            wb = step_word(false, j0 + row, p.n, half, st - 1u);
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
            p00 = coopMultiplyAdd(a0, b0, p00);
            p01 = coopMultiplyAdd(a0, b1, p01);
            p02 = coopMultiplyAdd(a0, b2, p02);
            p03 = coopMultiplyAdd(a0, b3, p03);
            p10 = coopMultiplyAdd(a1, b0, p10);
            p11 = coopMultiplyAdd(a1, b1, p11);
            p12 = coopMultiplyAdd(a1, b2, p12);
            p13 = coopMultiplyAdd(a1, b3, p13);
        }
        if SCALED {
            // Before a group's first step, change units from the last group's scale to its:
            // here, after the products (before them, or every step with a factor 1, ran
            // 3% and 16% slower at 8192³ on the H200).
            left -= 1u;
            if left == 0u && st > 0u {
                let g = gscale[(st - 1u) / per_group];
                var r = unit / g;
                if !(r >= 0x1p-126f && r <= 0x1p127f) {
                    // Scales more than 2^126 apart: the ratio is no normal f32 (GPUs flush
                    // subnormals to 0). Take an exact 2^±64 out of it first. (The same eight
                    // products in a loop over the two factors ran 1.3× slower.)
                    let two64 = select(0x1p64f, 0x1p-64f, unit < g);
                    p00 = two64 * p00;
                    p01 = two64 * p01;
                    p02 = two64 * p02;
                    p03 = two64 * p03;
                    p10 = two64 * p10;
                    p11 = two64 * p11;
                    p12 = two64 * p12;
                    p13 = two64 * p13;
                    r = unit / two64 / g;
                }
                unit = g;
                left = per_group;
                p00 = r * p00;
                p01 = r * p01;
                p02 = r * p02;
                p03 = r * p03;
                p10 = r * p10;
                p11 = r * p11;
                p12 = r * p12;
                p13 = r * p13;
            }
        }
        workgroupBarrier();
    }
    let r0 = i0 + ra;
    let c0 = j0 + cb;
    emit(p00, unit, sg, lane, r0 + 0u, c0 + 0u);
    emit(p01, unit, sg, lane, r0 + 0u, c0 + 16u);
    emit(p02, unit, sg, lane, r0 + 0u, c0 + 32u);
    emit(p03, unit, sg, lane, r0 + 0u, c0 + 48u);
    emit(p10, unit, sg, lane, r0 + 16u, c0 + 0u);
    emit(p11, unit, sg, lane, r0 + 16u, c0 + 16u);
    emit(p12, unit, sg, lane, r0 + 16u, c0 + 32u);
    emit(p13, unit, sg, lane, r0 + 16u, c0 + 48u);
}
