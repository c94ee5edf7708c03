// Subgroup layout probe, run once per context where the adapter has subgroups: in one
// workgroup of 256 invocations, each records its number as the subgroup kernels compute it,
// subgroup_id · subgroup_size + subgroup_invocation_id, or 0xffffffff where its subgroup is
// not full. The FWHT's subgroup pass (`hadamard_subgroup.wgsl`) relies on these numbers being
// a permutation of 0..256; the host turns subgroups off where they are not.

struct Params {
    invocations: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> numbers: array<u32>;

@compute @workgroup_size(256)
fn probe(
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_id) g: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
) {
    let full = subgroupAdd(1u) == size;
    if lid < p.invocations {
        numbers[lid] = select(0xffffffffu, g * size + lane, full);
    }
}
