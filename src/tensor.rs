//! Typed GPU tensors: a storage buffer with a dtype and a row-major shape, plus upload and
//! readback.

use std::borrow::Cow;
use std::sync::Arc;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::pool::GpuBuffer;

/// Element type of a [`Tensor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 32-bit unsigned integer (permutations, packed INT4 words: 8 nibbles each).
    U32,
    /// 16-bit IEEE float (`half::f16`): activations as models hold them. Only the FWHT takes
    /// them (on every backend); every other op reads f32 and says so.
    F16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::F16 => 2,
        }
    }
}

/// Element types a [`Tensor`] can be built from and read back into.
pub trait Element: bytemuck::Pod {
    /// The matching dtype.
    const DTYPE: DType;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for u32 {
    const DTYPE: DType = DType::U32;
}
impl Element for half::f16 {
    const DTYPE: DType = DType::F16;
}

/// An element type of activations: f32 or f16 (the layer's and the activation ops' inputs).
/// Sealed: the kernels exist for these two only.
pub trait Activation: Element + Copy + std::fmt::Display + sealed::Sealed {
    /// The value as f32 (exact).
    fn to_f32(self) -> f32;
}
mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
}
impl Activation for f32 {
    fn to_f32(self) -> f32 {
        self
    }
}
impl Activation for half::f16 {
    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }
}

/// A row-major tensor in GPU memory (a wgpu storage buffer, or CUDA device memory on the
/// CUDA backend). `clone` is cheap and shares the memory.
#[derive(Clone, Debug)]
pub struct Tensor {
    storage: Storage,
    shape: Vec<usize>,
    dtype: DType,
    /// The [`Context`] (device) the buffer lives on.
    ctx_id: u64,
}

/// Where a tensor's elements live.
#[derive(Clone, Debug)]
pub(crate) enum Storage {
    Wgpu(Arc<GpuBuffer>),
    #[cfg(feature = "cuda")]
    Cuda(std::sync::Arc<cudarc::driver::CudaSlice<u32>>),
}

const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Bytes of a tensor's buffer (whole words, at least one).
fn buffer_size(dtype: DType, shape: &[usize]) -> u64 {
    (words(shape, dtype).max(1) * 4) as u64
}

/// A new (zero-initialized) wgpu buffer for a tensor (its size and the device checked by
/// the caller).
fn new_buffer(ctx: &Context, dtype: DType, shape: &[usize]) -> Result<wgpu::Buffer> {
    Ok(ctx.gpu()?.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("tensor"),
        size: buffer_size(dtype, shape),
        usage: USAGE,
        mapped_at_creation: false,
    }))
}

impl Tensor {
    /// Upload `data` as a tensor of `shape` (row-major).
    pub fn from_slice<T: Element>(ctx: &Context, data: &[T], shape: &[usize]) -> Result<Self> {
        let n = numel(shape);
        if n != data.len() {
            return Err(Error::Shape(format!(
                "shape {shape:?} holds {n} elements but {} were given",
                data.len()
            )));
        }
        check_size(ctx, shape, T::DTYPE)?;
        // Whole words: an odd number of f16 gets a zero half (copies move 4-byte words).
        let raw: &[u8] = bytemuck::cast_slice(data);
        let bytes: Cow<[u8]> = match raw.len() % 4 {
            0 => Cow::Borrowed(raw),
            r => Cow::Owned([raw, &[0; 4][r..]].concat()),
        };
        #[cfg(feature = "cuda")]
        if let Some(cu) = &ctx.cuda {
            let words: Cow<[u32]> = bytemuck::try_cast_slice(&bytes)
                .map(Cow::Borrowed)
                .unwrap_or_else(|_| Cow::Owned(bytemuck::pod_collect_to_vec(&bytes)));
            return Ok(Self::on_cuda(ctx, cu.upload(&words)?, shape, T::DTYPE));
        }
        let buffer = ctx.upload(&bytes, USAGE, "tensor")?;
        Ok(Self::on_wgpu(
            ctx,
            GpuBuffer::owned(buffer),
            shape,
            T::DTYPE,
        ))
    }

    /// A zero-filled tensor.
    pub fn zeros(ctx: &Context, dtype: DType, shape: &[usize]) -> Result<Self> {
        check_size(ctx, shape, dtype)?;
        #[cfg(feature = "cuda")]
        if let Some(cu) = &ctx.cuda {
            return Ok(Self::on_cuda(
                ctx,
                cu.zeros(words(shape, dtype))?,
                shape,
                dtype,
            ));
        }
        ctx.check_alive()?;
        let buffer = new_buffer(ctx, dtype, shape)?;
        Ok(Self::on_wgpu(ctx, GpuBuffer::owned(buffer), shape, dtype))
    }

