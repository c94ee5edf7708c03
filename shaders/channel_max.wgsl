// Runtime Smooth statistics, computed on the GPU without a readback.
//
// `absmax`:       smax[j] = max_i |x[i, j]| over the rows of a row-major [rows, k]
//                 f32 tensor, as the bit pattern of a non-negative f32 (u32 order equals
//                 float order for those, and NaN sorts above +Inf, so it is never lost).
//                 `smax` must be zeroed before the dispatch.
// `row_exponent`: row_exp[i] = the biased f32 exponent of max_j |x[i, j]| (255 for a row
//                 with NaN or Inf): the statistic `Statistic::RowNormalized` divides by.
// `absmax_normalized`: as `absmax`, over |x[i, j]| / 2^(row_exp[i] − 127) (`normalized`):
//                 each row scaled exactly by a power of two so that its maximum lies in
//                 [1, 2), so that no single token sets the channel maxima.
// `rank`:         rank[j] += the number of channels i in this workgroup's slice of the
//                 keys that sort before j (larger smax, or equal smax and i < j); the slices
//                 (grid y) split the k² comparisons over many workgroups. `rank` must be
//                 zeroed before the dispatch.
// `scatter`:      perm[rank[j]] = j: the channel order by smax descending, ties by lower
//                 index first (a stable, deterministic sort).
// `group_scales`: scales[g] = clamp(max_{p in group g} smax[perm[p]], 2^-17, 2^126) over
//                 groups of `group` consecutive reordered channels, rounded up to
//                 24 − bitlen(64·group − 1) significant bits (`channel_max::round_scale`:
//                 s_g times a group's integer sum is then exact), and inv_scales[g] =
//                 1 / scales[g] correctly rounded (`div_rn`, prepended by the host); sets
//                 status bit 0 (and inv_scales[g] = 0) when a channel maximum is NaN or Inf.

struct Params {
    rows: u32,
    k: u32,
    group: u32,
    rows_per_wg: u32,
}

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> smax: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> perm: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<f32>;
@group(0) @binding(5) var<storage, read_write> status: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> inv_scales: array<f32>;
@group(0) @binding(7) var<storage, read_write> ranks: array<atomic<u32>>;
@group(0) @binding(8) var<storage, read_write> row_exp: array<u32>;
@group(0) @binding(0) var<uniform> p: Params;

const WG: u32 = 256u;
const ABS_MASK: u32 = 0x7fffffffu;
const INF_BITS: u32 = 0x7f800000u;
const MIN_SCALE: f32 = 7.6293945e-6; // 2^-17: a power of two, which the rounding keeps
const MAX_SCALE: f32 = 8.507059e37; // 2^126: keeps 1 / scale a normal f32

// |x| (its bits b) divided by 2^(e − 127), e the biased exponent of its row's maximum, in
// integer exponent arithmetic (exact, so every backend gets the same bits): the row's
// maximum lands in [1, 2). An element that would fall below the normal range, a subnormal,
// and every element of a row of zeros or subnormals (e = 0) give 0; a row with NaN or Inf
// (e = 255) passes unchanged, so that the maxima report it.
fn normalized(b: u32, e: u32) -> u32 {
    if e == 0u {
        return 0u;
    }
    if e == 255u {
        return b;
    }
    let be = b >> 23u;
    let ne = i32(be) - i32(e) + 127;
    if be == 0u || ne <= 0 {
        return 0u;
    }
    return (b & 0x7fffffu) | (u32(ne) << 23u);
}

// smax[j] = max(smax[j], max over rows r0 … r1 of |x[r, j]|, each row `normalized` when
// `norm`): the body of `absmax` and `absmax_normalized`.
fn column_max(j: u32, wy: u32, norm: bool) {
    if j >= p.k {
        return;
    }
    let r0 = wy * p.rows_per_wg;
    let r1 = min(r0 + p.rows_per_wg, p.rows);
    // Batches of 8 independent loads per invocation.
    var m = 0u;
    for (var r = r0; r < r1; r += 8u) {
        var ld: array<u32, 8>;
        for (var t = 0u; t < 8u; t++) {
            ld[t] = 0u;
            if r + t < r1 {
                ld[t] = bitcast<u32>(x[(r + t) * p.k + j]) & ABS_MASK;
                if norm {
                    ld[t] = normalized(ld[t], row_exp[r + t]);
                }
            }
        }
        for (var t = 0u; t < 8u; t++) {
            m = max(m, ld[t]);
        }
    }
    atomicMax(&smax[j], m);
}

// Grid: (ceil(k / 256), ceil(rows / rows_per_wg)). `row_exp` is bound but not read.
@compute @workgroup_size(256)
fn absmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    column_max(wid.x * WG + lid, wid.y, false);
}

// Grid: as `absmax`, after `row_exponent`.
@compute @workgroup_size(256)
fn absmax_normalized(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    column_max(wid.x * WG + lid, wid.y, true);
}

