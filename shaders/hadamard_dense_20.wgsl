// H_20 for `hadamard_mixed.wgsl`: `column` reads the 20 elements j, j + P, … of a row
// from workgroup memory into a value, `dense` applies row a of H_20 to them:
// Σ_b H_20[a][b] · v[b], b ascending from the first term (the CPU reference's order),
// the signs written into the code. Generated from `hadamard::small_hadamard(20)` by
// `tests/shaders.rs` (`RRS_BLESS=1 cargo test --test shaders` rewrites it), which checks
// it against the reference.
const M: u32 = 20u;

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
        buf[pad(j + 12u * pn)],
        buf[pad(j + 13u * pn)],
        buf[pad(j + 14u * pn)],
        buf[pad(j + 15u * pn)],
        buf[pad(j + 16u * pn)],
        buf[pad(j + 17u * pn)],
        buf[pad(j + 18u * pn)],
        buf[pad(j + 19u * pn)],
    );
}

fn dense(a: u32, v: array<f32, M>) -> f32 {
    switch a {
        case 0u: {
            return v[0] - v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7] + v[8] + v[9] + v[10] + v[11] + v[12] + v[13] + v[14] + v[15] + v[16] + v[17] + v[18] + v[19];
        }
        case 1u: {
            return -v[0] - v[1] + v[2] - v[3] + v[4] - v[5] + v[6] - v[7] + v[8] - v[9] + v[10] - v[11] + v[12] - v[13] + v[14] - v[15] + v[16] - v[17] + v[18] - v[19];
        }
        case 2u: {
            return v[0] + v[1] + v[2] - v[3] + v[4] + v[5] + v[6] + v[7] + v[8] + v[9] - v[10] - v[11] - v[12] - v[13] + v[14] + v[15] - v[16] - v[17] - v[18] - v[19];
        }
        case 3u: {
            return v[0] - v[1] - v[2] - v[3] + v[4] - v[5] + v[6] - v[7] + v[8] - v[9] - v[10] + v[11] - v[12] + v[13] + v[14] - v[15] - v[16] + v[17] - v[18] + v[19];
        }
        case 4u: {
            return v[0] + v[1] + v[2] + v[3] + v[4] - v[5] + v[6] + v[7] - v[8] - v[9] + v[10] + v[11] - v[12] - v[13] - v[14] - v[15] + v[16] + v[17] - v[18] - v[19];
        }
        case 5u: {
            return v[0] - v[1] + v[2] - v[3] - v[4] - v[5] + v[6] - v[7] - v[8] + v[9] + v[10] - v[11] - v[12] + v[13] - v[14] + v[15] + v[16] - v[17] - v[18] + v[19];
        }
        case 6u: {
            return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] - v[7] - v[8] - v[9] - v[10] - v[11] + v[12] + v[13] - v[14] - v[15] - v[16] - v[17] + v[18] + v[19];
        }
        case 7u: {
            return v[0] - v[1] + v[2] - v[3] + v[4] - v[5] - v[6] - v[7] - v[8] + v[9] - v[10] + v[11] + v[12] - v[13] - v[14] + v[15] - v[16] + v[17] + v[18] - v[19];
        }
        case 8u: {
            return v[0] + v[1] + v[2] + v[3] - v[4] - v[5] - v[6] - v[7] + v[8] - v[9] + v[10] + v[11] + v[12] + v[13] + v[14] + v[15] - v[16] - v[17] - v[18] - v[19];
        }
        case 9u: {
            return v[0] - v[1] + v[2] - v[3] - v[4] + v[5] - v[6] + v[7] - v[8] - v[9] + v[10] - v[11] + v[12] - v[13] + v[14] - v[15] - v[16] + v[17] - v[18] + v[19];
        }
        case 10u: {
            return v[0] + v[1] - v[2] - v[3] + v[4] + v[5] - v[6] - v[7] + v[8] + v[9] + v[10] - v[11] + v[12] + v[13] - v[14] - v[15] + v[16] + v[17] - v[18] - v[19];
        }
        case 11u: {
            return v[0] - v[1] - v[2] + v[3] + v[4] - v[5] - v[6] + v[7] + v[8] - v[9] - v[10] - v[11] + v[12] - v[13] - v[14] + v[15] + v[16] - v[17] - v[18] + v[19];
        }
        case 12u: {
            return v[0] + v[1] - v[2] - v[3] - v[4] - v[5] + v[6] + v[7] + v[8] + v[9] + v[10] + v[11] + v[12] - v[13] - v[14] - v[15] - v[16] - v[17] + v[18] + v[19];
        }
        case 13u: {
            return v[0] - v[1] - v[2] + v[3] - v[4] + v[5] + v[6] - v[7] + v[8] - v[9] + v[10] - v[11] - v[12] - v[13] - v[14] + v[15] - v[16] + v[17] + v[18] - v[19];
        }
        case 14u: {
            return v[0] + v[1] + v[2] + v[3] - v[4] - v[5] - v[6] - v[7] + v[8] + v[9] - v[10] - v[11] - v[12] - v[13] + v[14] - v[15] + v[16] + v[17] + v[18] + v[19];
        }
        case 15u: {
            return v[0] - v[1] + v[2] - v[3] - v[4] + v[5] - v[6] + v[7] + v[8] - v[9] - v[10] + v[11] - v[12] + v[13] - v[14] - v[15] + v[16] - v[17] + v[18] - v[19];
        }
        case 16u: {
            return v[0] + v[1] - v[2] - v[3] + v[4] + v[5] - v[6] - v[7] - v[8] - v[9] + v[10] + v[11] - v[12] - v[13] + v[14] + v[15] + v[16] - v[17] + v[18] + v[19];
        }
        case 17u: {
            return v[0] - v[1] - v[2] + v[3] + v[4] - v[5] - v[6] + v[7] - v[8] + v[9] + v[10] - v[11] - v[12] + v[13] + v[14] - v[15] - v[16] - v[17] + v[18] - v[19];
        }
        case 18u: {
            return v[0] + v[1] - v[2] - v[3] - v[4] - v[5] + v[6] + v[7] - v[8] - v[9] - v[10] - v[11] + v[12] + v[13] + v[14] + v[15] + v[16] + v[17] + v[18] - v[19];
        }
        case 19u, default: {
            return v[0] - v[1] - v[2] + v[3] - v[4] + v[5] + v[6] - v[7] - v[8] + v[9] - v[10] + v[11] + v[12] - v[13] + v[14] - v[15] + v[16] - v[17] - v[18] - v[19];
        }
    }
}
