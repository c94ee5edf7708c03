// The power-of-two FWHT stages of every TILE-element chunk of a row-major f32 tensor
// (chunk = TILE = 2^L, L = log2_chunk) with subgroup shuffles: the first pass of
// `hadamard.rs` where the adapter has subgroups (`Features::SUBGROUP`) of S = 2^s lanes.
//
// The host prepends `const TILE: u32 = ...; const BUF: u32 = ...; const QBITS: u32 = ...;`,
// `hadamard_params.wgsl` and `hadamard_regs.wgsl`. An invocation holds E = 4 · 2^QBITS
// elements (QBITS = 2: 16 in one group of four 16-byte quads; QBITS = 3: 32 in two groups),
// and a workgroup of TILE / E invocations owns one chunk; invocation (g, l), lane l of
// subgroup g, is number P = g · S + l (so this needs full subgroups numbered that way:
// `Context` checks it once with `subgroup_probe.wgsl` and keeps the kernels off subgroups
// where it fails). Two rounds, one exchange through workgroup memory between them, cover
// 2 + s + QBITS ≤ L ≤ 8 + 2s (`hadamard::subgroup_fits`):
// * round 0 loads the quads, quad c of lane l of subgroup g from element
//   E · S · g + 4 · (l + S · c) (coalesced), so that index bits 0, 1 are the components,
//   bits 2 … 1 + s the lane and bits 2 + s … 1 + s + QBITS the quad, and applies the stages in
//   that order: in registers, across the lanes (`subgroupShuffleXor`), in registers;
// * round 1, after the exchange, holds the rest of the index bits, lo1 = 2 + s + QBITS …
//   L − 1 (n = L − lo1 of them), in one of two layouts, and applies their stages across the
//   lanes, then in registers, and stores, times `scale`:
//   - quads (QBITS = 3 always; QBITS = 2 where `quads` is set and 2 ≤ n ≤ s + 2; the host
//     sets it where n ≤ 4): the components are index bits 0, 1, the quad bits the top QBITS index
//     bits, the lane's low s − max(0, n − QBITS) bits index bits 2 …, its other bits index
//     bits lo1 …, g the bits left; 16-byte stores;
//   - registers (QBITS = 2 only; n1 = max(0, L − 8 − s)): the group's 16 elements are index
//     bits L − 4 … L − 1, the lane's low s − n1 bits index bits 0 …, its top n1 bits index
//     bits 4 + s …, g the other bits; scalar stores, 32 lanes consecutive.
// Against the exchange kernel (`hadamard_chunk.wgsl`: an exchange every 4 stages) this
// exchanges once. The buffer is padded by one word per 32 (`pad`): round 0's writes (lanes
// 4 elements apart) and round 1's reads in the register layout (lanes consecutive, or 16
// consecutive and their top lane bit 2^(4 + s) = 512 elements apart at S = 32) fall in
// distinct banks. With PHASES = TILE / BUF > 1 the exchange runs in phases by the top index
// bits, as in the exchange kernel: those are g's top bits in round 0 and the top quad bits
// in round 1.
// The stages run in the CPU reference's order (ascending bits), element by element, so the
// result is bit-identical to it.

@group(0) @binding(1) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> src: array<vec4<f32>>;

const QUADS: u32 = 1u << QBITS;
const LANES: u32 = TILE / (4u * QUADS);
const PHASES: u32 = TILE / BUF;

var<workgroup> buf: array<f32, BUF + BUF / 32u>;

// The buffer slot of element i of the tile: its low log2(BUF) bits, padded.
fn pad(i: u32) -> u32 {
    let b = i & (BUF - 1u);
    return b + (b >> 5u);
}

// The butterfly stage of lane bit `mask`: the lower lane of each pair keeps a + b, the upper
// b − a (a its own value, b the partner's), as the reference's u + v and u − v.
fn across(a: vec4<f32>, mask: u32, lower: bool) -> vec4<f32> {
    let b = subgroupShuffleXor(a, mask);
    return select(b - a, a + b, lower);
}

// The stages of lane bits `lo` ≤ bit < s on a group's 16 elements.
fn lane_stages(g: Group, lane: u32, lo: u32, size: u32) -> Group {
    var v = g;
    for (var m = 1u << lo; m < size; m <<= 1u) {
        let lower = (lane & m) == 0u;
        v = Group(across(v.q0, m, lower), across(v.q1, m, lower), across(v.q2, m, lower), across(v.q3, m, lower));
    }
    return v;
}

// The stage of the top quad bit (QBITS = 3): the two groups' quads pairwise.
fn pair_stage(a: Group, b: Group) -> array<Group, 2> {
    return array<Group, 2>(
        Group(a.q0 + b.q0, a.q1 + b.q1, a.q2 + b.q2, a.q3 + b.q3),
        Group(a.q0 - b.q0, a.q1 - b.q1, a.q2 - b.q2, a.q3 - b.q3),
    );
}

// x at the quad starting at element i of the tensor, times `scale`.
fn store_quad(i: u32, w: vec4<f32>) {
    x[i >> 2u] = w * p.scale;
}

