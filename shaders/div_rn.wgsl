// Correctly rounded a / b (round half to even), bit-identical to IEEE 754 f32 division,
// for positive normal a and b whose quotient is a normal f32. WGSL's `/` may be off by
// 2.5 ulp (and is on NVIDIA), which would make quantization codes adapter dependent;
// this long division of the 24-bit significands, in integer steps, is exact everywhere
// (`tests/parity`: quantize's `row_scales_are_correctly_rounded` checks both of its
// divisions against IEEE division on 16384 magnitudes, edge cases included). It costs
// three integer divisions and about 30 other operations, so kernels call it once per row
// or group, never per element.
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
    // 25 quotient bits of n / d (n in [d, 2d)): the leading 1, 23 fraction bits and a guard
    // bit, 8 + 8 + 8 + 1 at a time by exact integer division (every dividend below 2^32;
    // the remainder stays below d < 2^24). Three dependent divisions instead of a loop of 25
    // restoring steps.
    var x = n << 7u;
    let q1 = x / d;
    var r = x - q1 * d;
    x = r << 8u;
    let q2 = x / d;
    r = x - q2 * d;
    x = r << 8u;
    let q3 = x / d;
    r = x - q3 * d;
    x = r << 1u;
    let q4 = select(0u, 1u, x >= d);
    n = x - q4 * d;
    var q = (q1 << 17u) | (q2 << 9u) | (q3 << 1u) | q4;
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
