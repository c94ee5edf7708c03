//! Property tests: random shapes and values for every op, GPU against the CPU reference,
//! 200 cases per op (small shapes, so that the suite stays fast on lavapipe). Integer
//! outputs bit-exact; float outputs within each op's documented tolerance.

use std::sync::OnceLock;

use proptest::prelude::*;
use rrs::channel_max::{self, Order, Statistic};
use rrs::gemm::{self, GemmOptions, Tile};
use rrs::pack_weights::{self, WeightPrep};
use rrs::quantize::{self, Quantized, Smooth};
use rrs::workload::{rel_error, Rng};
use rrs::{
    hadamard, Config, Context, DotKernel, LinearReference, Method, Reorder, RrsLinear, Tensor,
};

fn ctx() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(|| Context::new().expect("a GPU adapter"))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Values with a random overall magnitude (10^-3 … 10^3), per-channel spread, some zero
/// channels and occasional outliers.
fn values(seed: u64, m: usize, k: usize, exp: i32) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let scale = 10f32.powi(exp);
    let spread: Vec<f32> = (0..k).map(|_| (1.5 * rng.normal()).exp()).collect();
    let zero = rng.below(k);
    (0..m * k)
        .map(|i| {
            let j = i % k;
            if j == zero {
                0.0
            } else if rng.below(97) == 0 {
                rng.normal() * scale * 300.0
            } else {
                rng.normal() * scale * spread[j]
            }
        })
        .collect()
}

fn permutation(seed: u64, k: usize) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    let mut p: Vec<u32> = (0..k as u32).collect();
    for i in (1..k).rev() {
        p.swap(i, rng.below(i + 1));
    }
    p
}

