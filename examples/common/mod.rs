//! Shared by the bench programs (`bench.rs`, `bench_cuda.rs`): one result in the line
//! format `benches/merge_results.py` reads, and random packed operands.

use rrs::quantize::Quantized;
use rrs::workload::Rng;
use rrs::{Context, Tensor};

/// One timed case: `bytes` is the memory the kernel must move at least, `ops` 2·m·n·k for
/// GEMMs (0 for memory-bound ops).
pub struct Case<'a> {
    pub bench: &'a str,
    pub variant: &'a str,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub ms: f64,
    pub bytes: f64,
    pub ops: f64,
}

impl Case<'_> {
    /// `{"bench", "variant", "m", "n", "k", "ms", "bytes", "ops", "clock", "adapter"}`.
    pub fn json(&self, clock: &str, adapter: &str) -> String {
        let Case {
            bench,
            variant,
            m,
            n,
            k,
            ms,
            bytes,
            ops,
        } = self;
        format!(
            "{{\"bench\":\"{bench}\",\"variant\":\"{variant}\",\"m\":{m},\"n\":{n},\"k\":{k},\"ms\":{ms:.6},\"bytes\":{bytes},\"ops\":{ops},\"clock\":\"{clock}\",\"adapter\":\"{adapter}\"}}"
        )
    }

    /// The same for people: TOPS for GEMMs, GB/s for the rest.
    pub fn human(&self) -> String {
        let Case {
            bench,
            variant,
            m,
            n,
            k,
            ms,
            bytes,
            ops,
        } = self;
        let rate = if *ops > 0.0 {
            format!("{:8.2} TOPS", ops / ms / 1e9)
        } else {
            format!("{:8.1} GB/s", bytes / ms / 1e6)
        };
        format!("{bench:<12} {variant:<14} m={m:<6} n={n:<6} k={k:<6} {ms:>10.4} ms  {rate}")
    }
}

/// `rows` random packed rows of k codes (every nibble value appears) with unit-ish scales.
pub fn packed(ctx: &Context, rng: &mut Rng, rows: usize, k: usize) -> rrs::Result<Quantized> {
    let words: Vec<u32> = (0..rows * k / 8).map(|_| rng.next_u64() as u32).collect();
    Ok(Quantized {
        packed: Tensor::from_slice(ctx, &words, &[rows, k / 8])?,
        scales: Tensor::from_slice(ctx, &vec![0.01f32; rows], &[rows])?,
        rows,
        k,
    })
}
