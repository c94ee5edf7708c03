// The entry point of `quantize.wgsl` for adapters without subgroups: the row maximum in two
// levels through workgroup memory.

var<workgroup> red: array<u32, WG>;
var<workgroup> red32: array<u32, 32>;

// The maximum of every invocation's m, in invocation 0 (0 elsewhere).
fn row_amax(m: u32, lid: u32) -> u32 {
    red[lid] = m;
    workgroupBarrier();
    if lid < 32u {
        var mm = 0u;
        for (var t = lid; t < WG; t += 32u) {
            mm = max(mm, red[t]);
        }
        red32[lid] = mm;
    }
    workgroupBarrier();
    var amax_bits = 0u;
    if lid == 0u {
        for (var t = 0u; t < min(32u, WG); t++) {
            amax_bits = max(amax_bits, red32[t]);
        }
    }
    return amax_bits;
}

@compute @workgroup_size(WG)
fn quantize(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    quantize_row(wid.x + wid.y * nwg.x, lid);
}
