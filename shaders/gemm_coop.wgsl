// Tiled INT4 GEMM (prefill) on tensor cores, through wgpu's experimental cooperative
// matrices (16 × 16 × 16, f16 operands, f32 accumulators). Same contract as `gemm.wgsl`
// without the gather:
//
//     y[i, n] = a_scale[i] · b_scale[n] · Σ_g s_g · Σ_{k in group g} qa[i, k] · qb[n, k]
//
// for k a multiple of 64 and, with smoothing scales, groups that are multiples of 64. The
// host prepends `const SCALED: bool` (whether group scales are folded, with a second set of
// accumulators), `const CC: u32` (2 or 4 accumulator columns a subgroup) and `const SGC:
// u32` (2 or 4 subgroup columns): plain 4 and 2, scaled 2 and 4 (`gemm.rs` has the
// measurements).
//
// INT4 codes are exact in f16 (`coop_unpack.wgsl`) and their products exact in f32; a sum
// of them stays an exact integer in an f32 accumulator while below 2^24, whatever order the
// tensor cores add in. The products collect in the accumulators p. Plain (SCALED false):
// they run over all of k (exact for k < 2^18), so the output is the dp4a kernel's exact
// integer times a_scale · b_scale. Scaled: p holds one group's exact sum P_g, folded into
// the accumulators t as t + s_g · P_g at the group's end, the same f32 terms in the same
// order as `gemm.wgsl` (within its 4ε bound).
//
// A workgroup (4 × SGC subgroups of 32 invocations; the host takes this kernel only where
// subgroups have exactly 32) computes a 128 × BN tile of y (BN = 16 · CC · SGC); subgroup
// s the 32 × 16·CC part at rows 32 · (s / SGC) and columns 16·CC · (s % SGC), as 2 × CC
// accumulators (named, not an array: with arrays of cooperative matrices the plain kernel
// ran 7.5× slower on the H200). Each K step of 64 codes, the invocations load the step's
// 2 vec4<u32> (32 codes each) of every row of A and W, one each at most, and unpack them to
// f16 in workgroup memory (rows padded to 72 halves, 144 bytes, so that the 8 rows of a
// 16-byte-per-row load fall in different banks); they load the next step's words before
// the products, so that those are in flight meanwhile. The output goes through a 16 × 16
// stage per subgroup (8 at a time), scaled on the way out; rows past m and columns past n
// are zeros in, skipped out.

@group(0) @binding(1) var<storage, read> qa: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qb: array<vec4<u32>>;

const BT: u32 = 128u; // tile rows
const BN: u32 = 16u * CC * SGC; // tile columns
const SUBGROUPS: u32 = 4u * SGC;
const THREADS: u32 = 32u * SUBGROUPS;
const STEP: u32 = 64u; // codes per K step
const ROW: u32 = 18u; // vec4<f16> per padded tile row (72 halves)
const B_TILE: u32 = BT * ROW; // where W's rows start in `tiles`

var<workgroup> tiles: array<vec4<f16>, (BT + BN) * ROW>;
var<workgroup> stage: array<f32, 8u * 256u>; // 8 subgroups write out at a time

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

// Write the 16 × 16 block `t` at (row0, col0) of y, scaled, through subgroup `sg`'s stage
// (8 subgroups at a time; every subgroup takes part in every barrier).
fn emit(t: coop_mat16x16<f32, C>, sg: u32, lane: u32, row0: u32, col0: u32) {
    for (var first = 0u; first < SUBGROUPS; first += 8u) {
        let mine = sg >= first && sg < first + 8u;
        let at = ((sg - first) % 8u) * 256u;
        if mine {
            coopStoreT(t, &stage[at], 16u);
        }
        workgroupBarrier();
        if mine {
            for (var e = lane; e < 256u; e += 32u) {
                let i = row0 + e / 16u;
                let j = col0 + e % 16u;
                if i < p.m && j < p.n {
                    y[i * p.n + j] = a_scale[i] * b_scale[j] * stage[at + e];
                }
            }
        }
        workgroupBarrier();
    }
}