// Grid: grid_1d(rows) workgroups of GS_WG lanes, one a row: the lanes stride over the row,
// then `workgroup_max`.
@compute @workgroup_size(64)
fn row_exponent(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    if row >= p.rows {
        return;
    }
    var m = 0u;
    for (var j = lid; j < p.k; j += GS_WG) {
        m = max(m, bitcast<u32>(x[row * p.k + j]) & ABS_MASK);
    }
    m = workgroup_max(lid, m);
    if lid == 0u {
        row_exp[row] = min(m >> 23u, 255u);
    }
}

// The keys of one tile, four to a load.
var<workgroup> tile: array<vec4<u32>, WG / 4u>;

// How many of the n keys of the tile sort before `key` when all of them sort before it on
// a tie (`ties_before`) or none does: one compare and one add a key.
fn count_before(key: u32, n: u32, ties_before: bool) -> u32 {
    var c = vec4<u32>(0u);
    let kv = vec4<u32>(key);
    if ties_before {
        for (var t = 0u; t < n / 4u; t++) {
            c += select(vec4<u32>(0u), vec4<u32>(1u), tile[t] >= kv);
        }
    } else {
        for (var t = 0u; t < n / 4u; t++) {
            c += select(vec4<u32>(0u), vec4<u32>(1u), tile[t] > kv);
        }
    }
    return c.x + c.y + c.z + c.w;
}

// Grid: (ceil(k / 256), slices); slice y compares against keys [y·span, (y+1)·span),
// span = rows_per_wg (reused as the slice length, a multiple of 256). A tile whose
// channels all come before (after) this workgroup's counts ties as before (not before);
// only the tile that holds the workgroup's own channels compares indices (k is a multiple
// of 8, so every tile holds whole vec4s).
@compute @workgroup_size(256)
fn rank(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let first = wid.x * WG;
    let j = first + lid;
    var key = 0u;
    if j < p.k {
        key = atomicLoad(&smax[j]);
    }
    let lo = wid.y * p.rows_per_wg;
    let hi = min(lo + p.rows_per_wg, p.k);
    var r = 0u;
    for (var t0 = lo; t0 < hi; t0 += WG) {
        if t0 + lid < p.k {
            tile[lid / 4u][lid % 4u] = atomicLoad(&smax[t0 + lid]);
        }
        workgroupBarrier();
        let n = min(WG, p.k - t0);
        if t0 + n <= first {
            r += count_before(key, n, true);
        } else if t0 >= first + WG {
            r += count_before(key, n, false);
        } else {
            for (var t = 0u; t < n; t++) {
                let other = tile[t / 4u][t % 4u];
                let i = t0 + t;
                r += u32(other > key || (other == key && i < j));
            }
        }
        workgroupBarrier();
    }
    if j < p.k && r > 0u {
        atomicAdd(&ranks[j], r);
    }
}

// Grid: ceil(k / 256) workgroups along x.
@compute @workgroup_size(256)
fn scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = wid.x * WG + lid;
    if j < p.k {
        perm[atomicLoad(&ranks[j])] = j;
    }
}

// The lanes of a workgroup of GS_WG (`row_exponent`, `group_scales`), in uniform control
// flow: the max of their values `v`, by a tree in workgroup memory.
const GS_WG: u32 = 64u;
var<workgroup> gmax: array<u32, GS_WG>;

fn workgroup_max(lid: u32, v: u32) -> u32 {
    gmax[lid] = v;
    workgroupBarrier();
    for (var s = GS_WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            gmax[lid] = max(gmax[lid], gmax[lid + s]);
        }
        workgroupBarrier();
    }
    return gmax[0];
}

// Grid: grid_1d(k / group) workgroups, one per group: its lanes stride over the group's
// channels, then `workgroup_max` (a lane per group walked `group` dependent loads one after
// another: about 50 µs for groups of 128 on the H200's CUDA twin of this).
@compute @workgroup_size(64)
fn group_scales(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.x + wid.y * nwg.x;
    if g >= p.k / p.group {
        return;
    }
    var lane_max = 0u;
    for (var q = g * p.group + lid; q < (g + 1u) * p.group; q += GS_WG) {
        lane_max = max(lane_max, atomicLoad(&smax[perm[q]]));
    }
    let m = workgroup_max(lid, lane_max);
    if lid != 0u {
        return;
    }
    if m >= INF_BITS {
        atomicOr(&status[0], 1u);
        scales[g] = bitcast<f32>(m);
        inv_scales[g] = 0.0;
        return;
    }
    let drop = min(32u - countLeadingZeros(64u * p.group - 1u), 23u);
    let mask = (1u << drop) - 1u;
    let s = bitcast<f32>((bitcast<u32>(clamp(bitcast<f32>(m), MIN_SCALE, MAX_SCALE)) + mask) & ~mask);
    scales[g] = s;
    inv_scales[g] = div_rn(1.0, s);
}
