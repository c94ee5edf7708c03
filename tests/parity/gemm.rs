use rrs::gemm::{self, GemmOptions, Tile};
use rrs::workload::Rng;
use rrs::{channel_max, Context, DotKernel, Quantized, Tensor};

use crate::common::{bits, ctx, permutation, scales, words};

/// Random packed rows (every nibble value appears) and their scales (1 if `unit`), as words,
/// scales and a GPU [`Quantized`].
pub fn packed(
    ctx: &Context,
    rng: &mut Rng,
    rows: usize,
    k: usize,
    unit_scales: bool,
) -> (Vec<u32>, Vec<f32>, Quantized) {
    let w = words(rng, rows * k / 8);
    let s = if unit_scales {
        vec![1.0; rows]
    } else {
        scales(rng, rows)
    };
    let q = Quantized {
        packed: Tensor::from_slice(ctx, &w, &[rows, k / 8]).unwrap(),
        scales: Tensor::from_slice(ctx, &s, &[rows]).unwrap(),
        rows,
        k,
    };
    (w, s, q)
}

const KERNELS: [DotKernel; 2] = [DotKernel::Dot4I8Packed, DotKernel::Portable];
const SHAPES: [(usize, usize, usize, usize); 9] = [
    // (m, n, k, group): m and n off the tiles, m = 1, k off every K step, group = k.
    (1, 1, 128, 128),
    (1, 70, 256, 128),
    (3, 64, 384, 128),
    (65, 33, 128, 32),
    (130, 129, 512, 64),
    (64, 64, 1024, 256),
    (7, 5, 192, 64),
    (2, 3, 8, 8),
    (129, 130, 200, 200),
];

/// With unit scales the output is the exact integer dot product (|Σ| ≤ 64·k < 2^24, exact
/// in f32): compared bit-exactly, for every tile and both dot kernels, with and without
/// the weight gather.
pub async fn integer_sums_are_bit_exact() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(6);
    for (m, n, k, group) in SHAPES {
        let (qa, _, a) = packed(ctx, &mut rng, m, k, true);
        let (qw, _, w) = packed(ctx, &mut rng, n, k, true);
        let perm = permutation(&mut rng, k);
        let pt = Tensor::from_slice(ctx, &perm, &[k]).unwrap();
        for tile in Tile::ALL {
            for dot in KERNELS {
                for gather in [false, true] {
                    let opts = GemmOptions {
                        group,
                        group_scales: None,
                        weight_perm: gather.then_some(&pt),
                        dot,
                        tile: Some(tile),
                    };
                    let y = run(ctx, &a, &w, opts).await;
                    let p = gemm::partial_sums(&qa, &qw, k, group, gather.then_some(&perm[..]));
                    let want: Vec<f32> = p
                        .chunks(k / group)
                        .map(|g| g.iter().sum::<i32>() as f32)
                        .collect();
                    let what =
                        format!("m={m} n={n} k={k} group={group} {tile:?} {dot:?} gather={gather}");
                    assert_eq!(y, want, "{what}");
                }
            }
        }
    }
}

/// With row, column and group scales: both sides add the same f32 terms s_g·P_g, the
/// tiled kernel in the same order (up to FMA contraction), so 4ε·|a·w|·Σ|s_g·P_g| holds.
/// With the group scales `channel_max` produces (rounded by `channel_max::round_scale`)
/// every s_g·P_g is exact, FMA or not, and the output equals the reference bit for bit.
pub async fn scaled_output_matches_reference() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(7);
    for (m, n, k, group) in SHAPES {
        let (qa, sa, a) = packed(ctx, &mut rng, m, k, false);
        let (qw, sw, w) = packed(ctx, &mut rng, n, k, false);
        let raw = scales(&mut rng, k / group);
        let rounded: Vec<f32> = raw
            .iter()
            .map(|&s| channel_max::round_scale(s, group))
            .collect();
        let perm = permutation(&mut rng, k);
        let pt = Tensor::from_slice(ctx, &perm, &[k]).unwrap();
        let p = gemm::partial_sums(&qa, &qw, k, group, Some(&perm));
        for (exact, gs) in [(false, raw), (true, rounded)] {
            let gt = Tensor::from_slice(ctx, &gs, &[k / group]).unwrap();
            for (dot, tile) in KERNELS.into_iter().zip([Tile::Large, Tile::Small]) {
                let opts = GemmOptions {
                    group,
                    group_scales: Some(&gt),
                    weight_perm: Some(&pt),
                    dot,
                    tile: Some(tile),
                };
                let y = run(ctx, &a, &w, opts).await;
                let want = gemm::reference(&qa, &sa, &qw, &sw, k, group, Some(&gs), Some(&perm));
                let what = format!("m={m} n={n} k={k} {dot:?} rounded scales: {exact}");
                if exact {
                    assert_eq!(bits(&y, f32::to_bits), bits(&want, f32::to_bits), "{what}");
                } else {
                    assert_within_tiled_bound(&y, &want, &p, &gs, (&sa, &sw), &what);
                }
            }
        }
    }
}

