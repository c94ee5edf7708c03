//! [`RrsLinear`]: a linear layer y = x · Wᵀ that packs its weights once and runs the
//! whole quantized forward pass on the GPU, with a [`Method`] switch for RRS and its
//! baselines, and [`LinearReference`], the same layer on the CPU (the oracle).
//!
//! Forward pass of each method (x: [m, k] f32 or f16 → y: [m, n] f32; f16 rows are
//! rotated into f16, and everything after the rotation works on their exact f32 values):
//!
//! | method | rotate x | smoothing | quantize | GEMM |
//! |---|---|---|---|---|
//! | `Fp32` | – | – | – | f32 matmul |
//! | `Rtn` | – | – | per-token INT4 | plain A4W4 |
//! | `SmoothQuant` | – | x / s_j, W · s_j, s from calibration (α) | per-token INT4 | plain A4W4 |
//! | `QuaRot` | Hadamard | – | per-token INT4 | plain A4W4 |
//! | `Rs` | – | runtime group max, reorder | per-token INT4 | group scales |
//! | `Rrs` | Hadamard | runtime group max, reorder | per-token INT4 | group scales |
//!
//! Weights are per-output-channel symmetric INT4 RTN in every quantized method.

use crate::channel_max::{self, Order, Statistic};
use crate::context::{block_on, Context, DotKernel, Rec};
use crate::convert;
use crate::error::{Error, Result};
use crate::gather_order;
use crate::gemm::{self, GemmOptions};
use crate::hadamard;
use crate::matmul;
use crate::pack_weights::{self, WeightPrep};
use crate::quantize::{self, Quantized, Smooth};
use crate::tensor::{status, Activation, Tensor};
use crate::weight_scale::WeightScale;

/// The quantization method of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// Full-precision reference (f32 GEMM).
    Fp32,
    /// Per-token / per-channel INT4 round-to-nearest, nothing else.
    Rtn,
    /// SmoothQuant: per-channel scales s_j = max|X_j|^α / max|W_j|^(1−α) from calibration
    /// data, migrated into the weights.
    SmoothQuant,
    /// QuaRot-style: Hadamard rotation, then RTN.
    QuaRot,
    /// Runtime Smooth: group-max smoothing computed at run time, applied in the GEMM.
    Rs,
    /// Rotated Runtime Smooth: rotation, then Runtime Smooth.
    Rrs,
}

impl Method {
    /// Every method, baselines first.
    pub const ALL: [Method; 6] = [
        Method::Fp32,
        Method::Rtn,
        Method::SmoothQuant,
        Method::QuaRot,
        Method::Rs,
        Method::Rrs,
    ];

    /// Short lowercase name (as printed by the demo and accepted by [`Method::parse`]).
    pub fn name(self) -> &'static str {
        match self {
            Method::Fp32 => "fp32",
            Method::Rtn => "rtn",
            Method::SmoothQuant => "smoothquant",
            Method::QuaRot => "quarot",
            Method::Rs => "rs",
            Method::Rrs => "rrs",
        }
    }

    /// Parse a [`Method::name`].
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|m| m.name()).collect();
                Error::InvalidArgument(format!("unknown method {s:?}; one of {names:?}"))
            })
    }

    /// Whether x (and W, offline) are rotated by the Hadamard transform.
    pub fn rotates(self) -> bool {
        matches!(self, Method::QuaRot | Method::Rrs)
    }

    /// Whether the method uses Runtime Smooth.
    pub fn runtime_smooth(self) -> bool {
        matches!(self, Method::Rs | Method::Rrs)
    }
}

/// How Runtime Smooth orders channels before grouping them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reorder {
    /// A new permutation each call, sorted by this batch's channel maxima; the GEMM
    /// reads weight channels through it.
    Dynamic,
    /// A permutation calibrated once on sample activations and baked into the packed
    /// weights: no run-time cost. Needs [`Config::calibration`]. The channels are sorted
    /// by their calibration maxima, then rearranged within each group so that the quantize
    /// kernels' gathers spread over the shared-memory banks
    /// ([`gather_order::spread_banks`]): the same groups, so the same output.
    Static,
    /// No reorder: groups of consecutive original channels.
    None,
}

