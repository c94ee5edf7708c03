// 8 × 8 transposes of nibbles, shared by `permute_tiles.wgsl` and `gemv_gather.wgsl`.

// Swap the nibble fields `m` of a[j] with the fields `m << s` of a[i].
fn swap_fields(a: ptr<function, array<u32, 8>>, i: u32, j: u32, s: u32, m: u32) {
    let t = (((*a)[i] >> s) ^ (*a)[j]) & m;
    (*a)[j] ^= t;
    (*a)[i] ^= t << s;
}

// Transpose 8 × 8 nibbles in place: nibble c of word r <-> nibble r of word c.
fn transpose8(a: ptr<function, array<u32, 8>>) {
    swap_fields(a, 0u, 4u, 16u, 0x0000ffffu);
    swap_fields(a, 1u, 5u, 16u, 0x0000ffffu);
    swap_fields(a, 2u, 6u, 16u, 0x0000ffffu);
    swap_fields(a, 3u, 7u, 16u, 0x0000ffffu);
    swap_fields(a, 0u, 2u, 8u, 0x00ff00ffu);
    swap_fields(a, 1u, 3u, 8u, 0x00ff00ffu);
    swap_fields(a, 4u, 6u, 8u, 0x00ff00ffu);
    swap_fields(a, 5u, 7u, 8u, 0x00ff00ffu);
    swap_fields(a, 0u, 1u, 4u, 0x0f0f0f0fu);
    swap_fields(a, 2u, 3u, 4u, 0x0f0f0f0fu);
    swap_fields(a, 4u, 5u, 4u, 0x0f0f0f0fu);
    swap_fields(a, 6u, 7u, 4u, 0x0f0f0f0fu);
}
