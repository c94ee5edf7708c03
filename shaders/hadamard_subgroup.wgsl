// The power-of-two FWHT stages of every TILE-element chunk of a row-major f32 tensor
// (chunk = TILE = 2^L, L = log2_chunk) with subgroup shuffles: the first pass of
// `hadamard.rs` where the adapter has subgroups (`Features::SUBGROUP`) of S = 2^s lanes with
// 4 + s ≤ L ≤ 8 + 2s (`hadamard::subgroup_fits`).
//
// The host prepends `const TILE: u32 = ...; const BUF: u32 = ...;`, `hadamard_params.wgsl`
// and `hadamard_regs.wgsl`. A workgroup of TILE / 16 invocations owns one chunk; invocation
// (g, l), lane l of subgroup g, is number P = g · S + l (so this needs full subgroups, which
// a workgroup size that is a multiple of S gets on the drivers rrs runs on; the parity tests
// check it on each). Two rounds, one exchange through workgroup memory between them:
// * round 0 loads elements 16 · P + j (j < 16, four 16-byte loads) and applies the stages of
//   index bits 0 … 3 in registers, then those of bits 4 … 3 + s across the lanes
//   (`subgroupShuffleXor`);
// * round 1 holds the elements whose index bits L − 4 … L − 1 are j (registers), whose low
//   s − n1 bits are the lane's low bits, whose bits 4 + s … 3 + s + n1 are the lane's top n1
//   bits (n1 = max(0, L − 8 − s): the index bits above round 0 that the registers do not
//   hold) and whose other bits are g; it applies the stages of bits 4 + s … L − 5 across the
//   lanes, then those of bits max(4 + s, L − 4) … L − 1 in registers, and stores, times
//   `scale`.
// Against the exchange kernel (`hadamard_chunk.wgsl`: an exchange every 4 stages) this
// exchanges once. The buffer is padded by one word per 32 (`pad`): round 0's writes (lanes
// 16 elements apart) and round 1's reads (lanes consecutive, or 16 consecutive and their
// top lane bit 2^(4 + s) = 512 elements apart at S = 32) fall in distinct banks. With
// PHASES = TILE / BUF > 1 the exchange runs in phases by the top index bits, as in the
// exchange kernel: those are g's top bits in round 0 and the top register bits in round 1.
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
    // Round 0: elements 16 · me + j.
    let q = (t0 + me * 16u) / 4u;
    var v = Group(load(q), load(q + 1u), load(q + 2u), load(q + 3u));
    v = butterflies(v, 0u, 4u);
    v = lane_stages(v, lane, 0u, size);
    // Round 1's layout (see the top of the file).
    let n1 = select(0u, l - 8u - s, l > 8u + s);
    let low = s - n1;
    let base = (lane & ((1u << low) - 1u)) | (g << low) | ((lane >> low) << (4u + s));
    let h = 1u << (l - 4u);
    let phase = me / (LANES / PHASES);
    var w = v;
    for (var f = 0u; f < PHASES; f++) {
        if f > 0u {
            // Every invocation has read what the buffer held.
            workgroupBarrier();
        }
        if phase == f {
            scatter(v, me * 16u, 1u);
        }
        workgroupBarrier();
        if PHASES > 1u {
            // The phase bits are the top register bits.
            for (var e = 0u; e < 4u / PHASES; e++) {
                w = with_quad(w, f * (4u / PHASES) + e, base, h);
            }
        } else {
            w = gather(base, h);
        }
    }
    w = lane_stages(w, lane, low, size);
    // Register bit r is index bit l − 4 + r: new from index bit 4 + s on.
    let first = select(0u, 8u + s - l, 8u + s > l);
    w = butterflies(w, first, 4u);
    let i = t0 + base;
    store4(i, h, w.q0);
    store4(i + 4u * h, h, w.q1);
    store4(i + 8u * h, h, w.q2);
    store4(i + 12u * h, h, w.q3);
}
