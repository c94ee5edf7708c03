// The entry point of `quantize.wgsl` where the adapter has subgroups: the row maximum by
// `subgroupMax`, then across the subgroups through workgroup memory (one barrier instead of
// two). Needs no particular mapping of invocations to subgroups.

var<private> subgroup: u32;
var<private> lane: u32;
var<private> subgroups: u32;

// The maximum of every invocation's m, in invocation 0 (0 elsewhere).
fn row_amax(m: u32, lid: u32) -> u32 {
    let mm = subgroupMax(m);
    if lane == 0u {
        red[subgroup] = mm;
    }
    workgroupBarrier();
    return max_of_partials(subgroups, lid);
}

@compute @workgroup_size(WG)
fn quantize(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_id) g: u32,
    @builtin(subgroup_invocation_id) l: u32,
    @builtin(num_subgroups) n: u32,
) {
    subgroup = g;
    lane = l;
    subgroups = n;
    quantize_row(wid.x + wid.y * nwg.x, lid);
}