/// k = a · 2^n for a supported family, up to about 1152 (a ∈ {1, 12, 20, 28, 36}).
fn hadamard_k() -> impl Strategy<Value = usize> {
    prop_oneof![
        (0u32..11).prop_map(|n| 1usize << n),
        (0u32..7).prop_map(|n| 12usize << n),
        (0u32..6).prop_map(|n| 20usize << n),
        (0u32..6).prop_map(|n| 28usize << n),
        (0u32..6).prop_map(|n| 36usize << n),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Tolerance: (log2 k + a) ε ‖x_row‖₂ with 4× margin, as in the parity tests.
    #[test]
    fn hadamard_matches_reference(m in 1usize..6, k in hadamard_k(), seed: u64, exp in -3i32..4) {
        let x = values(seed, m, k, exp);
        let xt = Tensor::from_slice(ctx(), &x, &[m, k]).unwrap();
        let got = hadamard::hadamard(ctx(), &xt).unwrap().to_vec::<f32>(ctx()).unwrap();
        let want = hadamard::reference(&x, k).unwrap();
        let a = hadamard::factor(k).unwrap().0 as f32;
        for (r, xr) in x.chunks(k).enumerate() {
            let norm = xr.iter().map(|v| v * v).sum::<f32>().sqrt();
            let tol = 4.0 * ((k as f32).log2() + a) * f32::EPSILON * norm;
            for i in r * k..(r + 1) * k {
                prop_assert!((got[i] - want[i]).abs() <= tol, "m={m} k={k} [{i}] {} vs {}", got[i], want[i]);
            }
        }
    }

    /// Bit-exact: maxima, permutation, group scales and their reciprocals, of both statistics.
    #[test]
    fn channel_max_matches_reference(m in 1usize..40, groups in 1usize..9, gexp in 3u32..8, seed: u64, exp in -3i32..4, mode in 0usize..3, normalized: bool) {
        let group = 1usize << gexp;
        let k = group * groups;
        let x = values(seed, m, k, exp);
        let xt = Tensor::from_slice(ctx(), &x, &[m, k]).unwrap();
        let p = permutation(seed ^ 1, k);
        let pt = Tensor::from_slice(ctx(), &p, &[k]).unwrap();
        let order = [Order::Sorted, Order::Identity, Order::Fixed(&pt)][mode];
        let stat = if normalized { Statistic::RowNormalized } else { Statistic::Max };
        let s = channel_max::channel_max_with(ctx(), &xt, group, order, stat).unwrap();
        let (absmax, perm, scales) = channel_max::reference_with(&x, k, group, mode == 0, (mode == 2).then_some(&p[..]), stat).unwrap();
        prop_assert_eq!(s.absmax.to_vec::<f32>(ctx()).unwrap(), absmax);
        prop_assert_eq!(s.perm.to_vec::<u32>(ctx()).unwrap(), perm);
        prop_assert_eq!(s.inv_scales.to_vec::<f32>(ctx()).unwrap(), channel_max::inverse(&scales));
        prop_assert_eq!(s.scales.to_vec::<f32>(ctx()).unwrap(), scales);
    }

    /// Bit-exact codes and row scales, with and without gather and multipliers.
    #[test]
    fn quantize_matches_reference(m in 1usize..40, words in 1usize..130, seed: u64, exp in -3i32..4, gather: bool, smooth: bool) {
        let k = 8 * words;
        let group = if k % 16 == 0 { 16 } else { 8 };
        let x = values(seed, m, k, exp);
        let p = permutation(seed ^ 2, k);
        let mult: Vec<f32> = values(seed ^ 3, 1, k / group, 0).iter().map(|v| v.abs() + 0.01).collect();
        let xt = Tensor::from_slice(ctx(), &x, &[m, k]).unwrap();
        let pt = Tensor::from_slice(ctx(), &p, &[k]).unwrap();
        let mt = Tensor::from_slice(ctx(), &mult, &[k / group]).unwrap();
        let sm = Smooth { perm: gather.then_some(&pt), multipliers: smooth.then_some((&mt, group)) };
        let q = quantize::quantize(ctx(), &xt, sm).unwrap();
        let (codes, scales) = quantize::reference(&x, k, gather.then_some(&p[..]), smooth.then_some((&mult[..], group))).unwrap();
        prop_assert_eq!(q.packed.to_vec::<u32>(ctx()).unwrap(), codes);
        prop_assert_eq!(q.scales.to_vec::<f32>(ctx()).unwrap(), scales);
    }

    /// Unit scales: the exact integer result, bit-exact, for every tile, both dot kernels,
    /// the decode kernel and the gather.
    #[test]
    fn gemm_integer_sums_match(m in 1usize..80, n in 1usize..80, steps in 1usize..20, seed: u64, tile in 0usize..4, portable: bool, gather: bool) {
        let k = 16 * steps;
        let group = if k % 32 == 0 { 32 } else { 16 };
        let mut rng = Rng::new(seed);
        let words = |rng: &mut Rng, rows: usize| -> Vec<u32> { (0..rows * k / 8).map(|_| rng.next_u64() as u32).collect() };
        let (qa, qw) = (words(&mut rng, m), words(&mut rng, n));
        let q = |w: &[u32], rows: usize| Quantized {
            packed: Tensor::from_slice(ctx(), w, &[rows, k / 8]).unwrap(),
            scales: Tensor::from_slice(ctx(), &vec![1.0f32; rows], &[rows]).unwrap(),
            rows,
            k,
        };
        let p = permutation(seed ^ 4, k);
        let pt = Tensor::from_slice(ctx(), &p, &[k]).unwrap();
        let opts = GemmOptions {
            group,
            group_scales: None,
            weight_perm: gather.then_some(&pt),
            dot: if portable { DotKernel::Portable } else { DotKernel::Dot4I8Packed },
            tile: [None, Some(Tile::Large), Some(Tile::Medium), Some(Tile::Small)][tile],
        };
        let y = gemm::gemm(ctx(), &q(&qa, m), &q(&qw, n), opts).unwrap().to_vec::<f32>(ctx()).unwrap();
        let want: Vec<f32> = gemm::partial_sums(&qa, &qw, k, group, gather.then_some(&p[..]))
            .chunks(k / group)
            .map(|g| g.iter().sum::<i32>() as f32)
            .collect();
        prop_assert_eq!(y, want);
    }

    /// Permuting packed rows: bit-exact.
    #[test]
    fn permute_matches_reference(rows in 1usize..50, words in 1usize..64, seed: u64) {
        let k = 8 * words;
        let mut rng = Rng::new(seed);
        let w: Vec<u32> = (0..rows * words).map(|_| rng.next_u64() as u32).collect();
        let p = permutation(seed ^ 5, k);
        let wt = Tensor::from_slice(ctx(), &w, &[rows, words]).unwrap();
        let pt = Tensor::from_slice(ctx(), &p, &[k]).unwrap();
        let got = rrs::permute::permute(ctx(), &wt, &pt).unwrap().to_vec::<u32>(ctx()).unwrap();
        prop_assert_eq!(got, rrs::permute::reference(&w, k, &p));
    }

    /// The whole layer against its CPU reference (tolerances as in the parity tests), with
    /// either channel statistic.
    #[test]
    fn layer_matches_reference(m in 1usize..40, n in 1usize..48, kexp in 7u32..10, seed: u64, exp in -2i32..3, method in 1usize..6, reorder in 0usize..3, normalized: bool) {
        let k = 1usize << kexp;
        let method = Method::ALL[method];
        let reorder = [Reorder::Dynamic, Reorder::Static, Reorder::None][reorder];
        let x = values(seed, m, k, exp);
        let w = values(seed ^ 6, n, k, -1);
        let mut cfg = Config::new(method).reorder(reorder).calibration(values(seed ^ 7, 16, k, exp));
        if normalized {
            cfg = cfg.row_normalized();
        }
        let y = RrsLinear::new(ctx(), &w, n, k, cfg.clone()).unwrap().run(&x).unwrap();
        let want = LinearReference::new(&w, n, k, &cfg).unwrap().forward(&x, true).unwrap();
        let tol = if method.rotates() { 1e-3 } else { 1e-5 };
        let e = rel_error(&y, &want);
        prop_assert!(e <= tol || want.iter().all(|v| *v == 0.0), "{method:?} {reorder:?} m={m} n={n} k={k}: {e}");
    }

    /// Weight packing: bit-exact without rotation (with a permutation and channel factors).
    /// With rotation the f32 inputs of the quantizer differ within the FWHT tolerance, so a
    /// code at an exact rounding tie may move by one: at most one code in 1000, by one.
    #[test]
    fn pack_weights_matches_reference(n in 1usize..40, kexp in 3u32..10, seed: u64, rotate: bool, perm: bool, factors: bool) {
        let k = 1usize << kexp;
        let w = values(seed, n, k, -1);
        let p = permutation(seed ^ 8, k);
        let f: Vec<f32> = values(seed ^ 9, 1, k, 0).iter().map(|v| v.abs() + 0.05).collect();
        let prep = WeightPrep { rotate, perm: perm.then_some(&p[..]), factors: factors.then_some(&f[..]) };
        let wt = Tensor::from_slice(ctx(), &w, &[n, k]).unwrap();
        let q = pack_weights::pack_weights(ctx(), &wt, prep).unwrap();
        let (codes, scales) = pack_weights::reference(&w, k, prep).unwrap();
        let got: Vec<u32> = q.packed.to_vec(ctx()).unwrap();
        if !rotate {
            prop_assert_eq!(got, codes);
            prop_assert_eq!(q.scales.to_vec::<f32>(ctx()).unwrap(), scales);
        } else {
            let (g, r) = (quantize::unpack(&got), quantize::unpack(&codes));
            let off: Vec<i32> = g.iter().zip(&r).map(|(a, b)| (*a as i32 - *b as i32).abs()).filter(|d| *d > 0).collect();
            prop_assert!(off.iter().all(|d| *d == 1) && off.len() * 1000 <= g.len().max(1000), "{} codes differ", off.len());
        }
    }

    /// The FP32 reference layer: |Δ| ≤ 2 k ε Σ|x·w| (different summation orders).
    #[test]
    fn matmul_matches_reference(m in 1usize..70, n in 1usize..70, k in 1usize..300, seed: u64, exp in -3i32..4) {
        let x = values(seed, m, k, exp);
        let w = values(seed ^ 10, n, k, 0);
        let xt = Tensor::from_slice(ctx(), &x, &[m, k]).unwrap();
        let wt = Tensor::from_slice(ctx(), &w, &[n, k]).unwrap();
        let y = rrs::matmul::matmul(ctx(), &xt, &wt).unwrap().to_vec::<f32>(ctx()).unwrap();
        let want = rrs::matmul::reference(&x, &w, k);
        for (idx, (g, r)) in y.iter().zip(&want).enumerate() {
            let (i, j) = (idx / n, idx % n);
            let mag: f32 = (0..k).map(|t| (x[i * k + t] * w[j * k + t]).abs()).sum();
            prop_assert!((g - r).abs() <= 2.0 * k as f32 * f32::EPSILON * mag + 1e-30, "[{i}, {j}] {g} vs {r}");
        }
    }

    /// `channel_max::round_scale`: never below the scale, less than 2^(drop − 23) of it above
    /// (drop = `scale_drop_bits`), and its product with any integer group sum
    /// (|P| ≤ 64 · group) exact in f32 where it is finite, which makes the GEMM epilogue
    /// FMA-proof.
    #[test]
    fn rounded_scales_make_group_products_exact(e in -16f32..100.0, frac in 0f32..1.0, groups in 1usize..512, p in -1f64..1.0) {
        let group = 16 * groups;
        let s = (2f32.powf(e) * (1.0 + frac)).clamp(channel_max::MIN_SCALE, channel_max::MAX_SCALE);
        let r = channel_max::round_scale(s, group);
        let drop = channel_max::scale_drop_bits(group);
        prop_assert!(r >= s && r.is_finite());
        prop_assert!(((r as f64 - s as f64) / s as f64) < 2f64.powi(drop as i32 - 23), "{s} -> {r}");
        let sum = (p * 64.0 * group as f64).round() as i32;
        prop_assert_eq!((r * sum as f32) as f64, r as f64 * sum as f64, "{} · {}", r, sum);
    }
}
