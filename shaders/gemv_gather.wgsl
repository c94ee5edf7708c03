// Decode with dynamic reorder (m <= GATHER_MAXM rows), the weights read through the
// permutation instead of permuted first:
//     y[i, n] = a_scale[i] · b_scale[n] · Σ_g s_g · Σ_{q in g} qa[i, q] · qb[n, perm[q]]
// for k <= TILE_K, k a multiple of 32, and groups a multiple of 32 (with scales). The host
// prepends `const TILE_K: u32 = ...; const TILES_PER_WG: u32 = ...;` (tiles of 8 columns a
// workgroup takes one after another, reusing the permutation entries and activation words it
// loaded once), a dot snippet (`dot4x`), `gemm_params.wgsl` and
// `nibble_tile.wgsl` (the tile: 4 · TILE_K bytes, the only workgroup memory).
//
// A workgroup computes 8 output columns. It transposes their 8 weight rows into workgroup
// memory as `permute_tiles.wgsl` does (one u32 per channel holds the 8 rows' codes). Each
// invocation then takes one piece of 32 positions (4 words; k <= 8192 makes at most 256
// pieces), whose permutation entries and activation words it loaded before the tile was
// ready: per word, the u32s of its 8 channels transposed back are the 8 rows' permuted
// words, multiplied with the activation word as in `gemv.wgsl` (nibbles expanded to 16 ×
// value per byte);
// the piece's exact integer sum is folded once with its group's scale, s_g · P_piece (with
// unit scales the sums stay exact integers). The invocations' sums meet in workgroup
// memory (the tile, reused) and a two-level sum: the same tolerance as `gemv.wgsl`. Against
// permuting the weights first (`permute_tiles`, n · k / 2 bytes written and read again),
// the weights are read once.

@group(0) @binding(1) var<storage, read> qa: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qb: array<u32>;
@group(0) @binding(6) var<storage, read> perm: array<vec4<u32>>;

const GATHER_MAXM: u32 = 4u;
const OUTS: u32 = GATHER_MAXM * 8u; // outputs per workgroup: [row i][column r]

fn tile_source(index: u32) -> u32 {
    return qb[index];
}

// The reduction's second level: the tile's last 256 words.
const RED: u32 = TILE_K - 256u;

// Grid: 1-D over ceil(n / (8 · TILES_PER_WG)) workgroups, folded.
@compute @workgroup_size(256)
fn gemv_gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let kw = p.k / 8u;
    let first = (wid.x + wid.y * nwg.x) * 8u * TILES_PER_WG;
    if first >= p.n {
        return;
    }
    // This invocation's piece (words 4·lid … 4·lid + 3): its permutation entries, clamped to
    // the row, and the activation words, loaded while the tile is built.
    let has_piece = lid < p.k / 32u;
    var chans: array<vec4<u32>, 8>;
    var acts: array<vec4<u32>, GATHER_MAXM>;
    if has_piece {
        for (var e = 0u; e < 8u; e++) {
            chans[e] = min(perm[8u * lid + e], vec4(p.k - 1u));
        }
        for (var i = 0u; i < GATHER_MAXM; i++) {
            acts[i] = vec4(0u);
            if i < p.m {
                acts[i] = qa[i * kw / 4u + lid];
            }
        }
    }
    let smoothing = (p.flags & SMOOTH) != 0u;
    var g = 1.0;
    if smoothing && has_piece {
        g = gscale[lid * 32u / p.group];
    }
    for (var tile = 0u; tile < TILES_PER_WG; tile++) {
        let col0 = first + 8u * tile;
        if col0 >= p.n {
            break;
        }
        let ncols = min(8u, p.n - col0);
        workgroupBarrier(); // the previous tile's sums no longer read
        fill_tile(col0, ncols, kw, lid);
        workgroupBarrier();

        var acc: array<f32, OUTS>;
        for (var o = 0u; o < OUTS; o++) {
            acc[o] = 0.0;
        }
        if has_piece {
            var d: array<i32, OUTS>;
            for (var o = 0u; o < OUTS; o++) {
                d[o] = 0;
            }
            for (var e = 0u; e < 4u; e++) {
                var b = row_words(chans[2u * e], chans[2u * e + 1u]); // column r's word 4·lid + e
                for (var i = 0u; i < GATHER_MAXM; i++) {
                    if i < p.m {
                        let a = acts[i][e];
                        let ae = (a << 4u) & MASK;
                        let ao = a & MASK;
                        for (var r = 0u; r < 8u; r++) {
                            let we = (b[r] << 4u) & MASK;
                            let wo = b[r] & MASK;
                            d[i * 8u + r] += dot4x(ae, we) + dot4x(ao, wo);
                        }
                    }
                }
            }
            for (var o = 0u; o < OUTS; o++) {
                acc[o] = fma(g, f32(d[o] >> 8u), acc[o]);
            }
        }

        // Sum the 256 invocations' values of each output, `per_round` outputs at a time: the
        // values at tile word o · 256 + lid, then 8 invocations an output each add 32 of them
        // (into the tile's last 256 words), and one adds those 8.
        let per_round = min(TILE_K / 256u - 1u, 32u);
        for (var o0 = 0u; o0 < 8u * p.m; o0 += per_round) {
            workgroupBarrier(); // the tile, or the previous round's values, no longer read
            for (var o = 0u; o < OUTS; o++) {
                if o >= o0 && o < o0 + per_round {
                    set_tile_word((o - o0) * 256u + lid, bitcast<u32>(acc[o]));
                }
            }
            workgroupBarrier();
            let count = min(per_round, 8u * p.m - o0);
            if lid < count * 8u {
                let base = (lid / 8u) * 256u + lid % 8u;
                var s = 0.0;
                for (var e = 0u; e < 32u; e++) {
                    s += bitcast<f32>(tile_word(base + 8u * e));
                }
                set_tile_word(RED + lid, bitcast<u32>(s));
            }
            workgroupBarrier();
            if lid < count {
                var t = 0.0;
                for (var q = 0u; q < 8u; q++) {
                    t += bitcast<f32>(tile_word(RED + lid * 8u + q));
                }
                let o = o0 + lid;
                let i = o / 8u;
                let col = col0 + o % 8u;
                if col < p.n {
                    y[i * p.n + col] = a_scale[i] * b_scale[col] * t;
                }
            }
        }
    }
}
