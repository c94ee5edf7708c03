//! GPU timing for the benches: run recorded work several times and report the median
//! time of one repetition, from GPU timestamps where the device has
//! `TIMESTAMP_QUERY_INSIDE_ENCODERS`, else from the wall clock around submit-and-wait.

use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::{Error, Result};

/// Untimed work before the timed runs. An idle GPU lowers its SM clock within a few hundred
/// milliseconds and takes about as long to raise it again: on the H200, nvidia-smi sampled
/// every 100 ms during the bench showed 1980 MHz fall to 345–810 MHz in the gaps between
/// cases (allocations, uploads), and a case timed right after such a gap ran at that clock
/// (the WGSL copy of 4096 × 8192 f32 took 0.17 ms instead of 0.07 ms). So every case first
/// runs its work for at least this long.
pub const CLOCK_WARM_UP: Duration = Duration::from_millis(300);

/// Call `run` (one untimed run of a case, waited for) at least twice and until
/// [`CLOCK_WARM_UP`] has passed: the warm-up of both backends' `time_ms`.
pub(crate) fn warm_up(mut run: impl FnMut() -> Result<()>) -> Result<()> {
    let start = Instant::now();
    let mut runs = 0;
    while runs < 2 || start.elapsed() < CLOCK_WARM_UP {
        run()?;
        runs += 1;
    }
    Ok(())
}

/// Where a time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// GPU timestamp queries around the recorded work.
    GpuTimestamps,
    /// Host wall clock around submit and wait (includes submission overhead).
    WallClock,
}

impl Context {
    /// The clock [`Context::time_ms`] uses on this device.
    pub fn clock(&self) -> Clock {
        if self.device().is_some_and(|d| {
            d.features()
                .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
        }) {
            Clock::GpuTimestamps
        } else {
            Clock::WallClock
        }
    }

    /// Median milliseconds of `f`'s work over `samples` timed runs, after untimed runs for
    /// at least [`CLOCK_WARM_UP`] and at least two of them (the first pays for pipeline
    /// compilation, the second for first-time allocations). Each run records `f` `reps`
    /// times into one encoder (amortizing submission cost) and the time is divided by
    /// `reps`.
    pub fn time_ms(
        &self,
        samples: usize,
        reps: usize,
        mut f: impl FnMut(&mut wgpu::CommandEncoder) -> Result<()>,
    ) -> Result<f64> {
        let clock = self.clock();
        let g = self.gpu()?;
        let query = (clock == Clock::GpuTimestamps).then(|| {
            g.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("timing"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            })
        });
        let resolve = g.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = crate::tensor::Tensor::zeros(self, crate::DType::U32, &[4])?;
        warm_up(|| {
            self.record(|enc| {
                for _ in 0..reps.max(1) {
                    f(enc)?;
                }
                Ok(())
            })?;
            self.synchronize()
        })?;
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            let t0 = Instant::now();
            self.record(|enc| {
                if let Some(q) = &query {
                    enc.write_timestamp(q, 0);
                }
                for _ in 0..reps.max(1) {
                    f(enc)?;
                }
                if let Some(q) = &query {
                    enc.write_timestamp(q, 1);
                    enc.resolve_query_set(q, 0..2, &resolve, 0);
                    enc.copy_buffer_to_buffer(&resolve, 0, readback.buffer(), 0, 16);
                }
                Ok(())
            })?;
            self.synchronize()?;
            let wall = t0.elapsed().as_secs_f64() * 1e3;
            let ms = if query.is_some() {
                let t: Vec<u32> = readback.to_vec(self)?;
                let ticks = (t[2] as u64 | (t[3] as u64) << 32)
                    .checked_sub(t[0] as u64 | (t[1] as u64) << 32)
                    .ok_or_else(|| Error::Device("GPU timestamps went backwards".into()))?;
                ticks as f64 * g.queue.get_timestamp_period() as f64 / 1e6
            } else {
                wall
            };
            times.push(ms / reps.max(1) as f64);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    }
}