// One workgroup per chunk (numbered wid.x + wid.y * nwg.x).
@compute @workgroup_size(LANES)
fn fwht_subgroup(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_id) g: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
) {
    let t0 = (wid.x + wid.y * nwg.x) * TILE;
    if t0 >= p.rows * p.k {
        return;
    }
    let l = p.log2_chunk;
    let s = countTrailingZeros(size);
    let me = g * size + lane;
    // Round 0 (see the top of the file).
    let first = 4u * QUADS * size * g + 4u * lane;
    let q = (t0 + first) / 4u;
    var a = Group(load(q), load(q + size), load(q + 2u * size), load(q + 3u * size));
    var b = a;
    if QUADS == 8u {
        let q4 = q + 4u * size;
        b = Group(load(q4), load(q4 + size), load(q4 + 2u * size), load(q4 + 3u * size));
    }
    a = butterflies(a, 0u, 2u);
    a = lane_stages(a, lane, 0u, size);
    a = butterflies(a, 2u, 4u);
    if QUADS == 8u {
        b = butterflies(b, 0u, 2u);
        b = lane_stages(b, lane, 0u, size);
        b = butterflies(b, 2u, 4u);
        let ab = pair_stage(a, b);
        a = ab[0];
        b = ab[1];
    }
    // Round 1's layout (see the top of the file): quad c holds elements
    // base + c · quad_step + e · step (e < 4); lane bits from `lane_lo` are new.
    let lo1 = 2u + s + QBITS;
    let n = l - lo1;
    let quads = QUADS == 8u || (p.quads != 0u && n >= 2u && n <= s + 2u);
    var base: u32;
    var step: u32;
    var quad_step: u32;
    var lane_lo: u32;
    // Register bits from `reg_lo` are new in the register layout (every quad bit in quads).
    var reg_lo = 0u;
    if quads {
        // n ≥ QBITS: the lanes' top n − QBITS bits are new.
        let low = s + QBITS - n;
        base = ((lane & ((1u << low) - 1u)) << 2u) | (g << (2u + low)) | ((lane >> low) << lo1);
        step = 1u;
        quad_step = 1u << (l - QBITS);
        lane_lo = low;
    } else {
        let n1 = select(0u, l - 8u - s, l > 8u + s);
        let low = s - n1;
        base = (lane & ((1u << low) - 1u)) | (g << low) | ((lane >> low) << (4u + s));
        step = 1u << (l - 4u);
        quad_step = 4u * step;
        lane_lo = low;
        // Register bit r is index bit l − 4 + r: new from index bit 4 + s on.
        reg_lo = select(0u, 8u + s - l, 8u + s > l);
    }
    let phase = me / (LANES / PHASES);
    // Round 1's quads (a and b keep round 0's for the later phases' writes).
    var c0 = a;
    var c1 = b;
    for (var f = 0u; f < PHASES; f++) {
        if f > 0u {
            // Every invocation has read what the buffer held.
            workgroupBarrier();
        }
        if phase == f {
            put4(first, 1u, a.q0);
            put4(first + 4u * size, 1u, a.q1);
            put4(first + 8u * size, 1u, a.q2);
            put4(first + 12u * size, 1u, a.q3);
            if QUADS == 8u {
                put4(first + 16u * size, 1u, b.q0);
                put4(first + 20u * size, 1u, b.q1);
                put4(first + 24u * size, 1u, b.q2);
                put4(first + 28u * size, 1u, b.q3);
            }
        }
        workgroupBarrier();
        // The phase bits are the top bits of the quad.
        for (var e = 0u; e < QUADS / PHASES; e++) {
            let c = f * (QUADS / PHASES) + e;
            // Quad c of the pair (c0, c1); with 16 elements, of c0 alone.
            if QUADS == 8u && c >= 4u {
                c1 = with_quad(c1, c - 4u, base + c * quad_step, step);
            } else {
                c0 = with_quad(c0, c, base + c * quad_step, step);
            }
        }
    }
    c0 = lane_stages(c0, lane, lane_lo, size);
    if QUADS == 8u {
        c1 = lane_stages(c1, lane, lane_lo, size);
        // Quad bits 0, 1 within each group, then bit 2 across the two.
        c0 = butterflies(c0, 2u, 4u);
        c1 = butterflies(c1, 2u, 4u);
        let pair = pair_stage(c0, c1);
        c0 = pair[0];
        c1 = pair[1];
    } else if quads {
        c0 = butterflies(c0, 2u, 4u);
    } else {
        c0 = butterflies(c0, reg_lo, 4u);
    }
    let i = t0 + base;
    if quads {
        store_quad(i, c0.q0);
        store_quad(i + quad_step, c0.q1);
        store_quad(i + 2u * quad_step, c0.q2);
        store_quad(i + 3u * quad_step, c0.q3);
        if QUADS == 8u {
            store_quad(i + 4u * quad_step, c1.q0);
            store_quad(i + 5u * quad_step, c1.q1);
            store_quad(i + 6u * quad_step, c1.q2);
            store_quad(i + 7u * quad_step, c1.q3);
        }
    } else {
        store4(i, step, c0.q0);
        store4(i + quad_step, step, c0.q1);
        store4(i + 2u * quad_step, step, c0.q2);
        store4(i + 3u * quad_step, step, c0.q3);
    }
}
