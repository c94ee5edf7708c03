// Smooth + per-row symmetric INT4 quantization + packing.
//
// Input: row-major [rows, k] f32. For output position q of a row, the value is
//     v = x[row, perm[q]] / scales[q / group]
// (the gather only when flags bit 1, the division only when flags bit 0). Then
//     row_scale = max_q |v| / 7,  code = clamp(round_half_even(v / row_scale), -8, 7)
// (code 0 for a row of zeros). Output layout: [rows, k / 8] u32, 8 two's-complement
// nibbles per word, position q in bits 4·(q % 8) .. 4·(q % 8) + 3 of word q / 8
// (lower index in the lower nibble). Sets status bit 1 when a row maximum is NaN or Inf.

struct Params {
    rows: u32,
    k: u32,
    group: u32,
    flags: u32,
}

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> perm: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read_write> packed: array<u32>;
@group(0) @binding(5) var<storage, read_write> row_scale: array<f32>;
@group(0) @binding(6) var<storage, read_write> status: array<atomic<u32>>;
@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;
const SMOOTH: u32 = 1u;
const GATHER: u32 = 2u;
const ABS_MASK: u32 = 0x7fffffffu;
const INF_BITS: u32 = 0x7f800000u;

var<workgroup> red: array<u32, WG>;

fn value(base: u32, q: u32) -> f32 {
    var c = q;
    if (p.flags & GATHER) != 0u {
        c = perm[q];
    }
    var v = x[base + c];
    if (p.flags & SMOOTH) != 0u {
        v = v / scales[q / p.group];
    }
    return v;
}

// One workgroup per row; rows numbered wid.x + wid.y * nwg.x.
@compute @workgroup_size(256)
fn quantize(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    if row >= p.rows {
        return;
    }
    let base = row * p.k;
    // Row maximum of |v| as f32 bits: exact, and NaN wins over everything.
    var m = 0u;
    for (var q = lid; q < p.k; q += WG) {
        m = max(m, bitcast<u32>(value(base, q)) & ABS_MASK);
    }
    red[lid] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            red[lid] = max(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
    let amax_bits = red[0];
    let scale = bitcast<f32>(amax_bits) / 7.0;
    if lid == 0u {
        row_scale[row] = scale;
        if amax_bits >= INF_BITS {
            atomicOr(&status[0], 2u);
        }
    }
    let words = p.k / 8u;
    for (var w = lid; w < words; w += WG) {
        var word = 0u;
        for (var i = 0u; i < 8u; i++) {
            var code = 0;
            if amax_bits != 0u {
                code = i32(clamp(round(value(base, w * 8u + i) / scale), -8.0, 7.0));
            }
            word |= (bitcast<u32>(code) & 0xfu) << (4u * i);
        }
        packed[row * words + w] = word;
    }
}
