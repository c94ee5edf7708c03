//! `pool`: a context's free op-output buffers, reused by size.
//!
//! Every op allocates its outputs ([`crate::Tensor`]s made by the ops, e.g. the GEMM's y or
//! quantize's codes). Creating a large wgpu buffer costs host time (its memory is allocated
//! and mapped) and device time (wgpu zero-fills it before first use). On the H200 through
//! Vulkan, one `RrsLinear` forward of 2048 × 8192 · 8192 spent 2.1 ms of host time against
//! 4.5 ms on the GPU, and a dynamic-reorder decode step at N = K = 8192 0.52 ms against
//! 0.22 ms, mostly in such allocations. So when the last tensor holding an op output is
//! dropped, its buffer goes back to its context's pool, and the next op output of the same
//! byte size takes it instead of a new one (its old contents stay: every op writes each
//! element of its outputs, which the parity tests check with reused buffers). Reuse is
//! safe while earlier submitted work still reads the buffer: wgpu orders the dispatches of
//! a queue (within a compute pass and across passes) by their bindings' reads and writes,
//! with barriers between them.
//!
//! What queue order cannot cover is a buffer dropped while a recording that uses it is
//! still open: the context is shared between threads, so another thread could take the
//! buffer, write its output into it and submit first, and the open recording, submitted
//! later, would then overwrite that output (seen on the H200: a quantize test read another
//! test's permutation). So a buffer dropped while any of the context's recordings
//! ([`crate::Context::record`]) is open waits until every recording open at that moment
//! has been submitted; one dropped with none open is free at once. Commands recorded into
//! an encoder of your own (the ops' `encode` functions) are not tracked: submit them before
//! dropping their tensors if other threads run ops on the same context.
//!
//! The pool holds at most [`crate::ContextOptions::output_pool_bytes`] (default
//! [`DEFAULT_BYTES`]); a buffer that does not fit is freed. [`crate::Context::trim_pool`]
//! frees all of them. Tensors made by [`crate::Tensor::zeros`] and
//! [`crate::Tensor::from_slice`] are never pooled. CUDA outputs come from the CUDA
//! driver's own stream-ordered allocator and bypass this pool.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};

/// Default cap on the bytes a context keeps in free output buffers: 1 GiB natively, 256 MiB
/// in browsers (whose GPU memory is shared with the page).
pub const DEFAULT_BYTES: u64 = if cfg!(target_arch = "wasm32") {
    256 << 20
} else {
    1 << 30
};

/// Free buffers by size in bytes and their total; the open recordings, and the buffers
/// waiting for them.
#[derive(Debug, Default)]
struct Free {
    by_size: HashMap<u64, Vec<wgpu::Buffer>>,
    bytes: u64,
    /// Tickets of the recordings not yet submitted.
    open: BTreeSet<u64>,
    /// The next recording's ticket.
    next: u64,
    /// Buffers dropped while recordings were open, with the last ticket issued then: free
    /// once every open ticket is above it.
    waiting: Vec<(u64, wgpu::Buffer)>,
}

impl Free {
    /// Keep `buffer` for reuse, unless that would exceed `cap` (then it is freed).
    fn keep(&mut self, buffer: wgpu::Buffer, cap: u64) {
        let size = buffer.size();
        if self.bytes + size <= cap {
            self.bytes += size;
            self.by_size.entry(size).or_default().push(buffer);
        }
    }
}

/// A context's pool of free output buffers (all of [`crate::tensor`]'s storage usage).
#[derive(Debug)]
pub(crate) struct Pool {
    free: Mutex<Free>,
    cap: u64,
}

impl Pool {
    pub fn new(cap: u64) -> Arc<Self> {
        Arc::new(Self {
            free: Mutex::new(Free::default()),
            cap,
        })
    }

    /// A free buffer of `size` bytes, if the pool has one.
    pub fn take(&self, size: u64) -> Option<wgpu::Buffer> {
        let mut free = self.free.lock().unwrap();
        let buffer = free.by_size.get_mut(&size)?.pop()?;
        free.bytes -= size;
        Some(buffer)
    }

    /// Keep `buffer` for reuse (see the module docs for when it becomes free), unless that
    /// would exceed the cap (then it is freed).
    fn put(&self, buffer: wgpu::Buffer) {
        let mut free = self.free.lock().unwrap();
        if free.open.is_empty() {
            free.keep(buffer, self.cap);
        } else {
            let last = free.next - 1;
            free.waiting.push((last, buffer));
        }
    }

    /// A recording starts: its ticket, for [`Pool::end`].
    pub fn begin(&self) -> u64 {
        let mut free = self.free.lock().unwrap();
        let ticket = free.next;
        free.next += 1;
        free.open.insert(ticket);
        ticket
    }

    /// The recording of `ticket` has been submitted (or abandoned): free the buffers that
    /// no open recording can still use.
    pub fn end(&self, ticket: u64) {
        let mut free = self.free.lock().unwrap();
        free.open.remove(&ticket);
        let oldest = free.open.first().copied().unwrap_or(u64::MAX);
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut free.waiting)
            .into_iter()
            .partition(|(last, _)| *last < oldest);
        free.waiting = wait;
        for (_, buffer) in ready {
            free.keep(buffer, self.cap);
        }
    }

    /// Bytes held in free buffers.
    pub fn bytes(&self) -> u64 {
        self.free.lock().unwrap().bytes
    }

    /// Free every pooled buffer (those waiting for open recordings stay until they end).
    pub fn clear(&self) {
        let mut free = self.free.lock().unwrap();
        free.by_size.clear();
        free.bytes = 0;
    }
}

/// A tensor's wgpu buffer; one from a pool goes back to it when dropped (that is, when the
/// last tensor sharing it is dropped).
#[derive(Debug)]
pub(crate) struct GpuBuffer {
    pub buffer: wgpu::Buffer,
    pool: Option<Weak<Pool>>,
}

impl GpuBuffer {
    /// A buffer owned by its tensors alone.
    pub fn owned(buffer: wgpu::Buffer) -> Self {
        Self { buffer, pool: None }
    }

    /// A buffer that returns to `pool`.
    pub fn pooled(buffer: wgpu::Buffer, pool: &Arc<Pool>) -> Self {
        Self {
            buffer,
            pool: Some(Arc::downgrade(pool)),
        }
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.as_ref().and_then(Weak::upgrade) {
            pool.put(self.buffer.clone());
        }
    }
}
