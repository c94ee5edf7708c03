// A tile of 8 packed INT4 rows transposed in workgroup memory, shared by
// `permute_tiles.wgsl` and `gemv_gather.wgsl` (the host prepends `const TILE_K: u32 = ...;`;
// the including kernel defines `fn tile_source(index: u32) -> u32`, the packed words the
// tile is filled from): the u32 of channel c holds the 8 rows' codes of that channel, row r
// in nibble r, so that the 8 rows' codes of any channel are one load away. 4 · TILE_K bytes.

var<workgroup> cols: array<vec4<u32>, TILE_K / 4u>;

fn tile_word(idx: u32) -> u32 {
    return cols[idx / 4u][idx % 4u];
}

fn set_tile_word(idx: u32, v: u32) {
    cols[idx / 4u][idx % 4u] = v;
}

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

// Fill the tile with `rows` (at most 8) rows of `kw` packed words, from row `row0` of
// `tile_source` on (rows past `rows` are zero): each invocation (of 256) loads word w of the
// 8 rows and stores it transposed, as the u32s of channels 8w … 8w + 7.
fn fill_tile(row0: u32, rows: u32, kw: u32, lid: u32) {
    for (var w = lid; w < kw; w += 256u) {
        var t: array<u32, 8>;
        for (var r = 0u; r < 8u; r++) {
            t[r] = 0u;
            if r < rows {
                t[r] = tile_source((row0 + r) * kw + w);
            }
        }
        transpose8(&t);
        cols[2u * w] = vec4(t[0], t[1], t[2], t[3]);
        cols[2u * w + 1u] = vec4(t[4], t[5], t[6], t[7]);
    }
}

// The 8 rows' words (row r at index r) made of channels lo.x … lo.w, hi.x … hi.w, in order.
fn row_words(lo: vec4<u32>, hi: vec4<u32>) -> array<u32, 8> {
    var t = array<u32, 8>(
        tile_word(lo.x), tile_word(lo.y), tile_word(lo.z), tile_word(lo.w),
        tile_word(hi.x), tile_word(hi.y), tile_word(hi.z), tile_word(hi.w),
    );
    transpose8(&t);
    return t;
}