/// One decode case (`gemm` with the kernel it picks for small m), with unit scales and with
/// random ones, for both dot kernels, with the weights read through a random permutation
/// if `gather`: integer sums bit-exact with unit scales; with scales within the bound for
/// any order of 32-code pieces. Returns how many runs took the gathering decode kernel.
async fn check_decode(
    ctx: &Context,
    rng: &mut Rng,
    (m, n, k, group): (usize, usize, usize, usize),
    gather: bool,
) -> usize {
    let mut gathered = 0;
    for unit in [true, false] {
        let (qa, sa, a) = packed(ctx, rng, m, k, unit);
        let (qw, sw, w) = packed(ctx, rng, n, k, unit);
        let perm = gather.then(|| permutation(rng, k));
        let pt = perm
            .as_ref()
            .map(|p| Tensor::from_slice(ctx, p, &[k]).unwrap());
        let gs = if unit {
            vec![1.0; k / group]
        } else {
            scales(rng, k / group)
        };
        let gt = Tensor::from_slice(ctx, &gs, &[k / group]).unwrap();
        for dot in KERNELS {
            gathered += usize::from(gather && gemm::decode_gathers(ctx, m, k, group, dot));
            let opts = GemmOptions {
                group,
                group_scales: (!unit).then_some(&gt),
                weight_perm: pt.as_ref(),
                dot,
                tile: None,
            };
            let y = run(ctx, &a, &w, opts).await;
            let perm = perm.as_deref();
            let want = gemm::reference(&qa, &sa, &qw, &sw, k, group, Some(&gs), perm);
            let what =
                format!("m={m} n={n} k={k} group={group} unit={unit} gather={gather} {dot:?}");
            if unit {
                assert_eq!(y, want, "{what}");
                continue;
            }
            let (a, w) = ((&qa[..], &sa[..]), (&qw[..], &sw[..]));
            assert_within_bound(&y, &want, a, w, &gs, k, perm, AnyOrder::decode(k), &what);
        }
    }
    gathered
}

/// The decode kernels (m ≤ 16, picked automatically: `gemv.wgsl` at m = 1, the staged
/// one's variants of 4, 8 and 16 rows above): integer sums bit-exact with unit
/// scales; with scales it adds s_g·P_piece over 32-nibble pieces in a lane-strided order
/// and a tree: allow (k/16 + 8)·ε·|a·w|·Σ_pieces |s_g·P_piece|, the bound for any order.
pub async fn decode_kernel_matches_reference() {
    let mut rng = Rng::new(10);
    for shape in [
        (1, 1, 32, 32),
        (1, 70, 256, 128),
        (5, 9, 1024, 64),
        (16, 33, 4096, 128),
        (16, 8, 96, 96),
        // 48 pieces of 32 codes: the WGSL kernel's second piece per lane exists for half of them.
        (3, 20, 1536, 128),
        // Many slabs per warp (past the CUDA kernel's ring of K steps), groups of 4 slabs.
        (2, 40, 16384, 512),
        (16, 64, 16384, 128),
        // The staged kernel's variants at their largest m (4, 8), columns off its 32 and a
        // last chunk of k that is not full.
        (4, 31, 2080, 32),
        (8, 45, 1056, 96),
    ] {
        check_decode(&ctx().await, &mut rng, shape, false).await;
    }
}

/// The test context where it runs the GEMMs on cooperative matrices (the default where
/// the adapter offers them), or `None` after saying why the tests of those kernels are
/// skipped here: lavapipe, browsers and CUDA have none, and `RRS_COOP_MATRIX=0` turns them
/// off.
async fn coop_context() -> Option<Context> {
    let ctx = ctx().await;
    if !ctx.cooperative_matrix() {
        eprintln!(
            "skipped: the context on {} does not run the GEMMs on cooperative matrices \
             (none of 16 × 16 × 16 f16 → f32 with subgroups of 32, a CUDA or browser \
             context, or RRS_COOP_MATRIX=0)",
            ctx.describe()
        );
        return None;
    }
    Some(ctx)
}

