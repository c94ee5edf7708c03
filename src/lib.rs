//! # rrs: Rotated Runtime Smooth on the GPU
//!
//! INT4 weight-and-activation (A4W4) inference of LLM linear layers that stays accurate
//! in the presence of activation outliers, run as WGSL compute shaders through `wgpu`.
//! Implements Rotated Runtime Smooth (RRS, Yi et al., ICLR 2025):
//! * **rotation** ([`hadamard`]) spreads spike outliers over their token;
//! * **Runtime Smooth** ([`channel_max`]) divides channel-wise outliers away at run time,
//!   one scale per group of 128 reordered channels, re-applied to each K-tile's integer
//!   partial sum inside the [`gemm`];
//! * activations are quantized per token ([`quantize`]) and weights per output channel
//!   ([`pack_weights`]) to symmetric INT4, packed 8 per u32.
//!
//! Every op has a GPU function and a pure-Rust `reference` beside it, the numerical
//! oracle; [`RrsLinear`] chains them into a layer and [`LinearReference`] is its CPU
//! twin.
//!
//! ```no_run
//! use rrs::{Config, Context, Method, RrsLinear};
//! # fn main() -> rrs::Result<()> {
//! let ctx = Context::new()?;
//! let (n, k, m) = (256, 512, 4);
//! let w = vec![0.01f32; n * k];
//! let layer = RrsLinear::new(&ctx, &w, n, k, Config::new(Method::Rrs))?;
//! let y = layer.run(&vec![1.0f32; m * k])?; // [m, n]
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod channel_max;
pub mod compare;
pub mod context;
mod convert;
pub mod copy;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod error;
pub mod gather_order;
pub mod gemm;
pub mod gptq;
pub mod hadamard;
pub mod linear;
pub mod matmul;
pub mod pack_weights;
mod parallel;
pub mod permute;
pub mod pool;
pub mod quantize;
pub mod tensor;
#[cfg(not(target_arch = "wasm32"))]
pub mod timing;
pub mod weight_scale;
pub mod workload;

pub use context::{Backend, Context, ContextOptions, CudaGemm, DotKernel, ShaderChecks};
pub use error::{Error, Result};
/// The `half` crate, whose `f16` is the element type of [`DType::F16`] tensors.
pub use half;
pub use linear::{Config, LinearReference, Method, Reorder, RrsLinear, WeightQuant};
pub use quantize::Quantized;
pub use tensor::{DType, Tensor};
pub use weight_scale::WeightScale;