/// Smallest k at which a decode step with dynamic reorder reads the weights through the
/// permutation (`gemm::decode_gathers`) instead of permuting them first. H200 (Vulkan), GPU
/// time of an RRS step: k = 8192, 97 µs (m = 1) and 110 µs (m = 4) against 118–132 and
/// 130 µs; k = 4096, 52–57 µs against 48–52 µs, where permuting 8 MB is cheap.
const GATHER_MIN_K: usize = 8192;

/// Layer configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The method.
    pub method: Method,
    /// Smoothing group size; a multiple of 16 dividing k. Default 128.
    pub group: usize,
    /// Channel reorder for RS / RRS. Default [`Reorder::Dynamic`].
    pub reorder: Reorder,
    /// SmoothQuant migration strength α. Default 0.5.
    pub alpha: f32,
    /// Sample activations, [rows, k] row-major: needed by SmoothQuant and static reorder.
    pub calibration: Option<Vec<f32>>,
    /// GEMM dot-product code; `None` picks the adapter's best.
    pub dot: Option<DotKernel>,
    /// How the weights are quantized. Default [`WeightQuant::Rtn`].
    pub weights: WeightQuant,
    /// How each output channel's weight scale is chosen. Default [`WeightScale::Max`]
    /// (max |w| / 7); [`WeightScale::Clipped`] runs the weights' quantization on the CPU.
    pub weight_scale: WeightScale,
    /// The channel statistic RS / RRS take their scales (and a static reorder its order)
    /// from. Default [`Statistic::Max`], the paper's.
    pub statistic: Statistic,
}

/// How a layer's INT4 weights are found (per output channel, symmetric, the scale chosen by
/// [`Config::weight_scale`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightQuant {
    /// Round to nearest: on the GPU ([`crate::pack_weights`]) with [`WeightScale::Max`], on
    /// the CPU ([`WeightScale::quantize`]) with [`WeightScale::Clipped`].
    #[default]
    Rtn,
    /// GPTQ ([`crate::gptq`]) on the CPU, with the Hessian of the calibration activations
    /// ([`Config::calibration`]) taken in the GEMM's channel space (rotated, migrated,
    /// reordered as the method does).
    Gptq,
    /// GPTQ with act-order ([`crate::gptq::gptq_act_order`]): columns quantized in the
    /// order of decreasing Hessian diagonal.
    GptqActOrder,
}

impl Config {
    /// Defaults for `method`: group 128, dynamic reorder, α = 0.5, no calibration data.
    pub fn new(method: Method) -> Self {
        Config {
            method,
            group: 128,
            reorder: Reorder::Dynamic,
            alpha: 0.5,
            calibration: None,
            dot: None,
            weights: WeightQuant::Rtn,
            weight_scale: WeightScale::Max,
            statistic: Statistic::Max,
        }
    }

    /// Take the smoothing scales from token-normalized channel maxima
    /// ([`Statistic::RowNormalized`]; an rrs extension, not the paper's RS).
    pub fn row_normalized(mut self) -> Self {
        self.statistic = Statistic::RowNormalized;
        self
    }

    /// Choose each output channel's weight scale by the clipping search
    /// ([`WeightScale::Clipped`]), with RTN or GPTQ.
    pub fn clip_weights(mut self) -> Self {
        self.weight_scale = WeightScale::Clipped;
        self
    }

    /// Quantize the weights with GPTQ on [`Config::calibration`] instead of RTN.
    pub fn gptq(mut self) -> Self {
        self.weights = WeightQuant::Gptq;
        self
    }

    /// Quantize the weights with GPTQ in act-order ([`WeightQuant::GptqActOrder`]).
    pub fn gptq_act_order(mut self) -> Self {
        self.weights = WeightQuant::GptqActOrder;
        self
    }

    /// Set the group size.
    pub fn group(mut self, group: usize) -> Self {
        self.group = group;
        self
    }

    /// Set the reorder mode.
    pub fn reorder(mut self, reorder: Reorder) -> Self {
        self.reorder = reorder;
        self
    }

    /// Set calibration activations ([rows, k] row-major).
    pub fn calibration(mut self, x: Vec<f32>) -> Self {
        self.calibration = Some(x);
        self
    }
}

