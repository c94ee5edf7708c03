// Parameters of every FWHT pass (`hadamard.rs`, `Params`): the passes view the tensor as
// `rows` rows of `k` elements; `chunk` = 2^log2_chunk is the block of the power-of-two stages
// (`fwht_chunk`) or the stride between the `outer` elements a cross pass combines; `scale` is
// 1 for all passes but the last (1/sqrt(k)); `from_src`: the chunk pass reads `src`, not x;
// `quads`: the subgroup pass's second round holds 16-byte quads (`hadamard_subgroup.wgsl`).
struct Params {
    rows: u32,
    k: u32,
    chunk: u32,
    log2_chunk: u32,
    outer: u32,
    scale: f32,
    from_src: u32,
    quads: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
