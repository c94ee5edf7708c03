// f16 ⇄ f32 for tensors of f16 elements (two per u32 word, the lower index in the lower
// half), with integer arithmetic only: exact widening (subnormals included), and narrowing
// rounded to nearest, ties to even, as `half::f16::from_f32` rounds. No shader-f16 feature
// and no adapter's own conversion (which may flush subnormals) is involved, so the result is
// the same on every adapter. One invocation per u32 word of halves; n = element count.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> halves_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> wide_out: array<f32>;
@group(0) @binding(3) var<storage, read> wide_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> halves_out: array<u32>;

// The f32 bits of the f16 with bits h (the low 16 bits).
fn f16_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let e = (h >> 10u) & 0x1fu;
    let m = h & 0x3ffu;
    if e == 31u {
        return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); // Inf, NaN
    }
    if e == 0u {
        if m == 0u {
            return bitcast<f32>(sign); // ±0
        }
        // Subnormal m · 2^-24: normalize (an f32 holds it exactly).
        let shift = countLeadingZeros(m) - 21u; // brings the top bit of m to bit 10
        let mn = (m << shift) & 0x3ffu;
        return bitcast<f32>(sign | ((113u - shift) << 23u) | (mn << 13u));
    }
    return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

// The f16 bits nearest to v (ties to even; overflow to ±Inf).
fn f32_to_f16(v: f32) -> u32 {
    let x = bitcast<u32>(v);
    let sign = (x >> 16u) & 0x8000u;
    let e = (x >> 23u) & 0xffu;
    let m = x & 0x7fffffu;
    if e == 255u {
        return sign | 0x7c00u | select(0u, 0x200u | (m >> 13u), m != 0u); // Inf, NaN
    }
    let exp = i32(e) - 112; // the f16 biased exponent
    if exp >= 31 {
        return sign | 0x7c00u;
    }
    if exp <= 0 {
        if exp < -10 {
            return sign; // below half the smallest subnormal: ±0
        }
        // A subnormal: the 24-bit significand shifted right by 14 - exp, rounded.
        let mm = m | 0x800000u;
        let shift = u32(14 - exp);
        var h = mm >> shift;
        let rem = mm & ((1u << shift) - 1u);
        let half = 1u << (shift - 1u);
        if rem > half || (rem == half && (h & 1u) != 0u) {
            h += 1u;
        }
        return sign | h;
    }
    var h = (u32(exp) << 10u) | (m >> 13u);
    let rem = m & 0x1fffu;
    if rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u) {
        h += 1u; // may carry into the exponent: still the right value (up to Inf)
    }
    return sign | h;
}

// Grid: 1-D over ceil(n / 2 / 256) workgroups, folded into x and y.
@compute @workgroup_size(256)
fn widen(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = (wid.x + wid.y * nwg.x) * 256u + lid;
    if 2u * w >= p.n {
        return;
    }
    let pair = halves_in[w];
    wide_out[2u * w] = f16_to_f32(pair & 0xffffu);
    if 2u * w + 1u < p.n {
        wide_out[2u * w + 1u] = f16_to_f32(pair >> 16u);
    }
}

@compute @workgroup_size(256)
fn narrow(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = (wid.x + wid.y * nwg.x) * 256u + lid;
    if 2u * w >= p.n {
        return;
    }
    var pair = f32_to_f16(wide_in[2u * w]);
    if 2u * w + 1u < p.n {
        pair |= f32_to_f16(wide_in[2u * w + 1u]) << 16u;
    }
    halves_out[w] = pair;
}