/// The decode kernel on tensor cores (`shaders/gemv_coop.wgsl`) with the same checks as
/// the others: integer sums bit-exact with unit scales (f16 codes, f32 sums of integers
/// below 2^24), with scales within the decode bound. Rows 12 to 16, columns off the
/// 16-column tiles, step counts that do not fill the four subgroups, groups of 128 to 1024.
pub async fn coop_decode_kernel_matches_reference() {
    let Some(ctx) = &coop_context().await else {
        return;
    };
    let mut rng = Rng::new(13);
    let shapes = [
        (12, 1, 128, 128),
        (16, 16, 128, 128),
        (13, 33, 384, 128),
        (16, 70, 1024, 256),
        (15, 17, 640, 128),
        (16, 64, 4096, 1024),
        (12, 40, 16384, 128),
    ];
    for (m, n, k, group) in shapes {
        assert!(gemm::decode_on_tensor_cores(ctx, m, k, Some(group)));
        check_decode(ctx, &mut rng, (m, n, k, group), false).await;
    }
}

/// The tiled GEMM on tensor cores (`shaders/gemm_coop.wgsl`): with unit scales and no group
/// scales the exact integer sums, bit-exactly; with row, column and group scales within the
/// Horner form's bound ([`AnyOrder::horner`]), for group scales in [0.5, 2], descending over
/// nine decades (the channel_max order, which the kernel meets ascending) and scattered over
/// nine decades (units that grow and shrink). Shapes off the 128 tiles in m and n, k of one
/// to many 64-code steps, groups of 64 to 512. And past the range where its running sum is
/// finite: Inf or NaN there, but no wrong finite output.
pub async fn coop_gemm_matches_reference() {
    let Some(ctx) = &coop_context().await else {
        return;
    };
    let mut rng = Rng::new(14);
    let shapes = [
        (17, 1, 64, 64),
        (128, 128, 128, 128),
        (130, 129, 512, 64),
        (300, 70, 1024, 256),
        (64, 257, 4096, 128),
        (33, 40, 8192, 512),
    ];
    for (m, n, k, group) in shapes {
        assert!(gemm::prefill_on_tensor_cores(ctx, m, k, Some(group)));
        assert!(gemm::prefill_on_tensor_cores(ctx, m, k, None));
        let what = format!("m={m} n={n} k={k} group={group}");
        let (qa, _, a) = packed(ctx, &mut rng, m, k, true);
        let (qw, _, w) = packed(ctx, &mut rng, n, k, true);
        let plain = GemmOptions {
            group,
            ..GemmOptions::plain(ctx)
        };
        let y = run(ctx, &a, &w, plain).await;
        let want: Vec<f32> = gemm::partial_sums(&qa, &qw, k, group, None)
            .chunks(k / group)
            .map(|g| g.iter().sum::<i32>() as f32)
            .collect();
        assert_eq!(y, want, "plain {what}");

        let (qa, sa, a) = packed(ctx, &mut rng, m, k, false);
        let (qw, sw, w) = packed(ctx, &mut rng, n, k, false);
        let groups = k / group;
        let decades = |rng: &mut Rng| 10f32.powf(4.0 - 9.0 * rng.uniform());
        let mut descending: Vec<f32> = (0..groups).map(|_| decades(&mut rng)).collect();
        descending.sort_by(|x, y| y.total_cmp(x));
        let scale_sets = [
            ("mild", scales(&mut rng, groups)),
            ("descending", descending),
            (
                "scattered",
                (0..groups).map(|_| decades(&mut rng)).collect(),
            ),
        ];
        for (kind, gs) in scale_sets {
            let (y, want) = scaled_gemm(ctx, (&qa, &sa, &a), (&qw, &sw, &w), group, &gs).await;
            let (a, w) = ((&qa[..], &sa[..]), (&qw[..], &sw[..]));
            let bound = AnyOrder::horner(k, group);
            let what = format!("scaled {kind} {what}");
            assert_within_bound(&y, &want, a, w, &gs, k, None, bound, &what);
        }
    }
    // Past the documented range (a group scale 10^38 times the one done just before it, where
    // the running sum of a 64-code group, typically a few hundred, overflows f32): the output
    // is Inf or NaN there, never a wrong finite number.
    let (m, n, k, group) = (20, 8, 256, 64);
    let (qa, sa, a) = packed(ctx, &mut rng, m, k, false);
    let (qw, sw, w) = packed(ctx, &mut rng, n, k, false);
    let gs = [1e33, 1e-5, 1e33, 1e-5];
    assert!(gemm::prefill_on_tensor_cores(ctx, m, k, Some(group)));
    let (y, want) = scaled_gemm(ctx, (&qa, &sa, &a), (&qw, &sw, &w), group, &gs).await;
    assert!(want.iter().all(|v| v.is_finite()));
    let overflowed = y.iter().filter(|v| !v.is_finite()).count();
    eprintln!(
        "overflowing scales: {overflowed} of {} outputs not finite",
        y.len()
    );
    let y: Vec<f32> = y
        .iter()
        .zip(&want)
        .map(|(g, r)| if g.is_finite() { *g } else { *r })
        .collect();
    let (a, w) = ((&qa[..], &sa[..]), (&qw[..], &sw[..]));
    let bound = AnyOrder::horner(k, group);
    assert_within_bound(&y, &want, a, w, &gs, k, None, bound, "overflowing scales");
}

