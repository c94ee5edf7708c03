//! `gptq`: GPTQ weight quantization (Frantar et al., 2023) on the CPU, the paper's weight
//! setting: per-output-channel symmetric INT4 like RTN (scale = max |w_row| / 7, or the
//! clipping search's, [`WeightScale`]; codes -8..=7), but the columns are quantized in order and each one's rounding error is spread
//! over the columns not yet quantized, weighted by the inverse Hessian of the layer's
//! inputs, H = Xᵀ X from calibration activations.
//!
//! Output layout as [`pack_weights`](crate::pack_weights): `[n, k / 8]` packed codes and
//! `[n]` row scales.

use crate::error::{Error, Result};
use crate::quantize::{code, pack, unpack};
use crate::weight_scale::WeightScale;

/// Dampening added to H's diagonal, as a fraction of its mean (GPTQ's default).
pub const DAMP: f64 = 0.01;

/// H = Xᵀ X over the rows of `x` ([rows, k]), in f64: `[k, k]` row-major.
pub fn hessian(x: &[f32], k: usize) -> Vec<f64> {
    let mut h = vec![0f64; k * k];
    for row in x.chunks(k) {
        let r: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        for (i, &ri) in r.iter().enumerate() {
            if ri == 0.0 {
                continue;
            }
            let hi = &mut h[i * k..(i + 1) * k];
            for (hij, &rj) in hi.iter_mut().zip(&r) {
                *hij += ri * rj;
            }
        }
    }
    h
}

/// In-place Cholesky factor (lower) of the symmetric positive definite `a` ([k, k]).
fn cholesky(a: &mut [f64], k: usize) -> Result<()> {
    for j in 0..k {
        let mut d = a[j * k + j];
        for p in 0..j {
            d -= a[j * k + p] * a[j * k + p];
        }
        if d <= 0.0 || !d.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "GPTQ: the dampened Hessian is not positive definite (pivot {j} = {d})"
            )));
        }
        let d = d.sqrt();
        a[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for p in 0..j {
                s -= a[i * k + p] * a[j * k + p];
            }
            a[i * k + j] = s / d;
        }
        for i in 0..j {
            a[i * k + j] = 0.0;
        }
    }
    Ok(())
}

/// The upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ U), as GPTQ uses it, from one Cholesky
/// factorization and one triangular inverse: with P the index reversal and P H P = L Lᵀ,
/// H⁻¹ = (P L⁻ᵀ P)(P L⁻¹ P), and U = P L⁻¹ P is upper triangular.
fn inverse_cholesky_upper(h: Vec<f64>, k: usize) -> Result<Vec<f64>> {
    let mut a: Vec<f64> = (0..k * k)
        .map(|idx| h[(k - 1 - idx / k) * k + (k - 1 - idx % k)])
        .collect();
    cholesky(&mut a, k)?;
    // X = L⁻¹ row by row: X[i, :] = (e_i − Σ_{p<i} L[i, p] X[p, :]) / L[i, i].
    let mut x = vec![0f64; k * k];
    for i in 0..k {
        let (done, rest) = x.split_at_mut(i * k);
        let xi = &mut rest[..k];
        xi[i] = 1.0;
        for p in 0..i {
            let l = a[i * k + p];
            if l != 0.0 {
                for (v, &xp) in xi[..=p].iter_mut().zip(&done[p * k..p * k + p + 1]) {
                    *v -= l * xp;
                }
            }
        }
        let d = a[i * k + i];
        for v in xi[..=i].iter_mut() {
            *v /= d;
        }
    }
    Ok((0..k * k)
        .map(|idx| x[(k - 1 - idx / k) * k + (k - 1 - idx % k)])
        .collect())
}

/// GPTQ on one row with the row's `(scale, 1 / scale)`: its `[k / 8]` packed codes.
fn quantize_row(wr: &[f32], (s, inv): (f32, f32), u: &[f64], k: usize) -> Vec<u32> {
    let mut codes = vec![0i32; k];
    if s == 0.0 {
        return pack(&codes);
    }
    let mut row: Vec<f64> = wr.iter().map(|&v| v as f64).collect();
    for i in 0..k {
        let q = code(row[i] as f32, inv);
        codes[i] = q;
        let err = (row[i] - s as f64 * q as f64) / u[i * k + i];
        let ui = &u[i * k..(i + 1) * k];
        for (wj, &uij) in row[i + 1..].iter_mut().zip(&ui[i + 1..]) {
            *wj -= err * uij;
        }
    }
    pack(&codes)
}

