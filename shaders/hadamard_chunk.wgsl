// The power-of-two FWHT stages inside every contiguous `chunk` of a row-major f32 tensor
// (chunk = 2^log2_chunk, 16 ≤ chunk ≤ TILE), the first pass of `hadamard.rs`.
//
// The host prepends `const TILE: u32 = ...;` and `hadamard_params.wgsl`. A workgroup of
// TILE / 16 invocations owns TILE consecutive elements (whole chunks). Each invocation
// holds 16 elements in registers whose index bits [lh, lh + 4) vary (stride h = 2^lh) and
// applies the butterfly stages of those bits there, in rounds:
// * round 0 loads 16 consecutive elements (four 16-byte loads, from `src` when `from_src`
//   is set, else from x) and applies the low `first` = log2_chunk − 4 · (rounds − 1) stages;
// * every later round exchanges the elements through workgroup memory (padded by one word
//   per 16, so that the strided accesses fall in distinct banks) and applies the next 4;
// * the last round stores its elements straight to x, times `scale`.
// The exchange buffer holds BUF (tile snippet) of the TILE elements: workgroup memory per
// workgroup, not registers, is what bounds the workgroups an SM runs at once on the H200's
// Vulkan driver (H200, M = 4096: adding 8.7 KB of unused workgroup memory to the 2048 tile
// slowed k = 2048 from 0.027 to 0.038 ms, the 4096 tile's time per byte). With PHASES =
// TILE / BUF > 1 (then chunk = TILE, so the last round's register bits are the top four
// index bits) an exchange runs in PHASES phases, one per value of the top log2(PHASES) index
// bits: in phase f the invocations whose top lid bits are f write their 16 elements (in
// every layout but the last round's, those bits are the top index bits) and read theirs, or,
// into the last round, every invocation reads the quads of its 16 whose top bits are f.
// The stages run in the CPU reference's order, element by element, so the result is
// bit-identical to it. The tensor's length is a multiple of chunk, so every group of 16
// lies wholly inside it or wholly past its end.

@group(0) @binding(1) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> src: array<vec4<f32>>;

const LANES: u32 = TILE / 16u;
const PHASES: u32 = TILE / BUF;

var<workgroup> buf: array<f32, BUF + BUF / 16u>;

// The buffer slot of element i of the tile: its low log2(BUF) bits, padded.
fn pad(i: u32) -> u32 {
    let b = i & (BUF - 1u);
    return b + (b >> 4u);
}

// One workgroup per TILE elements (numbered wid.x + wid.y * nwg.x).
@compute @workgroup_size(LANES)
fn fwht_chunk(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let total = p.rows * p.k;
    let t0 = (wid.x + wid.y * nwg.x) * TILE;
    if t0 >= total {
        return;
    }
    let rounds = (p.log2_chunk + 3u) / 4u;
    let first = p.log2_chunk - 4u * (rounds - 1u);
    // Round 0: elements lid * 16 + j of the tile, in four 16-byte loads.
    let q = (t0 + lid * 16u) / 4u;
    let inside = t0 + lid * 16u < total;
    var v = Group(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    if inside {
        v = Group(load(q), load(q + 1u), load(q + 2u), load(q + 3u));
    }
    v = butterflies(v, 0u, first);
    if rounds == 1u {
        if inside {
            x[q] = v.q0 * p.scale;
            x[q + 1u] = v.q1 * p.scale;
            x[q + 2u] = v.q2 * p.scale;
            x[q + 3u] = v.q3 * p.scale;
        }
        return;
    }
    // v holds elements base + j * h of the tile.
    var base = lid * 16u;
    var h = 1u;
    var lh = first;
    // The phase of this invocation's exchanges (see the top of the file).
    let phase = lid / (LANES / PHASES);
    for (var r = 1u; r < rounds; r++) {
        // Next: 16 elements at stride nh whose index bits [lh, lh + 4) vary.
        let nh = 1u << lh;
        let nbase = ((lid >> lh) << (lh + 4u)) + (lid & (nh - 1u));
        let last = r + 1u == rounds;
        var w = v;
        for (var f = 0u; f < PHASES; f++) {
            if r > 1u || f > 0u {
                // Every invocation has read what the buffer held.
                workgroupBarrier();
            }
            if phase == f {
                scatter(v, base, h, 4u * h);
            }
            workgroupBarrier();
            if PHASES > 1u && last {
                // The phase bits are the top register bits of the last round.
                for (var e = 0u; e < 4u / PHASES; e++) {
                    let quad = f * (4u / PHASES) + e;
                    w = with_quad(w, quad, nbase + 4u * quad * nh, nh);
                }
            } else if phase == f {
                w = gather(nbase, nh);
            }
        }
        v = butterflies(w, 0u, 4u);
        base = nbase;
        h = nh;
        lh += 4u;
    }
    if t0 + base < total {
        store_group(v, t0 + base, h, 4u * h);
    }
}
