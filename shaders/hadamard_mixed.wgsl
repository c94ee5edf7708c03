// Normalized FWHT of an m·2^n size in one pass: k = M · P elements a row (P = chunk =
// 2^log2_chunk ≥ 16, M ∈ {12, 20, 28, 36}), one workgroup a row, the row in workgroup
// memory (k ≤ BUF), in place or from `src` (`from_src`):
//  1. each invocation loads 16 consecutive elements (four 16-byte loads), runs the first
//     `first` = log2_chunk − 4 · (rounds − 1) butterfly stages in registers and writes them
//     to workgroup memory;
//  2. each later round reads 16 elements whose index bits [lh, lh + 4) vary (stride
//     h = 2^lh), runs those 4 stages and writes them back: the chunk FWHT of every chunk,
//     stages ascending, as the CPU reference runs them;
//  3. each invocation takes one column j < P (all M of its elements), or a share of its
//     rows where P is below the workgroup size, and writes
//     y[a·P + j] = scale · Σ_b H_M[a][b] · t[b·P + j], the sum from the first product in
//     ascending b (the reference's, which starts at −0.0) with H_M's signs written into the
//     code (`dense`, `hadamard_dense_<M>.wgsl`).
// Bit-identical to the reference, as the chunk pass and the cross pass it replaces, which
// read and write the row twice. Workgroup memory pads one word per 16 elements, so that the
// strided accesses of round 0 fall in distinct banks; the other rounds and the dense stage
// read consecutive elements across invocations. The whole row is read before any of it is
// written: in place is safe.
//
// The host prepends `hadamard_dense_<M>.wgsl` (M, `column` and `dense`), `const BUF: u32 = k;
// const WG: u32 = ...;` (invocations a workgroup, `hadamard::mixed_workgroup_size`),
// `hadamard_params.wgsl` and `hadamard_regs.wgsl`.

@group(0) @binding(1) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> src: array<vec4<f32>>;

var<workgroup> buf: array<f32, BUF + BUF / 16u>;

// The slot of element i of the row.
fn pad(i: u32) -> u32 {
    return i + (i >> 4u);
}

// One workgroup per row (numbered wid.x + wid.y * nwg.x).
@compute @workgroup_size(WG)
fn fwht_mixed(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    if row >= p.rows {
        return;
    }
    let k = p.k;
    let units = k / 16u;
    let rounds = (p.log2_chunk + 3u) / 4u;
    let first = p.log2_chunk - 4u * (rounds - 1u);
    // 1. Round 0: 16 consecutive elements, the first stages.
    let q0 = row * (k / 4u);
    for (var u = lid; u < units; u += WG) {
        let q = q0 + 4u * u;
        var g = Group(load(q), load(q + 1u), load(q + 2u), load(q + 3u));
        g = butterflies(g, 0u, first);
        scatter(g, 16u * u, 1u, 4u);
    }
    // 2. The other rounds, 4 stages each.
    for (var r = 1u; r < rounds; r++) {
        workgroupBarrier();
        let lh = first + 4u * (r - 1u);
        let h = 1u << lh;
        for (var u = lid; u < units; u += WG) {
            // Element u with four zero bits inserted at lh.
            let e = ((u >> lh) << (lh + 4u)) | (u & (h - 1u));
            scatter(butterflies(gather(e, h), 0u, 4u), e, h, 4u * h);
        }
    }
    workgroupBarrier();
    // 3. H_M across the chunks.
    let pn = p.chunk;
    let parts = max(1u, WG / pn);
    let out = row * k;
    for (var task = lid; task < pn * parts; task += WG) {
        let j = task % pn;
        let v = column(j, pn);
        for (var a = task / pn; a < M; a += parts) {
            let i = out + a * pn + j;
            x[i >> 2u][i & 3u] = dense(a, v) * p.scale;
        }
    }
}