/// What a layer does, derived once on the CPU from the config, the weights and the
/// calibration data; shared by the GPU layer and the CPU reference.
#[derive(Clone, Debug)]
struct Plan {
    method: Method,
    n: usize,
    k: usize,
    group: usize,
    reorder: Reorder,
    statistic: Statistic,
    /// Static reorder: the calibrated permutation (over rotated channels for RRS), each
    /// group's channels spread over the banks unless `RRS_SPREAD_BANKS=0`.
    static_perm: Option<Vec<u32>>,
    /// SmoothQuant: per-channel factors s_j (x / s_j, W · s_j).
    sq_factors: Option<Vec<f32>>,
    /// Weights quantized on the CPU (GPTQ, or clipped scales): packed codes and row scales,
    /// in the GEMM's channel space. `None`: RTN on the GPU.
    cpu_weights: Option<(Vec<u32>, Vec<f32>)>,
}

impl Plan {
    fn new(weights: &[f32], n: usize, k: usize, config: &Config) -> Result<Self> {
        let spread = std::env::var("RRS_SPREAD_BANKS").as_deref() != Ok("0");
        Self::with_order(weights, n, k, config, spread)
    }

    /// [`Plan::new`], with a static reorder's groups spread over the banks or kept sorted.
    fn with_order(
        weights: &[f32],
        n: usize,
        k: usize,
        config: &Config,
        spread: bool,
    ) -> Result<Self> {
        let method = config.method;
        if n == 0 || k == 0 {
            return Err(Error::Shape(format!(
                "a layer needs n, k > 0, got n = {n}, k = {k}"
            )));
        }
        if weights.len() != n * k {
            return Err(Error::Shape(format!(
                "weights of {} elements do not make an [n = {n}, k = {k}] matrix",
                weights.len()
            )));
        }
        check_finite("weights", weights)?;
        if method != Method::Fp32 {
            quantize::check_k(k)?;
        }
        if method.rotates() {
            hadamard::factor(k)?;
        }
        if method.runtime_smooth() {
            channel_max::check_group(k, config.group)?;
            if !config.group.is_multiple_of(16) {
                return Err(Error::Unsupported(format!(
                    "the group size must be a multiple of 16, got {}",
                    config.group
                )));
            }
        }
        // The calibration activations, checked; `user` names what needs them.
        let calib = |user: &str| -> Result<&[f32]> {
            let c = config.calibration.as_deref().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{user} needs calibration activations (Config::calibration)"
                ))
            })?;
            if c.is_empty() || c.len() % k != 0 {
                return Err(Error::Shape(format!(
                    "calibration data of {} elements is not a whole number of rows of k = {k}",
                    c.len()
                )));
            }
            check_finite("calibration activations", c)?;
            Ok(c)
        };
        let mut static_perm = None;
        if method.runtime_smooth() && config.reorder == Reorder::Static {
            let c = calib("static reorder")?;
            let c = if method.rotates() {
                hadamard::reference(c, k)?
            } else {
                c.to_vec()
            };
            let stat = channel_max::statistic_reference(&c, k, config.statistic);
            static_perm = Some(channel_max::sort_order(&stat));
        }
        let mut sq_factors = None;
        if method == Method::SmoothQuant {
            if !(0.0..=1.0).contains(&config.alpha) {
                return Err(Error::InvalidArgument(format!(
                    "SmoothQuant alpha must be in [0, 1], got {}",
                    config.alpha
                )));
            }
            let xmax = channel_max::absmax_reference(calib("SmoothQuant")?, k);
            let wmax = channel_max::absmax_reference(weights, k);
            let a = config.alpha;
            sq_factors = Some(
                xmax.iter()
                    .zip(&wmax)
                    .map(|(x, w)| {
                        let s = x.max(1e-5).powf(a) / w.max(1e-5).powf(1.0 - a);
                        s.clamp(1e-5, 1e5)
                    })
                    .collect(),
            );
        }
        let mut plan = Plan {
            method,
            n,
            k,
            group: config.group,
            reorder: config.reorder,
            statistic: config.statistic,
            static_perm,
            sq_factors,
            cpu_weights: None,
        };
        let on_cpu = config.weights != WeightQuant::Rtn || config.weight_scale != WeightScale::Max;
        if on_cpu && method != Method::Fp32 {
            let w = plan.to_gemm_space(weights, false)?;
            plan.cpu_weights = Some(if config.weights == WeightQuant::Rtn {
                config.weight_scale.quantize(&w, k)?
            } else {
                let x = plan.to_gemm_space(calib("GPTQ")?, true)?;
                let act_order = config.weights == WeightQuant::GptqActOrder;
                crate::gptq::gptq_calibrated(&w, k, &x, act_order, config.weight_scale)?
            });
        }
        // Each group's channels in an order whose gathers in the quantize kernels spread over
        // the shared-memory banks (`gather_order`). The groups keep their channels, so the
        // layer's output is the same bit for bit; the CPU quantization ran in the sorted
        // order above (GPTQ's column order decides its result), and its codes move with their
        // channels.
        // `RRS_SPREAD_BANKS=0` keeps the sorted order, for A/B runs.
        if spread {
            if let Some(sorted) = plan.static_perm.take() {
                let spread = gather_order::spread_banks(&sorted, plan.group);
                if let Some((codes, _)) = &mut plan.cpu_weights {
                    *codes = gather_order::move_codes(codes, k, &sorted, &spread);
                }
                plan.static_perm = Some(spread);
            }
        }
        Ok(plan)
    }

    /// Rows of `m` ([rows, k]) in the GEMM's channel space, as the packed weights hold them:
    /// rotated (if the method rotates), gathered by the static permutation, and times the
    /// SmoothQuant factors, or divided by them for `activations` (so that the products
    /// of the two are unchanged).
    fn to_gemm_space(&self, m: &[f32], activations: bool) -> Result<Vec<f32>> {
        let k = self.k;
        let prep = self.weight_prep();
        let rotated = if prep.rotate {
            hadamard::reference(m, k)?
        } else {
            m.to_vec()
        };
        Ok(rotated
            .chunks(k)
            .flat_map(|row| {
                (0..k).map(move |q| {
                    let v = row[prep.perm.map_or(q, |p| p[q] as usize)];
                    match prep.factors {
                        Some(f) if activations => v / f[q],
                        Some(f) => v * f[q],
                        None => v,
                    }
                })
            })
            .collect())
    }

    fn weight_prep(&self) -> WeightPrep<'_> {
        WeightPrep {
            rotate: self.method.rotates(),
            perm: self.static_perm.as_deref(),
            factors: self.sq_factors.as_deref(),
        }
    }

    fn check_x(&self, x_shape: &[usize]) -> Result<usize> {
        match x_shape {
            [m, k] if *k == self.k && *m > 0 => Ok(*m),
            [0, _] => Err(Error::Shape("the input has no rows (m = 0)".into())),
            _ => Err(Error::Shape(format!(
                "input of shape {x_shape:?} does not fit a layer of k = {} input features: need [m, {}]",
                self.k, self.k
            ))),
        }
    }

    /// [`Plan::check_x`] for `len` elements of row-major rows.
    fn check_len(&self, len: usize) -> Result<usize> {
        let k = if len.is_multiple_of(self.k) {
            self.k
        } else {
            0
        };
        self.check_x(&[len / self.k, k])
    }
}