    /// A tensor of `shape` held in `buffer` on `ctx`'s wgpu device.
    fn on_wgpu(ctx: &Context, buffer: GpuBuffer, shape: &[usize], dtype: DType) -> Self {
        Self {
            storage: Storage::Wgpu(Arc::new(buffer)),
            shape: shape.to_vec(),
            dtype,
            ctx_id: ctx.id,
        }
    }

    #[cfg(feature = "cuda")]
    pub(crate) fn on_cuda(
        ctx: &Context,
        slice: cudarc::driver::CudaSlice<u32>,
        shape: &[usize],
        dtype: DType,
    ) -> Self {
        Self {
            storage: Storage::Cuda(std::sync::Arc::new(slice)),
            shape: shape.to_vec(),
            dtype,
            ctx_id: ctx.id,
        }
    }

    /// The wgpu buffer. Every op checks that its tensors live on its context
    /// ([`Tensor::expect_on`]) before binding them, and a wgpu context only makes wgpu
    /// tensors, so a CUDA tensor never gets here.
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        match &self.storage {
            Storage::Wgpu(b) => &b.buffer,
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => unreachable!("a CUDA tensor bound to a wgpu kernel"),
        }
    }

    /// The CUDA memory (same invariant as [`Tensor::buffer`]).
    #[cfg(feature = "cuda")]
    pub(crate) fn slice(&self) -> &cudarc::driver::CudaSlice<u32> {
        match &self.storage {
            Storage::Cuda(s) => s,
            Storage::Wgpu(_) => unreachable!("a wgpu tensor bound to a CUDA kernel"),
        }
    }

    /// A tensor whose every element the op about to run writes, so its contents may be
    /// stale: on wgpu a free buffer of the same size from the context's pool
    /// ([`crate::pool`]) where there is one, else a new one that returns to the pool when
    /// dropped; on CUDA uninitialized memory (saves a memset pass).
    pub(crate) fn output(ctx: &Context, dtype: DType, shape: &[usize]) -> Result<Self> {
        #[cfg(feature = "cuda")]
        if let Some(cu) = &ctx.cuda {
            check_size(ctx, shape, dtype)?;
            return Ok(Self::on_cuda(
                ctx,
                cu.uninit(words(shape, dtype))?,
                shape,
                dtype,
            ));
        }
        check_size(ctx, shape, dtype)?;
        ctx.check_alive()?;
        let pool = &ctx.gpu()?.pool;
        let buffer = match pool.take(buffer_size(dtype, shape)) {
            Some(b) => b,
            None => new_buffer(ctx, dtype, shape)?,
        };
        Ok(Self::on_wgpu(
            ctx,
            GpuBuffer::pooled(buffer, pool),
            shape,
            dtype,
        ))
    }

    /// The shape, row-major.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Whether both tensors are views of the same memory.
    pub fn same_memory(&self, other: &Tensor) -> bool {
        match (&self.storage, &other.storage) {
            (Storage::Wgpu(a), Storage::Wgpu(b)) => a.buffer == b.buffer,
            #[cfg(feature = "cuda")]
            (Storage::Cuda(a), Storage::Cuda(b)) => std::sync::Arc::ptr_eq(a, b),
            #[cfg(feature = "cuda")]
            _ => false,
        }
    }

    /// Bytes of its elements.
    pub fn bytes(&self) -> usize {
        self.numel() * self.dtype.size()
    }

    /// Size of the last dimension, and the product of the others: (rows, cols).
    pub fn rows_cols(&self) -> (usize, usize) {
        let cols = *self.shape.last().unwrap_or(&1);
        (self.numel() / cols.max(1), cols)
    }

    /// Fail unless the tensor lives on `ctx`'s device and is `dtype` with `ndim`
    /// dimensions; `what` names it.
    pub(crate) fn expect(
        &self,
        ctx: &Context,
        what: &str,
        dtype: DType,
        ndim: usize,
    ) -> Result<()> {
        self.expect_on(ctx, what)?;
        if self.dtype != dtype || self.shape.len() != ndim {
            return Err(Error::Shape(format!(
                "{what} must be a {ndim}-D {dtype:?} tensor, got {:?} {:?}",
                self.dtype, self.shape
            )));
        }
        Ok(())
    }

    /// Fail unless the tensor lives on `ctx`'s device and is activations: f32 or f16 with
    /// `ndim` dimensions.
    pub(crate) fn expect_activations(&self, ctx: &Context, what: &str, ndim: usize) -> Result<()> {
        self.expect_on(ctx, what)?;
        if !matches!(self.dtype, DType::F32 | DType::F16) || self.shape.len() != ndim {
            return Err(Error::Shape(format!(
                "{what} must be a {ndim}-D F32 or F16 tensor, got {:?} {:?}",
                self.dtype, self.shape
            )));
        }
        Ok(())
    }

    /// Fail unless the tensor lives on `ctx`'s device.
    pub(crate) fn expect_on(&self, ctx: &Context, what: &str) -> Result<()> {
        if self.ctx_id != ctx.id {
            return Err(Error::InvalidArgument(format!(
                "{what} was created on another Context; tensors cannot move between devices \
                 (create it with the Context that runs the op)"
            )));
        }
        Ok(())
    }

    /// Copy the tensor back to the host, blocking.
    pub fn to_vec<T: Element>(&self, ctx: &Context) -> Result<Vec<T>> {
        crate::context::block_on(self.to_vec_async(ctx))
    }

    /// Copy the tensor back to the host.
    pub async fn to_vec_async<T: Element>(&self, ctx: &Context) -> Result<Vec<T>> {
        self.expect_on(ctx, "the tensor read back")?;
        if T::DTYPE != self.dtype {
            return Err(Error::Shape(format!(
                "reading a {:?} tensor as {:?}",
                self.dtype,
                T::DTYPE
            )));
        }
        let bytes = self.numel() * self.dtype.size();
        if bytes == 0 {
            return Ok(Vec::new());
        }
        #[cfg(feature = "cuda")]
        if let Some(cu) = &ctx.cuda {
            let words = cu.download(self.slice())?;
            return Ok(
                bytemuck::cast_slice(&bytemuck::cast_slice::<u32, u8>(&words)[..bytes]).to_vec(),
            );
        }
        // Copies move whole words.
        let copied = bytes.next_multiple_of(4) as u64;
        let staging = ctx.gpu()?.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: copied,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        ctx.record(|enc| {
            enc.copy_buffer_to_buffer(self.buffer(), 0, &staging, 0, copied);
            Ok(())
        })?;
        let (tx, rx) = futures::channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        ctx.poll()?;
        rx.await
            .map_err(|_| Error::Device("buffer map was cancelled".into()))?
            .map_err(|e| Error::Device(format!("buffer map failed: {e}")))?;
        ctx.check_fault()?;
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Device(format!("mapped range: {e:?}")))?;
        let out = bytemuck::cast_slice(&view[..bytes]).to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }
}

pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The 4-byte words that hold a tensor of `shape` and `dtype`.
fn words(shape: &[usize], dtype: DType) -> usize {
    (numel(shape) * dtype.size()).div_ceil(4)
}

/// Fail with [`Error::TooLarge`] if a tensor of `shape` and `dtype` exceeds a binding.
fn check_size(ctx: &Context, shape: &[usize], dtype: DType) -> Result<()> {
    let bytes = shape
        .iter()
        .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    let limits = ctx.limits();
    let max = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    if bytes > max {
        return Err(Error::TooLarge(format!(
            "a tensor of shape {shape:?} needs {bytes} bytes; the adapter binds at most {max} bytes per buffer"
        )));
    }
    Ok(())
}

/// The status word `channel_max` and `quantize` set (bit 0: a channel maximum is NaN/Inf,
/// bit 1: a row maximum is NaN/Inf): a fresh zeroed one, and its check after a run.
pub mod status {
    use super::*;

    /// A zeroed status word (`[1]` u32).
    pub fn new(ctx: &Context) -> Result<Tensor> {
        Tensor::zeros(ctx, DType::U32, &[1])
    }

    /// Run `f` on `ctx` with a fresh status word, then check it (a synchronization): the
    /// checked entry points of the ops that set it. `what` names the op in the error.
    pub(crate) async fn run_checked<T>(
        ctx: &Context,
        what: &str,
        f: impl FnOnce(&mut crate::context::Rec, &Tensor) -> Result<T>,
    ) -> Result<T> {
        let status = new(ctx)?;
        let out = ctx.run(|rec| f(rec, &status))?;
        check_async(ctx, &status, what).await?;
        Ok(out)
    }

    /// Read the status word back (a synchronization) and turn set bits into an error,
    /// blocking.
    pub fn check(ctx: &Context, status: &Tensor, what: &str) -> Result<()> {
        crate::context::block_on(check_async(ctx, status, what))
    }

    /// Read the status word back (a synchronization) and turn set bits into an error.
    pub async fn check_async(ctx: &Context, status: &Tensor, what: &str) -> Result<()> {
        let bits = status.to_vec_async::<u32>(ctx).await?[0];
        let mut found = Vec::new();
        if bits & 1 != 0 {
            found.push("a channel's maximum |x| over the tokens is NaN or Inf");
        }
        if bits & 2 != 0 {
            found.push("a token's maximum |x| is NaN or Inf");
        }
        if found.is_empty() {
            Ok(())
        } else {
            Err(Error::NonFinite(format!("{what}: {}", found.join("; "))))
        }
    }
}
