//! Seeded LLM-like workloads and error metrics, shared by the demo, the tests and the
//! benches.
//!
//! Activations follow what real LLM layers show (see the method notes in the README):
//! Gaussian values with per-channel spread, a few **channel-wise outliers** (the same
//! channels large, with the same sign, in nearly every token) and a few **spike
//! outliers** (one huge value in one token). Weights are Gaussian with std 1/sqrt(k).

/// A small, fast, seeded PRNG (SplitMix64) with Gaussian samples; no dependencies.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform integer in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// `n` standard normal values times `scale`.
    pub fn normals(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.normal() * scale).collect()
    }
}

/// Parameters of the synthetic workload.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadConfig {
    /// Tokens (rows of x).
    pub tokens: usize,
    /// Input channels k.
    pub channels: usize,
    /// Output features n.
    pub out_features: usize,
    /// Number of channel-wise outlier channels.
    pub outlier_channels: usize,
    /// Magnitude of channel-wise outliers, in units of the typical activation.
    pub outlier_strength: f32,
    /// Number of spike outliers (single token, single channel).
    pub spikes: usize,
    /// Magnitude of spikes, in units of the typical activation.
    pub spike_strength: f32,
    /// Seed.
    pub seed: u64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            tokens: 2048,
            channels: 4096,
            out_features: 1024,
            outlier_channels: 16,
            outlier_strength: 60.0,
            spikes: 16,
            spike_strength: 1000.0,
            seed: 0,
        }
    }
}

/// Activations, calibration activations and weights of one synthetic layer.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The parameters.
    pub config: WorkloadConfig,
    /// [tokens, channels] activations.
    pub x: Vec<f32>,
    /// [tokens / 4 (at least 16), channels] calibration activations from the same
    /// distribution (same outlier channels, other tokens and spikes).
    pub calibration: Vec<f32>,
    /// [out_features, channels] weights.
    pub w: Vec<f32>,
    /// The channel-wise outlier channels.
    pub outlier_channels: Vec<usize>,
}

impl Workload {
    /// Generate the workload for `config` (deterministic in the seed).
    pub fn new(config: &WorkloadConfig) -> Self {
        let c = config;
        let k = c.channels;
        let mut rng = Rng::new(c.seed);
        // Per-channel spread: log-normal around 1.
        let spread: Vec<f32> = (0..k).map(|_| (0.5 * rng.normal()).exp()).collect();
        let mut outliers = Vec::new();
        while outliers.len() < c.outlier_channels.min(k) {
            let j = rng.below(k);
            if !outliers.contains(&j) {
                outliers.push(j);
            }
        }
        let signs: Vec<f32> = outliers
            .iter()
            .map(|_| if rng.uniform() < 0.5 { -1.0 } else { 1.0 })
            .collect();
        let sample = |rng: &mut Rng, tokens: usize| -> Vec<f32> {
            let mut x = vec![0f32; tokens * k];
            for row in x.chunks_mut(k) {
                for (v, s) in row.iter_mut().zip(&spread) {
                    *v = rng.normal() * s;
                }
                for (&j, &sg) in outliers.iter().zip(&signs) {
                    row[j] = sg * c.outlier_strength * (1.0 + 0.2 * rng.normal());
                }
            }
            for _ in 0..c.spikes {
                let (i, j) = (rng.below(tokens), rng.below(k));
                let sg = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
                x[i * k + j] = sg * c.spike_strength * (1.0 + 0.1 * rng.normal());
            }
            x
        };
        let x = sample(&mut rng, c.tokens);
        let calibration = sample(&mut rng, (c.tokens / 4).max(16));
        let w = rng.normals(c.out_features * k, 1.0 / (k as f32).sqrt());
        Workload {
            config: config.clone(),
            x,
            calibration,
            w,
            outlier_channels: outliers,
        }
    }
}

/// ‖y − y_ref‖ / ‖y_ref‖ (Frobenius), in f64.
pub fn rel_error(y: &[f32], y_ref: &[f32]) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (a, b) in y.iter().zip(y_ref) {
        num += (*a as f64 - *b as f64).powi(2);
        den += (*b as f64).powi(2);
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// Signal-to-quantization-noise ratio in dB: 10·log10(‖y_ref‖² / ‖y − y_ref‖²).
pub fn sqnr_db(y: &[f32], y_ref: &[f32]) -> f64 {
    -20.0 * rel_error(y, y_ref).max(1e-12).log10()
}