fn check_finite<T: Activation>(what: &str, v: &[T]) -> Result<()> {
    match v.iter().position(|a| !a.to_f32().is_finite()) {
        Some(i) => Err(Error::NonFinite(format!("{what}: element {i} is {}", v[i]))),
        None => Ok(()),
    }
}

enum Weights {
    F32(Tensor),
    Int4(Quantized),
}

/// A linear layer y = x · Wᵀ (W: [n, k]) on the GPU with the configured [`Method`].
pub struct RrsLinear {
    ctx: Context,
    plan: Plan,
    weights: Weights,
    static_perm: Option<Tensor>,
    /// SmoothQuant: 1 / s_j per channel, the activations' multipliers.
    sq_multipliers: Option<Tensor>,
    dot: DotKernel,
}

impl RrsLinear {
    /// Prepare a layer from `weights` ([n, k] row-major f32): rotates, permutes, migrates
    /// and packs them once on the GPU, as the method requires.
    /// Blocks until the weights are packed.
    pub fn new(ctx: &Context, weights: &[f32], n: usize, k: usize, config: Config) -> Result<Self> {
        block_on(Self::new_async(ctx, weights, n, k, config))
    }

    /// [`RrsLinear::new`], without blocking (for the browser).
    pub async fn new_async(
        ctx: &Context,
        weights: &[f32],
        n: usize,
        k: usize,
        config: Config,
    ) -> Result<Self> {
        let plan = Plan::new(weights, n, k, &config)?;
        let w = Tensor::from_slice(ctx, weights, &[n, k])?;
        let packed = match &plan.cpu_weights {
            _ if plan.method == Method::Fp32 => Weights::F32(w),
            Some((codes, scales)) => Weights::Int4(Quantized {
                packed: Tensor::from_slice(ctx, codes, &[n, k / 8])?,
                scales: Tensor::from_slice(ctx, scales, &[n])?,
                rows: n,
                k,
            }),
            None => {
                Weights::Int4(pack_weights::pack_weights_async(ctx, &w, plan.weight_prep()).await?)
            }
        };
        let static_perm = plan
            .static_perm
            .as_ref()
            .map(|p| Tensor::from_slice(ctx, p, &[k]))
            .transpose()?;
        let sq_multipliers = plan
            .sq_factors
            .as_ref()
            .map(|f| Tensor::from_slice(ctx, &channel_max::inverse(f), &[k]))
            .transpose()?;
        Ok(Self {
            ctx: ctx.clone(),
            plan,
            weights: packed,
            static_perm,
            sq_multipliers,
            dot: config.dot.unwrap_or(ctx.dot_kernel()),
        })
    }