/// Quantize `w` ([n, k], row-major) with GPTQ given the Hessian `h` of its inputs
/// ([`hessian`], `[k, k]`), row scales max |w| / 7. Returns `(packed [n, k / 8], scales [n])`.
/// Columns of H that are zero (inputs that never fire) get unit diagonal and their weights
/// quantize as is.
pub fn gptq(w: &[f32], k: usize, h: &[f64]) -> Result<(Vec<u32>, Vec<f32>)> {
    gptq_scaled(w, k, h, WeightScale::Max)
}

/// [`gptq`] with the row scales chosen by `scale` on the rows of `w` before any error is
/// spread (with [`WeightScale::Clipped`], the clipping search of GPTQ's own quantizer).
pub fn gptq_scaled(
    w: &[f32],
    k: usize,
    h: &[f64],
    scale: WeightScale,
) -> Result<(Vec<u32>, Vec<f32>)> {
    check_shapes(w, k, h)?;
    let scales = scale.row_scales(w, k)?;
    gptq_rows(w, k, h, &scales)
}

/// GPTQ of the rows of `w` with the given `(scale, 1 / scale)` of each.
fn gptq_rows(
    w: &[f32],
    k: usize,
    h: &[f64],
    scales: &[(f32, f32)],
) -> Result<(Vec<u32>, Vec<f32>)> {
    let mut h = h.to_vec();
    let mean_diag = (0..k).map(|i| h[i * k + i]).sum::<f64>() / k as f64;
    let damp = DAMP * if mean_diag > 0.0 { mean_diag } else { 1.0 };
    for i in 0..k {
        if h[i * k + i] == 0.0 {
            h[i * k + i] = 1.0;
        }
        h[i * k + i] += damp;
    }
    let u = inverse_cholesky_upper(h, k)?;
    // Rows are independent given U.
    let rows = crate::parallel::map_rows(scales.len(), |r| {
        quantize_row(&w[r * k..(r + 1) * k], scales[r], &u, k)
    });
    Ok((rows.concat(), scales.iter().map(|s| s.0).collect()))
}

/// [`gptq_scaled`], or [`gptq_act_order_scaled`] when `act_order`, with the Hessian of the
/// calibration inputs `x` (`[rows, k]`, in the same channel space as `w`).
pub fn gptq_calibrated(
    w: &[f32],
    k: usize,
    x: &[f32],
    act_order: bool,
    scale: WeightScale,
) -> Result<(Vec<u32>, Vec<f32>)> {
    let h = hessian(x, k);
    if act_order {
        gptq_act_order_scaled(w, k, &h, scale)
    } else {
        gptq_scaled(w, k, &h, scale)
    }
}

fn check_shapes(w: &[f32], k: usize, h: &[f64]) -> Result<()> {
    crate::quantize::check_k(k)?;
    if !w.len().is_multiple_of(k) || h.len() != k * k {
        return Err(Error::Shape(format!(
            "GPTQ: weights of {} elements and a Hessian of {} for k = {k}",
            w.len(),
            h.len()
        )));
    }
    Ok(())
}

/// [`gptq`] with GPTQ's "act-order": the columns are quantized in the order of decreasing
/// Hessian diagonal (the inputs that carry the most energy first, while the most columns
/// are left to absorb their error), then the codes are put back in the original column
/// order. Same output layout as [`gptq`]; the row scales do not depend on the order.
pub fn gptq_act_order(w: &[f32], k: usize, h: &[f64]) -> Result<(Vec<u32>, Vec<f32>)> {
    gptq_act_order_scaled(w, k, h, WeightScale::Max)
}

