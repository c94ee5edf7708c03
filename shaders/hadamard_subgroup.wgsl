// The power-of-two FWHT stages of every TILE-element chunk of a row-major f32 tensor
// (chunk = TILE = 2^L, L = log2_chunk) with subgroup shuffles: the first pass of
// `hadamard.rs` where the adapter has subgroups (`Features::SUBGROUP`) of S = 2^s lanes with
// 4 + s ≤ L ≤ 8 + 2s (`hadamard::subgroup_fits`).
//
// The host prepends `const TILE: u32 = ...; const BUF: u32 = ...;`, `hadamard_params.wgsl`
// and `hadamard_regs.wgsl`. A workgroup of TILE / 16 invocations owns one chunk; invocation
// (g, l), lane l of subgroup g, is number P = g · S + l (so this needs full subgroups
// numbered that way: `Context` checks it once with `subgroup_probe.wgsl` and keeps the
// kernels off subgroups where it fails). Two rounds, one exchange through workgroup memory
// between them:
// * round 0 loads four 16-byte quads, quad j of lane l of subgroup g from element
//   16 · S · g + 4 · (l + S · j) (coalesced), so that index bits 0, 1 are the components,
//   bits 2 … 1 + s the lane and bits 2 + s, 3 + s the quad, and applies the stages in that
//   order: in registers, across the lanes (`subgroupShuffleXor`), in registers;
// * round 1, after the exchange, holds the rest of the index bits, 4 + s … L − 1 (n = L − 4 − s
//   of them), in one of two layouts, and applies their stages across the lanes, then in
//   registers, and stores, times `scale`:
//   - registers (n1 = max(0, L − 8 − s)): j is index bits L − 4 … L − 1, the lane's low
//     s − n1 bits are index bits 0 …, its top n1 bits index bits 4 + s …, g the other bits;
//     scalar stores, 32 lanes consecutive;
//   - quads (`quads` set and 2 ≤ n ≤ s + 2; the host sets it where n ≤ 3): the components are
//     index bits 0, 1, the quad bits L − 2, L − 1, the lane's low s + 2 − n bits index bits 2 …,
//     its top n − 2 bits index bits 4 + s …, g the other bits; 16-byte stores.
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

const LANES: u32 = TILE / 16u;
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

// The stages of lane bits `lo` ≤ bit < s on all 16 elements.
fn lane_stages(g: Group, lane: u32, lo: u32, size: u32) -> Group {
    var v = g;
    for (var m = 1u << lo; m < size; m <<= 1u) {
        let lower = (lane & m) == 0u;
        v = Group(across(v.q0, m, lower), across(v.q1, m, lower), across(v.q2, m, lower), across(v.q3, m, lower));
    }
    return v;
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
    // Round 0: component c of quad j is element 16 · S · g + 4 · (lane + S · j) + c: the
    // subgroup's loads are coalesced, and the index bits run components (0, 1), lanes
    // (2 … 1 + s), quads (2 + s, 3 + s).
    let first = t0 + 16u * size * g + 4u * lane;
    let q = first / 4u;
    var v = Group(load(q), load(q + size), load(q + 2u * size), load(q + 3u * size));
    v = butterflies(v, 0u, 2u);
    v = lane_stages(v, lane, 0u, size);
    v = butterflies(v, 2u, 4u);
    // Round 1's layout (see the top of the file): quad c holds elements
    // base + c · quad_step + e · step (e < 4); lane bits from `lane_lo` and register bits from
    // `reg_lo` are new.
    let n = l - 4u - s;
    let quads = p.quads != 0u && n >= 2u && n <= s + 2u;
    var base: u32;
    var step: u32;
    var quad_step: u32;
    var lane_lo: u32;
    var reg_lo: u32;
    if quads {
        let low = s + 2u - n;
        base = ((lane & ((1u << low) - 1u)) << 2u) | (g << (2u + low)) | ((lane >> low) << (4u + s));
        step = 1u;
        quad_step = 1u << (l - 2u);
        lane_lo = low;
        reg_lo = 2u;
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
    var w = v;
    for (var f = 0u; f < PHASES; f++) {
        if f > 0u {
            // Every invocation has read what the buffer held.
            workgroupBarrier();
        }
        if phase == f {
            let b = first - t0;
            put4(b, 1u, v.q0);
            put4(b + 4u * size, 1u, v.q1);
            put4(b + 8u * size, 1u, v.q2);
            put4(b + 12u * size, 1u, v.q3);
        }
        workgroupBarrier();
        // The phase bits are the top bits of the quad.
        for (var e = 0u; e < 4u / PHASES; e++) {
            let c = f * (4u / PHASES) + e;
            w = with_quad(w, c, base + c * quad_step, step);
        }
    }
    w = lane_stages(w, lane, lane_lo, size);
    w = butterflies(w, reg_lo, 4u);
    let i = t0 + base;
    if quads {
        let q1 = i / 4u;
        let qs = quad_step / 4u;
        x[q1] = w.q0 * p.scale;
        x[q1 + qs] = w.q1 * p.scale;
        x[q1 + 2u * qs] = w.q2 * p.scale;
        x[q1 + 3u * qs] = w.q3 * p.scale;
    } else {
        store4(i, step, w.q0);
        store4(i + quad_step, step, w.q1);
        store4(i + 2u * quad_step, step, w.q2);
        store4(i + 3u * quad_step, step, w.q3);
    }
}