    /// (n, k): output and input features.
    pub fn shape(&self) -> (usize, usize) {
        (self.plan.n, self.plan.k)
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.plan.method
    }

    /// The static permutation baked into the weights, if any: position q of the GEMM's K
    /// holds channel `perm[q]` (sorted by calibration maxima in groups, each group's
    /// channels in the order of [`gather_order::spread_banks`]).
    pub fn static_perm(&self) -> Option<&[u32]> {
        self.plan.static_perm.as_deref()
    }

    /// Run the forward pass on `x` ([m, k] f32 or f16) and return y ([m, n] f32). Submits
    /// the work and returns without waiting. f16 activations are read as they are by the
    /// CUDA kernels (half the bytes of f32 in every pass over them) and widened once on
    /// wgpu; where the method rotates, they are rotated into f16 (one rounding), as
    /// [`hadamard`] does, before the statistics and codes are taken. Non-finite inputs give
    /// non-finite outputs; use [`RrsLinear::forward_checked`] or [`RrsLinear::run`] to get an
    /// error instead.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let status = status::new(&self.ctx)?;
        self.forward_with_status(x, &status)
    }

    /// [`RrsLinear::forward`], then wait and fail with [`Error::NonFinite`] if a token or
    /// channel maximum of the input was NaN or Inf.
    pub fn forward_checked(&self, x: &Tensor) -> Result<Tensor> {
        let status = status::new(&self.ctx)?;
        let y = self.forward_with_status(x, &status)?;
        status::check(&self.ctx, &status, "RrsLinear::forward")?;
        Ok(y)
    }

    /// [`RrsLinear::forward_checked`], without blocking.
    pub async fn forward_checked_async(&self, x: &Tensor) -> Result<Tensor> {
        let status = status::new(&self.ctx)?;
        let y = self.forward_with_status(x, &status)?;
        status::check_async(&self.ctx, &status, "RrsLinear::forward").await?;
        Ok(y)
    }

    /// Upload `x` ([m, k] row-major, f32 or f16), run, and read y ([m, n] f32) back,
    /// blocking.
    pub fn run<T: Activation>(&self, x: &[T]) -> Result<Vec<f32>> {
        block_on(self.run_async(x))
    }

    /// Upload `x` ([m, k] row-major, f32 or f16), run, and read y ([m, n] f32) back.
    pub async fn run_async<T: Activation>(&self, x: &[T]) -> Result<Vec<f32>> {
        let k = self.plan.k;
        if !x.len().is_multiple_of(k) {
            return Err(Error::Shape(format!(
                "input of {} elements is not a whole number of rows of k = {k}",
                x.len()
            )));
        }
        check_finite("input activations", x)?;
        let xt = Tensor::from_slice(&self.ctx, x, &[x.len() / k, k])?;
        let y = self.forward(&xt)?;
        y.to_vec_async(&self.ctx).await
    }

    fn forward_with_status(&self, x: &Tensor, status: &Tensor) -> Result<Tensor> {
        self.ctx.run(|rec| self.record(rec, x, status))
    }

    /// Record the whole forward pass into `enc` (see [`Context::record`]); NaN/Inf in `x`
    /// set bits of `status` (see [`crate::tensor::status`]).
    pub fn encode(
        &self,
        enc: &mut wgpu::CommandEncoder,
        x: &Tensor,
        status: &Tensor,
    ) -> Result<Tensor> {
        self.record(&mut Rec::wgpu(enc), x, status)
    }

    /// [`RrsLinear::encode`] on either backend.
    fn record(&self, rec: &mut Rec, x: &Tensor, status: &Tensor) -> Result<Tensor> {
        x.expect_activations(&self.ctx, "layer input", 2)?;
        let ctx = &self.ctx;
        let plan = &self.plan;
        plan.check_x(x.shape())?;
        // QuaRot-style (rotation, no Runtime Smooth): the quantize rotates its rows itself,
        // without writing them where the backend fuses the two (`quantize_rotated`); the
        // channel maxima of Runtime Smooth need the whole batch rotated first.
        let quantizes = matches!(self.weights, Weights::Int4(_));
        let rotate_in_quantize =
            plan.method.rotates() && !plan.method.runtime_smooth() && quantizes;
        // Rotation before Runtime Smooth: where the backend fuses them, the FWHT also takes
        // partial channel maxima of its output (`maxima`), which the statistics reduce
        // instead of reading the rotated rows again.
        let (rotated, maxima);
        let xin = if plan.method.rotates() && !rotate_in_quantize {
            // (The row-normalized statistic needs each row's maximum: not fused.)
            let fused =
                if plan.method.runtime_smooth() && quantizes && plan.statistic == Statistic::Max {
                    hadamard::record_with_maxima(ctx, rec, x)?
                } else {
                    None
                };
            (rotated, maxima) = match fused {
                Some((y, m)) => (y, Some(m)),
                None => (hadamard::record_into(ctx, rec, x)?, None),
            };
            &rotated
        } else {
            maxima = None;
            x
        };
        let w = match &self.weights {
            Weights::F32(w) => {
                let xin = convert::to_f32(ctx, rec, xin)?;
                return matmul::record(ctx, rec, &xin, w);
            }
            Weights::Int4(w) => w,
        };
        // f16 activations (rotated into f16 where the method rotates): read as they are by
        // the CUDA kernels, widened once on wgpu (where the quantize rotates, it takes x).
        let xin = &*if rotate_in_quantize {
            std::borrow::Cow::Borrowed(xin)
        } else {
            convert::for_ops(ctx, rec, xin)?
        };
        let mut opts = GemmOptions {
            group: plan.group,
            group_scales: None,
            weight_perm: None,
            dot: self.dot,
            tile: None,
        };
        let mut stats = None;
        let q = if plan.method.runtime_smooth() {
            let order = match (plan.reorder, &self.static_perm) {
                (Reorder::Static, Some(p)) => Order::Fixed(p),
                (Reorder::Dynamic, _) => Order::Sorted,
                _ => Order::Identity,
            };
            let st = stats.insert(channel_max::record(
                ctx,
                rec,
                maxima.as_ref().unwrap_or(xin),
                plan.group,
                order,
                plan.statistic,
                status,
            )?);
            // Without reorder the permutation is the identity: no gather needed.
            let smooth = Smooth {
                perm: (plan.reorder != Reorder::None).then_some(&st.perm),
                multipliers: Some((&st.inv_scales, plan.group)),
            };
            quantize::record(ctx, rec, xin, smooth, status, None)?
        } else {
            let smooth = Smooth {
                perm: None,
                multipliers: self.sq_multipliers.as_ref().map(|d| (d, 1)),
            };
            if rotate_in_quantize {
                quantize::record_rotated(ctx, rec, x, smooth, status)?
            } else {
                quantize::record(ctx, rec, xin, smooth, status, None)?
            }
        };
        if !plan.method.runtime_smooth() {
            // Plain A4W4: unit scales; keep the 128-wide flush when it divides k.
            opts.group = if plan.k.is_multiple_of(128) {
                128
            } else {
                plan.k
            };
        }
        // Dynamic reorder: a decode step of k ≥ GATHER_MIN_K reads the weights through the
        // permutation where the gathering decode kernel runs (`gemm::decode_gathers`);
        // otherwise permute the packed weights' K once (n · k / 2 bytes each way), so that
        // the GEMM reads them in order.
        let m = x.shape()[0];
        let permuted;
        let w = match (&stats, plan.reorder) {
            (Some(stats), Reorder::Dynamic)
                if plan.k >= GATHER_MIN_K
                    && gemm::decode_gathers(ctx, m, plan.k, plan.group, self.dot) =>
            {
                opts.weight_perm = Some(&stats.perm);
                w
            }
            (Some(stats), Reorder::Dynamic) => {
                permuted = Quantized {
                    packed: crate::permute::record(ctx, rec, &w.packed, &stats.perm)?,
                    ..w.clone()
                };
                &permuted
            }
            _ => w,
        };
        opts.group_scales = stats.as_ref().map(|s| &s.scales);
        gemm::record(ctx, rec, &q, w, opts)
    }
}

