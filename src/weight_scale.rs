//! `weight_scale`: how the per-output-channel scale of INT4 weights is chosen, and the codes
//! it gives, on the CPU.
//!
//! RTN's scale is the row's maximum |w| over 7 ([`WeightScale::Max`], what
//! [`pack_weights`](crate::pack_weights) computes on the GPU): the largest weight lands on
//! code ±7 and nothing clips. A smaller scale clips a row's few largest weights but rounds
//! all the others more finely. [`WeightScale::Clipped`] picks, per row, the one of
//! [`CLIP_STEPS`] candidates p · max / 7 (p = 1, 0.99, …, 0.21) whose codes reconstruct the
//! row with the least Σ |ŵ − w|^2.4: the search of the quantizer that GPTQ and QuaRot use
//! (`mse=True`: grid 100, maximum shrink 0.8, norm 2.4; QuaRot's `--w_clip`). GPTQ keeps the
//! scale found on the original row and spreads the clipping error like any rounding error.
//!
//! Codes are symmetric INT4, `clamp(round_ties_even(w / s), -8, 7)`, packed like the
//! activations ([n, k / 8] u32, see [`crate::quantize`]). A row whose maximum is below
//! [`MIN_AMAX`] gets scale 0 and codes 0, as on the GPU. With [`WeightScale::Max`] the
//! scales and codes are bit-identical to [`crate::quantize::reference`]'s.

use crate::error::{Error, Result};
use crate::quantize::{check_k, code, pack, MIN_AMAX};

/// Candidate scales of the clipping search: p = 1 − i / 100 for i < 80.
pub const CLIP_STEPS: usize = 80;

/// The norm of the clipping search's error, Σ |ŵ − w|^CLIP_NORM.
pub const CLIP_NORM: f32 = 2.4;

/// How the scale of a row of INT4 weights is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightScale {
    /// max |w| / 7: RTN's, no weight clips.
    #[default]
    Max,
    /// The clipping search's (see the module documentation).
    Clipped,
}

impl WeightScale {
    /// Per-output-channel symmetric INT4 of `w` ([n, k] row-major) with this scale:
    /// `(packed [n, k / 8], scales [n])`, the layout of [`crate::pack_weights::reference`].
    /// Fails on a shape that is not whole rows or on NaN/Inf.
    pub fn quantize(self, w: &[f32], k: usize) -> Result<(Vec<u32>, Vec<f32>)> {
        let scales = self.row_scales(w, k)?;
        let rows = crate::parallel::map_rows(scales.len(), |r| {
            let inv = scales[r].1;
            let codes: Vec<i32> = w[r * k..(r + 1) * k]
                .iter()
                .map(|&v| code(v, inv))
                .collect();
            pack(&codes)
        });
        Ok((rows.concat(), scales.iter().map(|s| s.0).collect()))
    }

    /// `(scale, 1 / scale)` of every row of `w` ([n, k]), the reciprocal as the codes are
    /// computed with it (RTN's 7 / max for [`WeightScale::Max`]); `(0, 0)` for a row of
    /// maximum below [`MIN_AMAX`].
    pub(crate) fn row_scales(self, w: &[f32], k: usize) -> Result<Vec<(f32, f32)>> {
        check(w, k)?;
        Ok(crate::parallel::map_rows(w.len() / k, |r| {
            let row = &w[r * k..(r + 1) * k];
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            match self {
                _ if amax < MIN_AMAX => (0.0, 0.0),
                WeightScale::Max => candidate(amax, 0),
                WeightScale::Clipped => clipped(row, amax),
            }
        }))
    }
}

/// The candidate scale of step i for a row of maximum `amax`, and its reciprocal. Step 0 is
/// exactly RTN's (amax / 7, 7 / amax).
fn candidate(amax: f32, i: usize) -> (f32, f32) {
    let p = 1.0 - i as f32 / 100.0;
    (p * amax / 7.0, 7.0 / (p * amax))
}

/// The clipping search on one row of maximum `amax` ≥ [`MIN_AMAX`]: `(scale, 1 / scale)`.
fn clipped(row: &[f32], amax: f32) -> (f32, f32) {
    let mut best = (f32::INFINITY, candidate(amax, 0));
    for i in 0..CLIP_STEPS {
        let (s, inv) = candidate(amax, i);
        let err: f32 = row
            .iter()
            .map(|&v| (code(v, inv) as f32 * s - v).abs().powf(CLIP_NORM))
            .sum();
        if err < best.0 {
            best = (err, (s, inv));
        }
    }
    best.1
}

fn check(w: &[f32], k: usize) -> Result<()> {
    check_k(k)?;
    if !w.len().is_multiple_of(k) {
        return Err(Error::Shape(format!(
            "weights of {} elements are not whole rows of k = {k}",
            w.len()
        )));
    }
    match w.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::NonFinite(format!(
            "weight {i} (row {}) is {}",
            i / k,
            w[i]
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Rng;

    /// Σ |ŵ − w|^CLIP_NORM of each row.
    fn row_errors(w: &[f32], k: usize, (q, s): &(Vec<u32>, Vec<f32>)) -> Vec<f32> {
        let codes = crate::quantize::unpack(q);
        w.chunks(k)
            .zip(codes.chunks(k))
            .zip(s)
            .map(|((row, c), s)| {
                row.iter()
                    .zip(c)
                    .map(|(v, &c)| (c as f32 * s - v).abs().powf(CLIP_NORM))
                    .sum()
            })
            .collect()
    }

    #[test]
    fn max_is_rtn_bit_for_bit() {
        let k = 256;
        let mut w = Rng::new(4).normals(9 * k, 0.3);
        w[2 * k..3 * k].fill(0.0);
        let ours = WeightScale::Max.quantize(&w, k).unwrap();
        assert_eq!(ours, crate::quantize::reference(&w, k, None, None).unwrap());
    }

    /// On rows with a few large weights the search clips them: every row's error is at most
    /// RTN's (p = 1 is a candidate) and most rows' scales shrink.
    #[test]
    fn clipped_rows_have_less_error_than_rtn() {
        let (n, k) = (32, 512);
        let mut rng = Rng::new(8);
        let mut w = rng.normals(n * k, 1.0);
        for r in 0..n {
            w[r * k + (r * 37) % k] = 6.0;
        }
        let (rtn, clip) = (
            WeightScale::Max.quantize(&w, k).unwrap(),
            WeightScale::Clipped.quantize(&w, k).unwrap(),
        );
        let (e_rtn, e_clip) = (row_errors(&w, k, &rtn), row_errors(&w, k, &clip));
        for (r, (a, b)) in e_rtn.iter().zip(&e_clip).enumerate() {
            assert!(b <= a, "row {r}: clipped {b} > RTN {a}");
        }
        let shrunk = rtn.1.iter().zip(&clip.1).filter(|(a, b)| b < a).count();
        assert!(shrunk >= n * 3 / 4, "only {shrunk} of {n} scales shrank");
        assert!(clip.1.iter().zip(&rtn.1).all(|(c, r)| *c >= 0.2 * r));
    }

    #[test]
    fn bad_input_is_an_error() {
        let k = 64;
        let mut w = vec![0.5f32; 2 * k];
        assert!(matches!(
            WeightScale::Clipped.quantize(&w[..k + 8], k),
            Err(Error::Shape(_))
        ));
        w[70] = f32::NAN;
        assert!(matches!(
            WeightScale::Clipped.quantize(&w, k),
            Err(Error::NonFinite(_))
        ));
    }
}
