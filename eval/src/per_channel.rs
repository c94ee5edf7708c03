//! One smoothing scale per input channel: the end point of Runtime Smooth's group-size
//! ablation (`--ablation …,channel`, reported as group 1).
//!
//! No integer GEMM can apply a scale per channel inside its K sum (rrs's applies one per
//! K-tile of 128, or per group of at least 16), so this point is computed by fake
//! quantization with rrs's CPU reference ops, and an f32 matmul on the GPU:
//! the activations are rotated (RRS), divided by their per-channel maxima over the tokens,
//! quantized per token (symmetric RTN INT4) and dequantized, x̂[i, j] = code · s_i · m_j;
//! the weights are rotated alike and quantized per output channel (RTN INT4) once. Then
//! y = x̂ · Ŵᵀ in f32 (`rrs::matmul`). For the other groups this is what `RrsLinear` computes
//! exactly in integers (rrs's parity tests), so the points are comparable.

use rrs::pack_weights::WeightPrep;
use rrs::{channel_max, hadamard, quantize, Context, Tensor};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

pub struct PerChannel {
    ctx: Context,
    rotate: bool,
    k: usize,
    /// Ŵ: [n, k] f32, the dequantized INT4 weights (rotated with the activations).
    w: Tensor,
}

impl PerChannel {
    /// The layer for weights `w` ([n, k]); `rotate` for RRS, not for RS.
    pub fn new(ctx: &Context, w: &[f32], n: usize, k: usize, rotate: bool) -> Result<Self> {
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
            w: Tensor::from_slice(ctx, &w_hat, &[n, k])?,
        })
    }

    /// y = layer(x) for x: [rows, k].
    pub fn run(&self, x: &[f32]) -> Result<Vec<f32>> {
        let k = self.k;
        let x = if self.rotate {
            hadamard::reference(x, k)?
        } else {
            x.to_vec()
        };
        // Group 1: each channel's own maximum (clamped as everywhere in rrs), in place.
        let (_, _, s) = channel_max::reference(&x, k, 1, false, None)?;
        let inv = channel_max::inverse(&s);
        let (codes, row_scales) = quantize::reference(&x, k, None, Some((&inv, 1)))?;
        let x_hat: Vec<f32> = quantize::unpack(&codes)
            .iter()
            .enumerate()
            .map(|(i, &c)| row_scales[i / k] * c as f32 * s[i % k])
            .collect();
        let xt = Tensor::from_slice(&self.ctx, &x_hat, &[x_hat.len() / k, k])?;
        Ok(rrs::matmul::matmul(&self.ctx, &xt, &self.w)?.to_vec(&self.ctx)?)
    }
}