impl std::fmt::Debug for RrsLinear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RrsLinear")
            .field("method", &self.plan.method)
            .field("n", &self.plan.n)
            .field("k", &self.plan.k)
            .field("group", &self.plan.group)
            .field("reorder", &self.plan.reorder)
            .field("statistic", &self.plan.statistic)
            .finish_non_exhaustive()
    }
}

/// The CPU reference of an [`RrsLinear`]: the same plan, computed with the ops'
/// `reference` functions. With `quantize_weights = false` the weights stay in full
/// precision (activation-only error, "A4W16").
pub struct LinearReference {
    plan: Plan,
    weights: Vec<f32>,
    /// Weights in the GEMM's channel space (rotated, statically permuted), f32; the
    /// dequantized activations carry the smoothing factors back.
    weights_prepared: Vec<f32>,
    packed: Option<(Vec<u32>, Vec<f32>)>,
}

impl LinearReference {
    /// Prepare the reference layer (same arguments as [`RrsLinear::new`]).
    pub fn new(weights: &[f32], n: usize, k: usize, config: &Config) -> Result<Self> {
        Self::from_plan(Plan::new(weights, n, k, config)?, weights)
    }

    fn from_plan(plan: Plan, weights: &[f32]) -> Result<Self> {
        let k = plan.k;
        let prep = plan.weight_prep();
        let packed = match &plan.cpu_weights {
            _ if plan.method == Method::Fp32 => None,
            Some(codes) => Some(codes.clone()),
            None => Some(pack_weights::reference(weights, k, prep)?),
        };
        let mut w = if prep.rotate {
            hadamard::reference(weights, k)?
        } else {
            weights.to_vec()
        };
        if let Some(p) = prep.perm {
            for row in w.chunks_mut(k) {
                let orig = row.to_vec();
                for (v, &c) in row.iter_mut().zip(p) {
                    *v = orig[c as usize];
                }
            }
        }
        Ok(Self {
            plan,
            weights: weights.to_vec(),
            weights_prepared: w,
            packed,
        })
    }

