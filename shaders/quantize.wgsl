// Smooth + per-row symmetric INT4 quantization + packing.
//
// Input: row-major [rows, k] f32. For output position q of a row, the value is
//     v = x[row, perm[q]] * mult[q / group]
// (the gather only when flags bit 1, the multiplier only when flags bit 0; smoothing
// multiplies by the correctly rounded reciprocal of the scale). Then, with amax = max |v|,
//     row_scale = amax / 7,  code = clamp(round_half_even(v * (7 / amax)), -8, 7),
// both divisions correctly rounded (`div_rn`, prepended by the host), so that every
// adapter produces the same codes. Rows with amax < 2^-123 (zero, or too small for the
// divisions to stay normal) get code 0 and row_scale 0. Output layout: [rows, k / 8] u32,
// 8 two's-complement nibbles per word, position q in bits 4·(q % 8) .. 4·(q % 8) + 3 of
// word q / 8 (lower index in the lower nibble). Sets status bit 1 when amax is NaN or Inf.
//
// The host prepends `const STAGE: u32 = ...; const WG: u32 = ...;` (workgroup size): rows
// of k ≤ STAGE are first copied, coalesced, into workgroup memory, so that the row is read
// from device memory once and the gather through `perm` hits workgroup memory; longer rows
// are read from device memory twice (maximum, then codes).

struct Params {
    rows: u32,
    k: u32,
    group: u32,
    flags: u32,
}

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> perm: array<u32>;
@group(0) @binding(3) var<storage, read> mult: array<f32>;
@group(0) @binding(4) var<storage, read_write> packed: array<u32>;
@group(0) @binding(5) var<storage, read_write> row_scale: array<f32>;
@group(0) @binding(6) var<storage, read_write> status: array<atomic<u32>>;
@group(0) @binding(0) var<uniform> p: Params;

const SMOOTH: u32 = 1u;
const GATHER: u32 = 2u;
const ABS_MASK: u32 = 0x7fffffffu;
const INF_BITS: u32 = 0x7f800000u;
const MIN_AMAX_BITS: u32 = 0x02000000u; // 2^-123

var<workgroup> red: array<u32, WG>;
// Element q at q + q / 8: the packing pass reads 8 consecutive elements per invocation,
// and the padding puts the 32 invocations of a warp in 32 different banks.
var<workgroup> row_buf: array<f32, STAGE + STAGE / 8u>;

fn staged(q: u32) -> u32 {
    return q + (q >> 3u);
}
var<workgroup> inv: f32;

fn value(base: u32, q: u32) -> f32 {
    var c = q;
    if (p.flags & GATHER) != 0u {
        c = perm[q];
    }
    var v: f32;
    if p.k <= STAGE {
        v = row_buf[staged(c)];
    } else {
        v = x[base + c];
    }
    if (p.flags & SMOOTH) != 0u {
        v = v * mult[q / p.group];
    }
    return v;
}

// One workgroup per row; rows numbered wid.x + wid.y * nwg.x.
@compute @workgroup_size(WG)
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
    if p.k <= STAGE {
        // Batches of 8 loads in flight per invocation, then 8 stores.
        for (var q0 = lid; q0 < p.k; q0 += 8u * WG) {
            var ld: array<f32, 8>;
            for (var t = 0u; t < 8u; t++) {
                let q = q0 + t * WG;
                ld[t] = 0.0;
                if q < p.k {
                    ld[t] = x[base + q];
                }
            }
            for (var t = 0u; t < 8u; t++) {
                let q = q0 + t * WG;
                if q < p.k {
                    row_buf[staged(q)] = ld[t];
                }
            }
        }
        workgroupBarrier();
    }
    // Row maximum of |v| as f32 bits: exact, and NaN wins over everything.
    var m = 0u;
    for (var q0 = lid; q0 < p.k; q0 += 8u * WG) {
        var ld: array<u32, 8>;
        for (var t = 0u; t < 8u; t++) {
            let q = q0 + t * WG;
            ld[t] = 0u;
            if q < p.k {
                ld[t] = bitcast<u32>(value(base, q)) & ABS_MASK;
            }
        }
        for (var t = 0u; t < 8u; t++) {
            m = max(m, ld[t]);
        }
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
    let ok = amax_bits >= MIN_AMAX_BITS && amax_bits < INF_BITS;
    if lid == 0u {
        var scale = 0.0;
        var r = 0.0;
        if ok {
            let amax = bitcast<f32>(amax_bits);
            scale = div_rn(amax, 7.0);
            r = div_rn(7.0, amax);
        }
        row_scale[row] = scale;
        inv = r;
        if amax_bits >= INF_BITS {
            atomicOr(&status[0], 2u);
        }
    }
    workgroupBarrier();
    let r = inv;
    let words = p.k / 8u;
    for (var w = lid; w < words; w += WG) {
        var word = 0u;
        for (var i = 0u; i < 8u; i++) {
            var code = 0;
            if ok {
                code = i32(clamp(round(value(base, w * 8u + i) * r), -8.0, 7.0));
            }
            word |= (bitcast<u32>(code) & 0xfu) << (4u * i);
        }
        packed[row * words + w] = word;
    }
}