/// `gemm::gemm(a, w, opts)` read back.
async fn run(ctx: &Context, a: &Quantized, w: &Quantized, opts: GemmOptions<'_>) -> Vec<f32> {
    gemm::gemm(ctx, a, w, opts)
        .unwrap()
        .to_vec_async(ctx)
        .await
        .unwrap()
}

/// The GEMM of `a` and `w` (packed words, row scales, tensor) with group scales `gs`, and
/// the reference's output.
async fn scaled_gemm(
    ctx: &Context,
    (qa, sa, a): (&[u32], &[f32], &Quantized),
    (qw, sw, w): (&[u32], &[f32], &Quantized),
    group: usize,
    gs: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let gt = Tensor::from_slice(ctx, gs, &[gs.len()]).unwrap();
    let opts = GemmOptions {
        group,
        group_scales: Some(&gt),
        ..GemmOptions::plain(ctx)
    };
    let y = run(ctx, a, w, opts).await;
    let want = gemm::reference(qa, sa, qw, sw, a.k, group, Some(gs), None);
    (y, want)
}

/// The decode kernel that reads the weights through a permutation (dynamic reorder at
/// m ≤ 4, `shaders/gemv_gather.wgsl`), with the same checks.
pub async fn gather_decode_kernel_matches_reference() {
    let mut rng = Rng::new(12);
    let mut gathered = 0;
    for shape in [
        (1, 8, 256, 128),
        (2, 9, 1536, 32),
        (3, 20, 2048, 128),
        (4, 33, 4096, 64),
        (1, 70, 8192, 128),
        (1, 5, 4096, 4096),
    ] {
        gathered += check_decode(&ctx().await, &mut rng, shape, true).await;
    }
    // On wgpu every adapter with 16 KiB of workgroup memory runs it for k ≤ 2048 (CUDA
    // permutes, then runs its decode kernel).
    if ctx().await.backend() == rrs::Backend::Wgpu {
        assert!(
            gathered >= 12,
            "the gathering decode kernel ran for {gathered} cases"
        );
    }
}

/// Permuting packed rows on the GPU is bit-exact: for tiles of 8 rows transposed in
/// workgroup memory (k ≤ 12288 on wgpu where the adapter allows 4 · k bytes; row counts that
/// are not a multiple of 8), for rows staged in workgroup memory (k ≤ 32768 on wgpu,
/// ≤ 98304 on CUDA) and longer rows gathered from device memory; and entries past the row
/// read its last code, as the reference does.
pub async fn permute_matches_reference() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(11);
    let cases = [
        (1, 8),
        (3, 256),
        (70, 1024),
        (13, 2048),
        (1, 4096),
        (9, 4096),
        (17, 8192),
        (5, 12288),
        (3, 8200),
        (2, 32768),
        (2, 32776),
        (1, 98312),
    ];
    for (case, (rows, k)) in cases.into_iter().enumerate() {
        let w = words(&mut rng, rows * k / 8);
        let mut perm = permutation(&mut rng, k);
        if case == 2 {
            perm[5] = k as u32;
            perm[700] = u32::MAX;
        }
        let wt = Tensor::from_slice(ctx, &w, &[rows, k / 8]).unwrap();
        let pt = Tensor::from_slice(ctx, &perm, &[k]).unwrap();
        let got: Vec<u32> = rrs::permute::permute(ctx, &wt, &pt)
            .unwrap()
            .to_vec_async(ctx)
            .await
            .unwrap();
        assert_eq!(
            got,
            rrs::permute::reference(&w, k, &perm),
            "rows={rows} k={k}"
        );
    }
}