    /// y = layer(x) for x: [m, k] row-major.
    pub fn forward(&self, x: &[f32], quantize_weights: bool) -> Result<Vec<f32>> {
        let plan = &self.plan;
        let k = plan.k;
        plan.check_len(x.len())?;
        if plan.method == Method::Fp32 {
            return Ok(matmul::reference(x, &self.weights, k));
        }
        let x = if plan.method.rotates() {
            hadamard::reference(x, k)?
        } else {
            x.to_vec()
        };
        self.forward_rotated(x, quantize_weights)
    }

    /// [`LinearReference::forward`] of f16 activations, as [`RrsLinear`] computes it: the
    /// rotation (where the method rotates) rounded to f16 once
    /// ([`hadamard::reference_f16`]), everything after it on the exact f32 widening.
    pub fn forward_f16(&self, x: &[half::f16], quantize_weights: bool) -> Result<Vec<f32>> {
        let plan = &self.plan;
        let k = plan.k;
        plan.check_len(x.len())?;
        let rotated;
        let x = if plan.method.rotates() {
            rotated = hadamard::reference_f16(x, k)?;
            &rotated
        } else {
            x
        };
        let wide: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
        if plan.method == Method::Fp32 {
            return Ok(matmul::reference(&wide, &self.weights, k));
        }
        self.forward_rotated(wide, quantize_weights)
    }

