//! `pack_weights`: offline weight preparation, done once per layer.
//!
//! For W: [n, k] f32 (n output channels, k input channels, row-major):
//! 1. optionally rotate every row with the same normalized Hadamard transform as the
//!    activations (`hadamard`), so that (X·H)·(W·H)ᵀ = X·Wᵀ;
//! 2. optionally permute K by a given permutation (static reorder: position q takes
//!    channel `perm[q]`, matching the activations' order);
//! 3. optionally multiply input channels by per-channel factors (SmoothQuant's migration);
//! 4. per-output-channel symmetric INT4 RTN, packed exactly like the activations
//!    ([n, k / 8] u32, see [`crate::quantize`]), with n f32 scales.
//!
//! Steps 2–4 are the `quantize` kernel with a gather and group-1 multipliers: one kernel
//! serves activations and weights. Tolerance against [`reference()`]: codes and scales
//! bit-exact without rotation; with rotation the f32 inputs differ within the `hadamard`
//! tolerance, so a code may differ by one where a value sits at a rounding tie.

use crate::context::{block_on, Context};
use crate::error::{Error, Result};
use crate::hadamard;
use crate::quantize::{self, Quantized, Smooth};
use crate::tensor::{DType, Tensor};

/// How to prepare the weights.
#[derive(Clone, Copy, Debug, Default)]
pub struct WeightPrep<'a> {
    /// Rotate input channels with the normalized Hadamard transform of size k.
    pub rotate: bool,
    /// `[k]`: position q takes (rotated) input channel `perm[q]`.
    pub perm: Option<&'a [u32]>,
    /// `[k]`: multiply input channel j (after the permutation, by position) by `factors[j]`.
    pub factors: Option<&'a [f32]>,
}

/// Prepare and pack `w` ([n, k] f32) on the GPU. Returns the packed weights with one
/// scale per output channel (`Quantized::rows` = n).
/// Blocks for the NaN/Inf check.
pub fn pack_weights(ctx: &Context, w: &Tensor, prep: WeightPrep) -> Result<Quantized> {
    block_on(pack_weights_async(ctx, w, prep))
}

/// [`pack_weights`], without blocking.
pub async fn pack_weights_async(
    ctx: &Context,
    w: &Tensor,
    prep: WeightPrep<'_>,
) -> Result<Quantized> {
    w.expect(ctx, "weights", DType::F32, 2)?;
    let (_, k) = w.rows_cols();
    let status = crate::tensor::status::new(ctx)?;
    let perm = prep
        .perm
        .map(|p| check_perm(p, k).and_then(|_| Tensor::from_slice(ctx, p, &[k])))
        .transpose()?;
    let factors = prep
        .factors
        .map(|f| check_factors(f, k).and_then(|_| Tensor::from_slice(ctx, f, &[k])))
        .transpose()?;
    let smooth = Smooth {
        perm: perm.as_ref(),
        multipliers: factors.as_ref().map(|f| (f, 1)),
    };
    let q = ctx.run(|rec| {
        let rotated;
        let src = if prep.rotate {
            rotated = hadamard::record_into(ctx, rec, w)?;
            &rotated
        } else {
            w
        };
        quantize::record(ctx, rec, src, smooth, &status, None)
    })?;
    crate::tensor::status::check_async(ctx, &status, "pack_weights").await?;
    Ok(q)
}

/// Fail unless `perm` is a permutation of 0..k.
pub(crate) fn check_perm(perm: &[u32], k: usize) -> Result<()> {
    let mut seen = vec![false; k];
    if perm.len() != k {
        return Err(Error::Shape(format!(
            "the permutation has {} entries but k = {k}",
            perm.len()
        )));
    }
    for &j in perm {
        if j as usize >= k || std::mem::replace(&mut seen[j as usize], true) {
            return Err(Error::InvalidArgument(format!(
                "not a permutation of 0..{k}: entry {j} is out of range or repeated"
            )));
        }
    }
    Ok(())
}

/// Fail unless there are k finite factors.
fn check_factors(factors: &[f32], k: usize) -> Result<()> {
    if factors.len() != k {
        return Err(Error::Shape(format!(
            "{} channel factors given for k = {k}",
            factors.len()
        )));
    }
    match factors.iter().position(|f| !f.is_finite()) {
        Some(j) => Err(Error::NonFinite(format!(
            "channel factor {j} is {}; factors must be finite",
            factors[j]
        ))),
        None => Ok(()),
    }
}

/// CPU reference of [`pack_weights`]: `(packed [n, k / 8], scales [n])`.
pub fn reference(w: &[f32], k: usize, prep: WeightPrep) -> Result<(Vec<u32>, Vec<f32>)> {
    let rotated = if prep.rotate {
        hadamard::reference(w, k)?
    } else {
        w.to_vec()
    };
    if let Some(p) = prep.perm {
        check_perm(p, k)?;
    }
    if let Some(f) = prep.factors {
        check_factors(f, k)?;
    }
    quantize::reference(&rotated, k, prep.perm, prep.factors.map(|f| (f, 1)))
}
