// INT4 codes to f16 for the cooperative-matrix kernels, with integer operations only.
//
// A packed word holds 8 codes, code c in bits 4c .. 4c + 3 (two's complement). Shifting
// by 4j and masking with 0x000f000f leaves codes j and j + 4 in the two 16-bit halves;
// XOR with 0x6408 sets each half to the f16 1024 + (c + 8) (0x6400 is 1024, whose ulp is
// 1, and c ^ 8 = c + 8 for a 4-bit two's complement c), and subtracting 1032 leaves c,
// exactly. So a word becomes the 8 halves [c0, c4, c1, c5, c2, c6, c3, c7]: the K order
// within each word is permuted, identically for both operands of a product, which leaves
// every dot product (and so every sum) unchanged.

// (Through `unpack2x16float` and back, which is exact: naga 30 types `bitcast<vec2<f16>>`
// of a u32 as vec2<f32>.)
fn code_pair(w: u32, shift: u32) -> vec2<f16> {
    let halves = unpack2x16float(((w >> shift) & 0x000f000fu) ^ 0x64086408u);
    return vec2<f16>(halves) - vec2<f16>(1032.0h);
}

// The 32 codes of `v` as 8 vec4<f16>, in the order above, into `tiles[at .. at + 8]` (each
// kernel declares its workgroup array `tiles` of vec4<f16>).
fn store_codes(at: u32, v: vec4<u32>) {
    for (var w = 0u; w < 4u; w++) {
        tiles[at + 2u * w] = vec4<f16>(code_pair(v[w], 0u), code_pair(v[w], 4u));
        tiles[at + 2u * w + 1u] = vec4<f16>(code_pair(v[w], 8u), code_pair(v[w], 12u));
    }
}
