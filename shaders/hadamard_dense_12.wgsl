// H_12 for `hadamard_mixed.wgsl`: `column` reads the 12 elements j, j + P, … of a row
// from workgroup memory into a value, `dense` applies row a of H_12 to them:
// Σ_b H_12[a][b] · v[b], b ascending from the first term (the CPU reference's order),
// the signs written into the code. Generated from `hadamard::small_hadamard(12)` by
// `tests/shaders.rs` (`RRS_BLESS=1 cargo test --test shaders` rewrites it), which checks
// it against the reference.
const M: u32 = 12u;

fn column(j: u32, pn: u32) -> array<f32, M> {
    return array<f32, M>(
        buf[pad(j)],
        buf[pad(j + pn)],
        buf[pad(j + 2u * pn)],
        buf[pad(j + 3u * pn)],
        buf[pad(j + 4u * pn)],
        buf[pad(j + 5u * pn)],
        buf[pad(j + 6u * pn)],
        buf[pad(j + 7u * pn)],
        buf[pad(j + 8u * pn)],
        buf[pad(j + 9u * pn)],
        buf[pad(j + 10u * pn)],
        buf[pad(j + 11u * pn)],
    );
}

fn dense(a: u32, v: array<f32, M>) -> f32 {
    switch a {
        case 0u: {
            return v[0] - v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7] + v[8] + v[9] + v[10] + v[11];
        }
        case 1u: {
            return -v[0] - v[1] + v[2] - v[3] + v[4] - v[5] + v[6] - v[7] + v[8] - v[9] + v[10] - v[11];
        }
        case 2u: {
            return v[0] + v[1] + v[2] - v[3] + v[4] + v[5] - v[6] - v[7] - v[8] - v[9] + v[10] + v[11];
        }
        case 3u: {
            return v[0] - v[1] - v[2] - v[3] + v[4] - v[5] - v[6] + v[7] - v[8] + v[9] + v[10] - v[11];
        }
        case 4u: {
            return v[0] + v[1] + v[2] + v[3] + v[4] - v[5] + v[6] + v[7] - v[8] - v[9] - v[10] - v[11];
        }
        case 5u: {
            return v[0] - v[1] + v[2] - v[3] - v[4] - v[5] + v[6] - v[7] - v[8] + v[9] - v[10] + v[11];
        }
        case 6u: {
            return v[0] + v[1] - v[2] - v[3] + v[4] + v[5] + v[6] - v[7] + v[8] + v[9] - v[10] - v[11];
        }
        case 7u: {
            return v[0] - v[1] - v[2] + v[3] + v[4] - v[5] - v[6] - v[7] + v[8] - v[9] - v[10] + v[11];
        }
        case 8u: {
            return v[0] + v[1] - v[2] - v[3] - v[4] - v[5] + v[6] + v[7] + v[8] - v[9] + v[10] + v[11];
        }
        case 9u: {
            return v[0] - v[1] - v[2] + v[3] - v[4] + v[5] + v[6] - v[7] - v[8] - v[9] + v[10] - v[11];
        }
        case 10u: {
            return v[0] + v[1] + v[2] + v[3] - v[4] - v[5] - v[6] - v[7] + v[8] + v[9] + v[10] - v[11];
        }
        case 11u, default: {
            return v[0] - v[1] + v[2] - v[3] - v[4] + v[5] - v[6] + v[7] + v[8] - v[9] - v[10] - v[11];
        }
    }
}
