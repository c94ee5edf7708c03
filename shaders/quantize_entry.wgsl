// The entry point of `quantize.wgsl` for adapters without subgroups: the row maximum in two
// levels through workgroup memory.

// The maximum of every invocation's m, in invocation 0 (0 elsewhere).
fn row_amax(m: u32, lid: u32) -> u32 {
    red[lid] = m;
    workgroupBarrier();
    // Invocation t < 32 folds red[t + 32 j] into red[t] (no other invocation reads those).
    if lid < 32u {
        var mm = 0u;
        for (var t = lid; t < WG; t += 32u) {
            mm = max(mm, red[t]);
        }
        red[lid] = mm;
    }
    workgroupBarrier();
    return max_of_partials(min(32u, WG), lid);
}

@compute @workgroup_size(WG)
fn quantize(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    quantize_row(wid.x + wid.y * nwg.x, lid);
}
