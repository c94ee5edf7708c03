//! Runtime Smooth by fake quantization: for the ablation's "one scale per channel" point
//! (`--ablation …,channel`, reported as group 1), and, at the groups `RrsLinear` runs, as a
//! check that this path computes what the integer path does (`check: fake-quant`).
//!
//! No integer GEMM can apply a scale per channel inside its K sum (rrs's applies one per
//! group of at least 16 codes), so this path uses rrs's CPU reference ops and an f32 matmul
//! on the GPU: the activations are rotated (RRS), their channels ordered by maximum over the
//! tokens and divided by their group's maximum (`group` = 1: each channel by its own),
//! quantized per token (symmetric RTN INT4) and dequantized, x̂[i, j] = code · s_i · m_g(j);
//! the weights are rotated alike and quantized per output channel (RTN INT4) once. Then
//! y = x̂ · Ŵᵀ in f32 (`rrs::matmul`). At a group `RrsLinear` supports this is its result up
//! to f32 rounding (its integer sums are exact).

use rrs::pack_weights::WeightPrep;
use rrs::{channel_max, hadamard, quantize, Context, Tensor};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

pub struct FakeQuant {
    ctx: Context,
    rotate: bool,
    k: usize,
    group: usize,
    /// Ŵ: [n, k] f32, the dequantized INT4 weights (rotated with the activations).
    w: Tensor,
}

impl FakeQuant {
    /// The layer for weights `w` ([n, k]); `rotate` for RRS, not for RS; `group` divides k.
    pub fn new(
        ctx: &Context,
        w: &[f32],
        (n, k): (usize, usize),
        rotate: bool,
        group: usize,
    ) -> Result<Self> {
        let prep = WeightPrep {
            rotate,
            ..Default::default()
        };
        let (codes, scales) = rrs::pack_weights::reference(w, k, prep)?;
        let w_hat: Vec<f32> = quantize::unpack(&codes)
            .iter()
            .enumerate()
            .map(|(i, &c)| scales[i / k] * c as f32)
            .collect();
        Ok(Self {
            ctx: ctx.clone(),
            rotate,
            k,
            group,
            w: Tensor::from_slice(ctx, &w_hat, &[n, k])?,
        })
    }

    /// y = layer(x) for x: [rows, k].
    pub fn run(&self, x: &[f32]) -> Result<Vec<f32>> {
        let (k, group) = (self.k, self.group);
        let x = if self.rotate {
            hadamard::reference(x, k)?
        } else {
            x.to_vec()
        };
        // Position q holds channel perm[q], divided by its group's (clamped) maximum.
        let (_, perm, s) = channel_max::reference(&x, k, group, true, None)?;
        let inv = channel_max::inverse(&s);
        let (codes, row_scales) = quantize::reference(&x, k, Some(&perm), Some((&inv, group)))?;
        // Dequantized, back in channel order (so the weights need no gather).
        let mut x_hat = vec![0f32; x.len()];
        for (i, &c) in quantize::unpack(&codes).iter().enumerate() {
            let (row, q) = (i / k, i % k);
            x_hat[row * k + perm[q] as usize] = row_scales[row] * c as f32 * s[q / group];
        }
        let xt = Tensor::from_slice(&self.ctx, &x_hat, &[x_hat.len() / k, k])?;
        Ok(rrs::matmul::matmul(&self.ctx, &xt, &self.w)?.to_vec(&self.ctx)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rrs::workload::Rng;
    use rrs::{Config, LinearReference, Method};

    /// At a group `RrsLinear` supports, the fake-quant layer is rrs's reference layer (the
    /// integer GEMM, exact) up to f32 rounding.
    #[test]
    fn matches_the_integer_reference_at_supported_groups() {
        let ctx = Context::new().unwrap();
        let mut rng = Rng::new(5);
        let (m, n, k) = (24, 40, 576);
        let mut x = rng.normals(m * k, 1.0);
        for row in x.chunks_mut(k) {
            row[7] *= 40.0; // a channel-wise outlier
        }
        let w = rng.normals(n * k, 0.05);
        for (method, rotate) in [(Method::Rs, false), (Method::Rrs, true)] {
            for group in [32, 64] {
                let cfg = Config::new(method).group(group);
                let want = LinearReference::new(&w, n, k, &cfg)
                    .unwrap()
                    .forward(&x, true)
                    .unwrap();
                let got = FakeQuant::new(&ctx, &w, (n, k), rotate, group)
                    .unwrap()
                    .run(&x)
                    .unwrap();
                let norm = want.iter().map(|v| v * v).sum::<f32>().sqrt();
                let diff = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
                    .sqrt();
                assert!(diff <= 1e-5 * norm, "{method:?} g{group}: {diff} vs {norm}");
            }
        }
    }
}
