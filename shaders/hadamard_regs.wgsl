// The 16 elements an FWHT invocation holds in registers, their butterflies, and their ways
// in and out: 16-byte loads from x or `src`, the exchange buffer `buf` (each kernel
// declares `buf` and its padding `pad`), and strided stores. Shared by `fwht_chunk`
// (`hadamard_chunk.wgsl`) and `fwht_subgroup` (`hadamard_subgroup.wgsl`), which declare the
// bindings x and src.

// An invocation's 16 elements, element j in component j % 4 of q[j / 4]. Plain variables and
// straight-line code, no arrays: nothing depends on the shader compiler unrolling a loop to
// keep them in registers.
struct Group {
    q0: vec4<f32>,
    q1: vec4<f32>,
    q2: vec4<f32>,
    q3: vec4<f32>,
}

// The butterfly stages `lo` ≤ stage < `hi` (≤ 4) over the 4 index bits of a group,
// ascending: stages 0 and 1 pair components inside each vec4, stages 2 and 3 pair the vec4s.
fn butterflies(g: Group, lo: u32, hi: u32) -> Group {
    var v = g;
    if lo == 0u && hi > 0u {
        v = Group(stage0(v.q0), stage0(v.q1), stage0(v.q2), stage0(v.q3));
    }
    if lo <= 1u && hi > 1u {
        v = Group(stage1(v.q0), stage1(v.q1), stage1(v.q2), stage1(v.q3));
    }
    if lo <= 2u && hi > 2u {
        v = Group(v.q0 + v.q1, v.q0 - v.q1, v.q2 + v.q3, v.q2 - v.q3);
    }
    if lo <= 3u && hi > 3u {
        v = Group(v.q0 + v.q2, v.q1 + v.q3, v.q0 - v.q2, v.q1 - v.q3);
    }
    return v;
}

fn stage0(a: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(a.x + a.y, a.x - a.y, a.z + a.w, a.z - a.w);
}

fn stage1(a: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(a.x + a.z, a.y + a.w, a.x - a.z, a.y - a.w);
}

// Workgroup memory: elements i, i + h, i + 2h, i + 3h of the tile.
fn put4(i: u32, h: u32, w: vec4<f32>) {
    buf[pad(i)] = w.x;
    buf[pad(i + h)] = w.y;
    buf[pad(i + 2u * h)] = w.z;
    buf[pad(i + 3u * h)] = w.w;
}

fn get4(i: u32, h: u32) -> vec4<f32> {
    return vec4<f32>(buf[pad(i)], buf[pad(i + h)], buf[pad(i + 2u * h)], buf[pad(i + 3u * h)]);
}

// g with quad `quad` read from the buffer: elements i + c · h, c < 4.
fn with_quad(g: Group, quad: u32, i: u32, h: u32) -> Group {
    var v = g;
    let a = get4(i, h);
    switch quad {
        case 0u: {
            v.q0 = a;
        }
        case 1u: {
            v.q1 = a;
        }
        case 2u: {
            v.q2 = a;
        }
        default: {
            v.q3 = a;
        }
    }
    return v;
}

// Into the buffer: quad c of g at elements i + c · quad_step + e · h (e < 4).
fn scatter(g: Group, i: u32, h: u32, quad_step: u32) {
    put4(i, h, g.q0);
    put4(i + quad_step, h, g.q1);
    put4(i + 2u * quad_step, h, g.q2);
    put4(i + 3u * quad_step, h, g.q3);
}

fn gather(base: u32, h: u32) -> Group {
    return Group(get4(base, h), get4(base + 4u * h, h), get4(base + 8u * h, h), get4(base + 12u * h, h));
}

// x at elements i, i + h, i + 2h, i + 3h of the tensor, times `scale`.
fn store4(i: u32, h: u32, w: vec4<f32>) {
    let v = w * p.scale;
    x[i >> 2u][i & 3u] = v.x;
    x[(i + h) >> 2u][(i + h) & 3u] = v.y;
    x[(i + 2u * h) >> 2u][(i + 2u * h) & 3u] = v.z;
    x[(i + 3u * h) >> 2u][(i + 3u * h) & 3u] = v.w;
}

// Into x, times `scale`: quad c of g at elements i + c · quad_step + e · h (e < 4).
fn store_group(g: Group, i: u32, h: u32, quad_step: u32) {
    store4(i, h, g.q0);
    store4(i + quad_step, h, g.q1);
    store4(i + 2u * quad_step, h, g.q2);
    store4(i + 3u * quad_step, h, g.q3);
}

fn load(q: u32) -> vec4<f32> {
    if p.from_src != 0u {
        return src[q];
    }
    return x[q];
}
