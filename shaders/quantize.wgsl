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
// The host prepends `const STAGE: u32 = ...; const WG: u32 = ...;` (workgroup size) and
// `div_rn.wgsl`, and appends the entry point `quantize` with the row maximum `row_amax`:
// `quantize_entry.wgsl` (workgroup memory) or `quantize_entry_subgroup.wgsl`. Rows
// of k ≤ STAGE are first copied, coalesced, into workgroup memory, so that the row is read
// from device memory once and the gather through `perm` hits workgroup memory. Invocation
// `lid` owns words lid + WG · j and keeps the 8 smoothed values of its first NW words in
// registers between the row maximum and the packing; the words of rows longer than
// 8 · WG · NW past those are read again for their codes.

struct Params {
    rows: u32,
    k: u32,
    group: u32,
    flags: u32,
}

// x and perm as 16-byte vectors (k is a multiple of 8, so rows start on one).
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> perm: array<vec4<u32>>;
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
const NW: u32 = 4u; // words per invocation kept in registers

// Element q at q + q / 8: the packing pass reads 8 consecutive elements per invocation,
// and the padding puts the 32 invocations of a warp in 32 different banks.
var<workgroup> row_buf: array<f32, STAGE + STAGE / 8u>;
var<workgroup> inv: f32;
// Partial row maxima (the entry's `row_amax`).
var<workgroup> red: array<u32, WG>;

// The maximum of red[0 .. count], in invocation 0 (0 elsewhere).
fn max_of_partials(count: u32, lid: u32) -> u32 {
    var amax_bits = 0u;
    if lid == 0u {
        for (var t = 0u; t < count; t++) {
            amax_bits = max(amax_bits, red[t]);
        }
    }
    return amax_bits;
}

// The codes' multiplier 7 / amax of a row (`amax_bits`: max |v| as f32 bits, valid in
// invocation 0), from invocation 0 to every invocation of the workgroup (through `inv`).
// Invocation 0 then writes the row scale amax / 7 and flags NaN or Inf in `status`: after
// the barrier, so that the other invocations wait for one division, not two (H200,
// M = 4096: worth under 1%; the shorter `div_rn` was the 3–6% gain).
fn finish_row(row: u32, amax_bits: u32, lid: u32) -> f32 {
    let ok = amax_bits >= MIN_AMAX_BITS && amax_bits < INF_BITS;
    let amax = bitcast<f32>(amax_bits);
    if lid == 0u {
        var r = 0.0;
        if ok {
            r = div_rn(7.0, amax);
        }
        inv = r;
    }
    workgroupBarrier();
    let r = inv;
    if lid == 0u {
        var scale = 0.0;
        if ok {
            scale = div_rn(amax, 7.0);
        }
        row_scale[row] = scale;
        if amax_bits >= INF_BITS {
            atomicOr(&status[0], 2u);
        }
    }
    return r;
}

fn staged(q: u32) -> u32 {
    return q + (q >> 3u);
}

// Element c of the row starting at element `base`.
fn element(base: u32, c: u32) -> f32 {
    if p.k <= STAGE {
        return row_buf[staged(c)];
    }
    let e = base + c;
    return x[e >> 2u][e & 3u];
}

// The 8 smoothed values of word w (positions 8w … 8w + 7) of the row at `base`.
fn word_values(base: u32, w: u32) -> array<f32, 8> {
    var v: array<f32, 8>;
    if (p.flags & GATHER) != 0u {
        let i0 = perm[2u * w];
        let i1 = perm[2u * w + 1u];
        let idx = array<u32, 8>(i0.x, i0.y, i0.z, i0.w, i1.x, i1.y, i1.z, i1.w);
        for (var i = 0u; i < 8u; i++) {
            v[i] = element(base, idx[i]);
        }
    } else if p.k <= STAGE {
        for (var i = 0u; i < 8u; i++) {
            v[i] = row_buf[staged(8u * w + i)];
        }
    } else {
        let a = x[(base >> 2u) + 2u * w];
        let b = x[(base >> 2u) + 2u * w + 1u];
        v = array<f32, 8>(a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
    }
    if (p.flags & SMOOTH) != 0u {
        if p.group % 8u == 0u {
            let s = mult[8u * w / p.group];
            for (var i = 0u; i < 8u; i++) {
                v[i] = v[i] * s;
            }
        } else {
            for (var i = 0u; i < 8u; i++) {
                v[i] = v[i] * mult[(8u * w + i) / p.group];
            }
        }
    }
    return v;
}

fn abs_bits_max(m: u32, v: array<f32, 8>) -> u32 {
    var r = m;
    for (var i = 0u; i < 8u; i++) {
        r = max(r, bitcast<u32>(v[i]) & ABS_MASK);
    }
    return r;
}

// The packed word of 8 values, r = 7 / amax (0: a row of zeros).
fn pack(v: array<f32, 8>, r: f32) -> u32 {
    var word = 0u;
    if r != 0.0 {
        for (var i = 0u; i < 8u; i++) {
            let code = i32(clamp(round(v[i] * r), -8.0, 7.0));
            word |= (bitcast<u32>(code) & 0xfu) << (4u * i);
        }
    }
    return word;
}

// One workgroup per row; rows numbered wid.x + wid.y * nwg.x. The entry point
// (`quantize_entry.wgsl` or `quantize_entry_subgroup.wgsl`) calls this.
fn quantize_row(row: u32, lid: u32) {
    if row >= p.rows {
        return;
    }
    let base = row * p.k;
    if p.k <= STAGE {
        // 16-byte loads, 4 in flight per invocation, then the stores.
        let k4 = p.k / 4u;
        for (var q0 = lid; q0 < k4; q0 += 4u * WG) {
            var ld: array<vec4<f32>, 4>;
            for (var t = 0u; t < 4u; t++) {
                let q = q0 + t * WG;
                if q < k4 {
                    ld[t] = x[(base >> 2u) + q];
                }
            }
            for (var t = 0u; t < 4u; t++) {
                let q = q0 + t * WG;
                if q < k4 {
                    for (var c = 0u; c < 4u; c++) {
                        row_buf[staged(4u * q + c)] = ld[t][c];
                    }
                }
            }
        }
        workgroupBarrier();
    }
    // Row maximum of |v| as f32 bits: exact, and NaN wins over everything.
    let words = p.k / 8u;
    var cache: array<array<f32, 8>, NW>;
    var m = 0u;
    for (var j = 0u; j < NW; j++) {
        let w = lid + j * WG;
        if w < words {
            cache[j] = word_values(base, w);
            m = abs_bits_max(m, cache[j]);
        }
    }
    for (var w = lid + NW * WG; w < words; w += WG) {
        m = abs_bits_max(m, word_values(base, w));
    }
    let r = finish_row(row, row_amax(m, lid), lid);
    for (var j = 0u; j < NW; j++) {
        let w = lid + j * WG;
        if w < words {
            packed[row * words + w] = pack(cache[j], r);
        }
    }
    for (var w = lid + NW * WG; w < words; w += WG) {
        packed[row * words + w] = pack(word_values(base, w), r);
    }
}