// Grid: (ceil(n / 128), ceil(m / 128)).
@compute @workgroup_size(THREADS)
fn gemm_coop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let sg = lid / 32u;
    let lane = lid % 32u;
    let i0 = wid.y * BT;
    let j0 = wid.x * BN;
    let ra = (sg / SGC) * 32u; // this subgroup's rows within the tile
    let cb = (sg % SGC) * (16u * CC); // and columns
    // Each K step: invocation lid unpacks vec4 lid of A's 2 · BT (2 a row) if there is
    // one, and vec4 lid + 2 · BN - THREADS of W's 2 · BN if there is one.
    let loads_a = lid < 2u * BT;
    let eb = lid + 2u * BN - THREADS;
    let loads_b = eb < 2u * BN;
    let at_a = (lid / 2u) * ROW + 8u * (lid % 2u);
    let at_b = B_TILE + (eb / 2u) * ROW + 8u * (eb % 2u);
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
    var wa = vec4<u32>(0u);
    var wb = vec4<u32>(0u);
    if loads_a {
        wa = step_word(true, i0 + lid / 2u, p.m, lid % 2u, 0u);
    }
    if loads_b {
        wb = step_word(false, j0 + eb / 2u, p.n, eb % 2u, 0u);
    }
    for (var s = 0u; s < steps; s++) {
        if loads_a {
            store_codes(at_a, wa);
        }
        if loads_b {
            store_codes(at_b, wb);
        }
        workgroupBarrier();
        if s + 1u < steps {
            if loads_a {
                wa = step_word(true, i0 + lid / 2u, p.m, lid % 2u, s + 1u);
            }
            if loads_b {
                wb = step_word(false, j0 + eb / 2u, p.n, eb % 2u, s + 1u);
            }
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
            var b2: coop_mat16x16<f16, B>;
            var b3: coop_mat16x16<f16, B>;
            if CC == 4u {
                b2 = coopLoad<coop_mat16x16<f16, B>>(&tiles[ib2], ROW);
                b3 = coopLoad<coop_mat16x16<f16, B>>(&tiles[ib3], ROW);
            }
            // The exact sums: plain over all of k, scaled over this group.
            p00 = coopMultiplyAdd(a0, b0, p00);
            p01 = coopMultiplyAdd(a0, b1, p01);
            if CC == 4u {
                p02 = coopMultiplyAdd(a0, b2, p02);
                p03 = coopMultiplyAdd(a0, b3, p03);
            }
            p10 = coopMultiplyAdd(a1, b0, p10);
            p11 = coopMultiplyAdd(a1, b1, p11);
            if CC == 4u {
                p12 = coopMultiplyAdd(a1, b2, p12);
                p13 = coopMultiplyAdd(a1, b3, p13);
            }
        }
        if SCALED && ((s + 1u) * STEP) % p.group == 0u {
            let g = gscale[s * STEP / p.group];
            t00 = t00 + g * p00;
            p00 = zero;
            t01 = t01 + g * p01;
            p01 = zero;
            if CC == 4u {
                t02 = t02 + g * p02;
                p02 = zero;
                t03 = t03 + g * p03;
                p03 = zero;
            }
            t10 = t10 + g * p10;
            p10 = zero;
            t11 = t11 + g * p11;
            p11 = zero;
            if CC == 4u {
                t12 = t12 + g * p12;
                p12 = zero;
                t13 = t13 + g * p13;
                p13 = zero;
            }
        }
        workgroupBarrier();
    }
    if !SCALED {
        t00 = p00;
        t01 = p01;
        t02 = p02;
        t03 = p03;
        t10 = p10;
        t11 = p11;
        t12 = p12;
        t13 = p13;
    }
    let r0 = i0 + ra;
    let c0 = j0 + cb;
    emit(t00, sg, lane, r0 + 0u, c0 + 0u);
    emit(t01, sg, lane, r0 + 0u, c0 + 16u);
    if CC == 4u {
        emit(t02, sg, lane, r0 + 0u, c0 + 32u);
        emit(t03, sg, lane, r0 + 0u, c0 + 48u);
    }
    emit(t10, sg, lane, r0 + 16u, c0 + 0u);
    emit(t11, sg, lane, r0 + 16u, c0 + 16u);
    if CC == 4u {
        emit(t12, sg, lane, r0 + 16u, c0 + 32u);
        emit(t13, sg, lane, r0 + 16u, c0 + 48u);
    }
}
