// INT4 dot product of two words of 8 nibbles through dot4I8Packed.
// Each nibble is moved to the high half of its byte, so every byte holds 16 × the nibble
// as an i8; the two dot4I8Packed calls give 256 × the exact dot product. Sums stay
// multiples of 256 (at most 128 · 64 · 256 = 2^21 per 128-long group), so `finish`
// recovers the exact integer with an arithmetic shift.
fn dot8(a: u32, b: u32) -> i32 {
    let mask = 0xf0f0f0f0u;
    return dot4I8Packed((a << 4u) & mask, (b << 4u) & mask) + dot4I8Packed(a & mask, b & mask);
}

fn finish(acc: i32) -> i32 {
    return acc >> 8u;
}
