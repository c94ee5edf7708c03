// `permute_tiles`: the K reorder of `permute.wgsl` (same contract, appended to it) for rows
// of k <= TILE_K, through a transposed tile. The host prepends `const TILE_K: u32 = ...;`
// and `permute.wgsl`, and `nibble_tile.wgsl` (the tile: 4 · TILE_K bytes).
//
// A workgroup takes 8 consecutive rows. Each invocation loads word w of the 8 rows
// (coalesced) and transposes the 8 × 8 nibbles, so that word c of the result holds the 8
// rows' codes of channel 8w + c: one u32 per channel in workgroup memory. Output word w of
// the 8 rows then needs one load per channel, cols[perm[8w + c]], and the transpose back.
// Against `permute_staged`, which gathers each code of each row from workgroup memory on
// its own (random banks), that is 8 times fewer workgroup-memory loads.

fn tile_source(index: u32) -> u32 {
    return src[index];
}

// Grid: 1-D over ceil(rows / 8) workgroups, folded.
@compute @workgroup_size(256)
fn permute_tiles(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let kw = p.k / 8u;
    let row0 = (wid.x + wid.y * nwg.x) * 8u;
    if row0 >= p.rows {
        return;
    }
    let rows = min(8u, p.rows - row0);
    fill_tile(row0, rows, kw, lid);
    workgroupBarrier();
    for (var w = lid; w < kw; w += 256u) {
        var a = row_words(channels(w, 0u), channels(w, 1u));
        for (var r = 0u; r < 8u; r++) {
            if r < rows {
                dst[(row0 + r) * kw + w] = a[r];
            }
        }
    }
}