pub async fn mismatched_k_is_an_error() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(8);
    let (_, _, a) = packed(ctx, &mut rng, 2, 128, true);
    let (_, _, w) = packed(ctx, &mut rng, 2, 256, true);
    let err = gemm::gemm(ctx, &a, &w, GemmOptions::plain(ctx)).unwrap_err();
    assert!(
        err.to_string().contains("k = 128") && err.to_string().contains("256"),
        "{err}"
    );
}

/// A bound on a scaled GEMM's error that holds for any order of summation: the kernel adds
/// s_g·P over pieces of `piece` codes, with at most `roundings` roundings on the way, each
/// within ε of the running sum.
#[derive(Clone, Copy)]
pub struct AnyOrder {
    pub piece: usize,
    pub roundings: f32,
}

impl AnyOrder {
    /// The decode kernels: pieces of 32 codes, k/16 + 8 roundings.
    pub fn decode(k: usize) -> Self {
        AnyOrder {
            piece: 32,
            roundings: k as f32 / 16.0 + 8.0,
        }
    }

    /// The tensor-core GEMM with group scales (`gemm_coop.wgsl`, Horner form): the tensor
    /// cores add products to a non-integer sum (they may round toward zero once every 8
    /// codes), and each group changes the sum's units (a division, within 2.5 ulp in WGSL,
    /// and a product).
    pub fn horner(k: usize, group: usize) -> Self {
        AnyOrder {
            piece: 8,
            roundings: k as f32 / 8.0 + 3.0 * (k / group) as f32 + 8.0,
        }
    }
}

/// GEMM outputs with group scales against the reference within `bound`:
/// roundings·ε·|a·w|·Σ_pieces |s_g·P_piece|. `a` and `w` are (packed words, row scales);
/// the weights are read through `weight_perm` where given.
#[allow(clippy::too_many_arguments)]
pub fn assert_within_bound(
    y: &[f32],
    want: &[f32],
    a: (&[u32], &[f32]),
    w: (&[u32], &[f32]),
    gs: &[f32],
    k: usize,
    weight_perm: Option<&[u32]>,
    bound: AnyOrder,
    what: &str,
) {
    let (n, group, piece) = (w.1.len(), k / gs.len(), bound.piece);
    let pieces = gemm::partial_sums(a.0, w.0, k, piece, weight_perm);
    for (idx, (g, r)) in y.iter().zip(want).enumerate() {
        let mag: f32 = pieces[idx * (k / piece)..(idx + 1) * (k / piece)]
            .iter()
            .enumerate()
            .map(|(i, v)| (*v as f32 * gs[i * piece / group]).abs())
            .sum();
        let tol = bound.roundings * f32::EPSILON * a.1[idx / n] * w.1[idx % n] * mag.max(1.0);
        assert!((g - r).abs() <= tol, "{what} [{idx}]: {g} vs {r}");
    }
}

/// The tiled kernels' bound: `y` and `want` ([m, n]) differ by at most
/// 4ε·|a·w|·Σ_g |s_g·P_g| (the same f32 terms in the same order, allowing for FMA
/// contraction). `p` holds the exact partial sums ([m, n, groups]), `scales` the row scales
/// of the activations and of the weights.
fn assert_within_tiled_bound(
    y: &[f32],
    want: &[f32],
    p: &[i32],
    gs: &[f32],
    scales: (&[f32], &[f32]),
    what: &str,
) {
    let (groups, n) = (gs.len(), scales.1.len());
    for (idx, (g, r)) in y.iter().zip(want).enumerate() {
        let mag: f32 = p[idx * groups..(idx + 1) * groups]
            .iter()
            .zip(gs)
            .map(|(v, s)| (*v as f32 * s).abs())
            .sum();
        let tol = 4.0 * f32::EPSILON * scales.0[idx / n] * scales.1[idx % n] * mag.max(1.0);
        assert!((g - r).abs() <= tol, "{what} [{idx}]: {g} vs {r}");
    }
}