    /// The layer after the rotation: `x` is rotated already where the method rotates.
    fn forward_rotated(&self, x: Vec<f32>, quantize_weights: bool) -> Result<Vec<f32>> {
        let plan = &self.plan;
        let k = plan.k;
        // (codes, row scales), the divisor of each position, and the weight gather.
        let (qa, sa, divisor, gather): (Vec<u32>, Vec<f32>, Vec<f32>, Option<Vec<u32>>) =
            if plan.method.runtime_smooth() {
                let sort = plan.reorder == Reorder::Dynamic;
                let fixed = plan.static_perm.as_deref();
                let (_, perm, scales) =
                    channel_max::reference_with(&x, k, plan.group, sort, fixed, plan.statistic)?;
                let inv = channel_max::inverse(&scales);
                let (qa, sa) = quantize::reference(&x, k, Some(&perm), Some((&inv, plan.group)))?;
                let div = (0..k).map(|q| scales[q / plan.group]).collect();
                (qa, sa, div, sort.then_some(perm))
            } else {
                let f = plan.sq_factors.as_deref();
                let inv = f.map(channel_max::inverse);
                let (qa, sa) = quantize::reference(&x, k, None, inv.as_deref().map(|f| (f, 1)))?;
                (qa, sa, f.map_or(vec![1.0; k], |f| f.to_vec()), None)
            };
        if quantize_weights {
            let (qw, sw) = self
                .packed
                .as_ref()
                .expect("quantized methods pack weights");
            let group = if plan.method.runtime_smooth() {
                plan.group
            } else {
                k
            };
            let gscales: Option<Vec<f32>> = plan
                .method
                .runtime_smooth()
                .then(|| divisor.iter().step_by(group).copied().collect());
            return Ok(gemm::reference(
                &qa,
                &sa,
                qw,
                sw,
                k,
                group,
                gscales.as_deref(),
                gather.as_deref(),
            ));
        }
        // Activation-only: dequantize x̂[i, q] = sa[i] · code · divisor[q] and multiply by
        // the full-precision weights in the same channel order.
        let codes = quantize::unpack(&qa);
        let xhat: Vec<f32> = codes
            .iter()
            .enumerate()
            .map(|(idx, &c)| sa[idx / k] * c as f32 * divisor[idx % k])
            .collect();
        let w = match &gather {
            Some(p) => self
                .weights_prepared
                .chunks(k)
                .flat_map(|row| p.iter().map(|&c| row[c as usize]))
                .collect(),
            None => self.weights_prepared.clone(),
        };
        Ok(matmul::reference(&xhat, &w, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A static reorder spread over the banks (`gather_order`) computes what the sorted
    /// order computes, bit for bit, with RTN and with GPTQ weights, each with and without
    /// clipped scales (codes quantized on the CPU move with their channels), and it does
    /// change the order.
    #[test]
    fn spread_static_order_gives_the_same_output() {
        let (n, k, m) = (24, 512, 40);
        let mut rng = crate::workload::Rng::new(5);
        let w = rng.normals(n * k, 1.0);
        // Channel-wise outliers in the calibration rows and the input.
        let mut rows = |m: usize| -> Vec<f32> {
            (0..m * k)
                .map(|i| rng.normal() * if i % k % 37 == 0 { 40.0 } else { 1.0 })
                .collect()
        };
        let calib = rows(64);
        let x = rows(m);
        for method in [Method::Rrs, Method::Rs] {
            for (gptq, clip) in [(false, false), (false, true), (true, false), (true, true)] {
                let mut config = Config::new(method)
                    .reorder(Reorder::Static)
                    .calibration(calib.clone());
                if gptq {
                    config = config.gptq();
                }
                if clip {
                    config = config.clip_weights();
                }
                let layer = |spread| {
                    let plan = Plan::with_order(&w, n, k, &config, spread).unwrap();
                    LinearReference::from_plan(plan, &w).unwrap()
                };
                let (sorted, spread) = (layer(false), layer(true));
                assert_ne!(sorted.plan.static_perm, spread.plan.static_perm);
                let (a, b) = (
                    sorted.forward(&x, true).unwrap(),
                    spread.forward(&x, true).unwrap(),
                );
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "{method:?}, gptq {gptq}, clip {clip}");
            }
        }
    }
}
