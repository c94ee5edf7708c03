//! The method comparison the demos run (`examples/demo.rs` natively, `web/` in the
//! browser): every [`Method`] as an A4W4 layer on the GPU over one [`Workload`], its error
//! against the FP32 layer and its time; plus the per-channel activation magnitudes
//! before and after rotation and smoothing that the plots show.

use crate::channel_max;
use crate::error::{Error, Result};
use crate::hadamard;
use crate::linear::{Config, LinearReference, Method, Reorder, RrsLinear};
use crate::tensor::Tensor;
use crate::workload::{rel_error, sqnr_db, Workload};
use crate::Context;

/// What to compare.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// The methods, in order; FP32, the reference, always runs first (and is reported
    /// only if listed).
    pub methods: Vec<Method>,
    /// Smoothing group size (RS, RRS).
    pub group: usize,
    /// Channel reorder (RS, RRS).
    pub reorder: Reorder,
    /// Timed forward passes per method (median reported); at least 1.
    pub iters: usize,
    /// Output features used for the activation-only error, computed on the CPU (keeps
    /// the CPU work small); the first `a4_columns` rows of W.
    pub a4_columns: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            methods: Method::ALL.to_vec(),
            group: 128,
            reorder: Reorder::Dynamic,
            iters: 5,
            a4_columns: 128,
        }
    }
}

/// One method's result.
#[derive(Clone, Debug)]
pub struct MethodResult {
    /// The method.
    pub method: Method,
    /// ‖y − y_fp32‖ / ‖y_fp32‖ of the GPU A4W4 layer (FP32: 0).
    pub rel_error: f64,
    /// SQNR of the GPU A4W4 layer in dB; `None` for FP32 (the reference itself).
    pub sqnr_db: Option<f64>,
    /// Relative error with INT4 activations and f32 weights (CPU reference, first
    /// `a4_columns` outputs): the activation method's own error, without the weight floor.
    pub a4_rel_error: f64,
    /// Median time of one forward pass (submit and wait), ms.
    pub ms: f64,
    /// Time to prepare the layer (pack weights) and run it once, read back, ms.
    pub prepare_ms: f64,
}

/// Run the comparison, blocking. `now` is a clock in milliseconds; `progress` is called
/// with (index, count, result) after each method.
pub fn compare(
    ctx: &Context,
    wl: &Workload,
    opts: &CompareOptions,
    now: &dyn Fn() -> f64,
    progress: &mut dyn FnMut(usize, usize, &MethodResult),
) -> Result<Vec<MethodResult>> {
    crate::context::block_on(compare_async(ctx, wl, opts, now, progress))
}

/// [`compare`], without blocking (for the browser).
pub async fn compare_async(
    ctx: &Context,
    wl: &Workload,
    opts: &CompareOptions,
    now: &dyn Fn() -> f64,
    progress: &mut dyn FnMut(usize, usize, &MethodResult),
) -> Result<Vec<MethodResult>> {
    let c = &wl.config;
    let (n, k) = (c.out_features, c.channels);
    if opts.methods.is_empty() {
        return Err(Error::InvalidArgument("no methods to compare".into()));
    }
    let x = Tensor::from_slice(ctx, &wl.x, &[c.tokens, k])?;
    let a4_cols = n.min(opts.a4_columns.max(1));
    let w_head = &wl.w[..a4_cols * k];
    let mut methods = vec![Method::Fp32];
    methods.extend(opts.methods.iter().filter(|&&m| m != Method::Fp32));
    let (mut y_fp, mut a4_fp) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    for (i, &method) in methods.iter().enumerate() {
        let config = Config::new(method)
            .group(opts.group)
            .reorder(opts.reorder)
            .calibration(wl.calibration.clone());
        let t0 = now();
        let layer = RrsLinear::new_async(ctx, &wl.w, n, k, config.clone()).await?;
        let y = layer
            .forward_checked_async(&x)
            .await?
            .to_vec_async::<f32>(ctx)
            .await?;
        let prepare_ms = now() - t0;
        let mut times = Vec::new();
        for _ in 0..opts.iters.max(1) {
            let t = now();
            layer.forward(&x)?;
            ctx.synchronize_async().await?;
            times.push(now() - t);
        }
        times.sort_by(f64::total_cmp);
        let a4 = LinearReference::new(w_head, a4_cols, k, &config)?.forward(&wl.x, false)?;
        if method == Method::Fp32 {
            y_fp = y.clone();
            a4_fp = a4.clone();
        }
        let result = MethodResult {
            method,
            rel_error: rel_error(&y, &y_fp),
            sqnr_db: (method != Method::Fp32).then(|| sqnr_db(&y, &y_fp)),
            a4_rel_error: rel_error(&a4, &a4_fp),
            ms: times[times.len() / 2],
            prepare_ms,
        };
        progress(i, methods.len(), &result);
        if method != Method::Fp32 || opts.methods.contains(&Method::Fp32) {
            out.push(result);
        }
    }
    Ok(out)
}

/// Mean |x| per channel of the workload's activations over its tokens: original, rotated,
/// and rotated + smoothed (in the reordered positions, each divided by its group's
/// scale). Three `[channels]` vectors, computed on the CPU.
pub fn channel_magnitudes(wl: &Workload, group: usize) -> Result<[Vec<f32>; 3]> {
    let k = wl.config.channels;
    let mean_abs = |x: &[f32]| -> Vec<f32> {
        let mut m = vec![0f32; k];
        for row in x.chunks(k) {
            for (a, v) in m.iter_mut().zip(row) {
                *a += v.abs();
            }
        }
        let tokens = (x.len() / k) as f32;
        m.iter().map(|a| a / tokens).collect()
    };
    let rotated_x = hadamard::reference(&wl.x, k)?;
    let rotated = mean_abs(&rotated_x);
    let (_, perm, scales) = channel_max::reference(&rotated_x, k, group, true, None)?;
    let smoothed = perm
        .iter()
        .enumerate()
        .map(|(q, &j)| rotated[j as usize] / scales[q / group])
        .collect();
    Ok([mean_abs(&wl.x), rotated, smoothed])
}