/// [`gptq_act_order`] with the row scales chosen by `scale` (as [`gptq_scaled`]).
pub fn gptq_act_order_scaled(
    w: &[f32],
    k: usize,
    h: &[f64],
    scale: WeightScale,
) -> Result<(Vec<u32>, Vec<f32>)> {
    check_shapes(w, k, h)?;
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| h[b * k + b].total_cmp(&h[a * k + a]));
    let hp: Vec<f64> = (0..k * k)
        .map(|idx| h[order[idx / k] * k + order[idx % k]])
        .collect();
    let wp: Vec<f32> = w
        .chunks(k)
        .flat_map(|row| order.iter().map(move |&c| row[c]))
        .collect();
    let (qp, scales) = gptq_rows(&wp, k, &hp, &scale.row_scales(w, k)?)?;
    // The codes back in the original column order.
    let mut codes = vec![0i32; w.len()];
    for (r, row) in unpack(&qp).chunks(k).enumerate() {
        for (pos, &q) in row.iter().enumerate() {
            codes[r * k + order[pos]] = q as i32;
        }
    }
    Ok((pack(&codes), scales))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Rng;

    /// Act-order with the columns already in decreasing-diagonal order is plain GPTQ, and it
    /// returns codes in the original columns: on a problem with its channels reversed it
    /// gives the reversed answer.
    #[test]
    fn act_order_is_gptq_in_another_column_order() {
        let (n, k, rows) = (6, 64, 256);
        let mut rng = Rng::new(9);
        let x = rng.normals(rows * k, 1.0);
        let w = rng.normals(n * k, 1.0);
        // A strictly decreasing diagonal: act-order keeps the natural order.
        let mut h = hessian(&x, k);
        for i in 0..k {
            h[i * k + i] += 1000.0 * (k - i) as f64;
        }
        assert_eq!(gptq_act_order(&w, k, &h).unwrap(), gptq(&w, k, &h).unwrap());
        // Reverse the channels of weights and Hessian: the same problem, reversed answer.
        let rev =
            |v: &[f32]| -> Vec<f32> { v.chunks(k).flat_map(|r| r.iter().rev().copied()).collect() };
        let hr: Vec<f64> = (0..k * k)
            .map(|idx| h[(k - 1 - idx / k) * k + (k - 1 - idx % k)])
            .collect();
        let (q, s) = gptq_act_order(&rev(&w), k, &hr).unwrap();
        let (q0, s0) = gptq(&w, k, &h).unwrap();
        assert_eq!(s, s0);
        let back: Vec<i8> = crate::quantize::unpack(&q)
            .chunks(k)
            .flat_map(|r| r.iter().rev().copied().collect::<Vec<_>>())
            .collect();
        assert_eq!(back, crate::quantize::unpack(&q0));
    }

    /// With H = I (uncorrelated unit inputs) GPTQ is RTN: no error is propagated.
    #[test]
    fn identity_hessian_is_rtn() {
        let (n, k) = (5, 64);
        let mut rng = Rng::new(3);
        let w = rng.normals(n * k, 1.0);
        let mut h = vec![0f64; k * k];
        for i in 0..k {
            h[i * k + i] = 1.0;
        }
        let (q, s) = gptq(&w, k, &h).unwrap();
        let (rq, rs) = crate::quantize::reference(&w, k, None, None).unwrap();
        assert_eq!(s, rs);
        let diff = q.iter().zip(&rq).filter(|(a, b)| a != b).count();
        assert!(diff <= 1, "{diff} words differ from RTN");
    }

    /// On correlated inputs GPTQ's output error ‖X Wᵀ − X Ŵᵀ‖ is below RTN's.
    #[test]
    fn beats_rtn_on_correlated_inputs() {
        let (n, k, rows) = (16, 128, 512);
        let mut rng = Rng::new(5);
        let w = rng.normals(n * k, 1.0);
        let base = rng.normals(rows * 8, 1.0);
        let x: Vec<f32> = (0..rows * k)
            .map(|i| base[(i / k) * 8 + (i % k) % 8] + 0.1 * rng.normal())
            .collect();
        let (gq, gs) = gptq(&w, k, &hessian(&x, k)).unwrap();
        let (rq, rs) = crate::quantize::reference(&w, k, None, None).unwrap();
        let deq = |q: &[u32], s: &[f32]| -> Vec<f32> {
            crate::quantize::unpack(q)
                .iter()
                .enumerate()
                .map(|(i, &c)| c as f32 * s[i / k])
                .collect()
        };
        let y = crate::matmul::reference(&x, &w, k);
        let err = |wq: &[f32]| crate::workload::rel_error(&crate::matmul::reference(&x, wq, k), &y);
        let (e_gptq, e_rtn) = (err(&deq(&gq, &gs)), err(&deq(&rq, &rs)));
        assert!(e_gptq < 0.8 * e_rtn, "GPTQ {e_gptq} vs RTN {e_rtn}");
    }
}
