// Correctly rounded a / b (round half to even), bit-identical to IEEE 754 f32 division,
// for positive normal a and b whose quotient is a normal f32. WGSL's `/` may be off by
// 2.5 ulp (and is on NVIDIA), which would make quantization codes adapter dependent;
// this restoring long division on the 24-bit significands is exact everywhere. It costs
// ~100 integer operations, so kernels call it once per row or group, never per element.
fn div_rn(a: f32, b: f32) -> f32 {
    let ab = bitcast<u32>(a);
    let bb = bitcast<u32>(b);
    var e = i32(ab >> 23u) - i32(bb >> 23u) + 127;
    var n = (ab & 0x7fffffu) | 0x800000u;
    let d = (bb & 0x7fffffu) | 0x800000u;
    if n < d {
        n = n << 1u;
        e -= 1;
    }
    // 25 quotient bits: the leading 1, 23 fraction bits and a guard bit.
    var q = 0u;
    for (var i = 0u; i < 25u; i++) {
        q = q << 1u;
        if n >= d {
            n -= d;
            q |= 1u;
        }
        n = n << 1u;
    }
    let guard = q & 1u;
    q = q >> 1u;
    if guard == 1u && (n != 0u || (q & 1u) == 1u) {
        q += 1u;
        if q == 0x1000000u {
            q = q >> 1u;
            e += 1;
        }
    }
    return bitcast<f32>((u32(e) << 23u) | (q & 0x7fffffu));
}
