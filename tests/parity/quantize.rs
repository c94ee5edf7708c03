use rrs::channel_max::{self, Order};
use rrs::quantize::{self, Quantized, Smooth};
use rrs::workload::Rng;
use rrs::{Context, Tensor};

use crate::common::{activations, another_ctx, contexts, ctx, permutation, scales, to_f16};

/// Codes and row scales are bit-exact on every adapter: per element the kernel only
/// multiplies (correctly rounded in WGSL), and its two divisions per row are exact.
pub async fn matches_reference_bit_exactly() {
    for ctx in &contexts().await {
        matches_reference_on(ctx).await;
    }
}

async fn matches_reference_on(ctx: &rrs::Context) {
    let mut rng = Rng::new(5);
    for (m, k, group) in [
        (1, 8, 8),
        (3, 64, 32),
        (64, 128, 128),
        (130, 256, 128),
        (5, 4096, 128),
        (2, 16384, 64),
        (2, 32768, 128),
        (33, 768, 1),
        // More rows than CUDA's persistent quantize of permuted rows (`quantize_stream`)
        // has blocks on a GPU of 132 SMs (H100, H200: about 1056 at k = 1024, 396 at 8192),
        // so that each block streams several rows.
        (1500, 1024, 128),
        (700, 8192, 128),
        // Past the CUDA kernel that keeps a row in registers (32768 codes), and past the
        // rows it stages in shared memory for a permutation (40960).
        (1, 40960, 128),
        (1, 49152, 256),
    ] {
        let mut x = activations(&mut rng, m, k);
        x[..k].fill(0.0); // a row of zeros
        let p = permutation(&mut rng, k);
        let s = scales(&mut rng, k / group);
        let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
        let pt = Tensor::from_slice(ctx, &p, &[k]).unwrap();
        let st = Tensor::from_slice(ctx, &s, &[k / group]).unwrap();
        let variants = [
            (None, None),
            (Some(&pt), None),
            (None, Some((&st, group))),
            (Some(&pt), Some((&st, group))),
        ];
        for (perm, sc) in variants {
            let smooth = Smooth {
                perm,
                multipliers: sc,
            };
            let q = quantize::quantize_async(ctx, &xt, smooth).await.unwrap();
            let packed: Vec<u32> = q.packed.to_vec_async(ctx).await.unwrap();
            let row_scales: Vec<f32> = q.scales.to_vec_async(ctx).await.unwrap();
            let (rp, rs) = quantize::reference(
                &x,
                k,
                perm.map(|_| p.as_slice()),
                sc.map(|_| (s.as_slice(), group)),
            )
            .unwrap();
            let what = format!(
                "m={m} k={k} perm={} smooth={} subgroups={:?}",
                perm.is_some(),
                sc.is_some(),
                ctx.subgroup_sizes()
            );
            assert_eq!(packed, rp, "{what}");
            assert_eq!(row_scales, rs, "{what}");
            assert_eq!(row_scales[0], 0.0, "zero row");
            assert!(packed[..k / 8].iter().all(|&w| w == 0), "zero row codes");
        }
    }
}

/// The permutation and multipliers the reference applies.
type Applied<'a> = (Option<&'a [u32]>, Option<(&'a [f32], usize)>);

/// `q`'s codes and row scales equal the reference's of `x` (f32 rows of q's k), bit for bit.
async fn assert_matches(
    ctx: &Context,
    q: &Quantized,
    x: &[f32],
    (perm, mult): Applied<'_>,
    what: &str,
) {
    let (rp, rs) = quantize::reference(x, q.k, perm, mult).unwrap();
    let packed = q.packed.to_vec_async::<u32>(ctx).await.unwrap();
    assert_eq!(packed, rp, "codes, {what}");
    let scales = q.scales.to_vec_async::<f32>(ctx).await.unwrap();
    assert_eq!(scales, rs, "row scales, {what}");
}

/// f16 rows give the codes and row scales of their exact f32 widening, bit for bit, with and
/// without the gather and the multipliers; on CUDA through the f16 kernels (rows kept in
/// registers, staged for the gather, streamed by persistent blocks at m = 700, and past
/// them at k = 40960), on wgpu widened first.
pub async fn f16_rows_match_reference() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(15);
    for (m, k, group) in [
        (3, 64, 32),
        (5, 4096, 128),
        (700, 8192, 128),
        (2, 32768, 128),
        (1, 40960, 128),
    ] {
        let mut x = activations(&mut rng, m, k);
        x[..k].fill(0.0); // a row of zeros
        let (h, wide) = to_f16(&x);
        let p = permutation(&mut rng, k);
        let s = scales(&mut rng, k / group);
        let xt = Tensor::from_slice(ctx, &h, &[m, k]).unwrap();
        let pt = Tensor::from_slice(ctx, &p, &[k]).unwrap();
        let st = Tensor::from_slice(ctx, &s, &[k / group]).unwrap();
        for (perm, mult) in [(false, false), (true, false), (false, true), (true, true)] {
            let smooth = Smooth {
                perm: perm.then_some(&pt),
                multipliers: mult.then_some((&st, group)),
            };
            let q = quantize::quantize_async(ctx, &xt, smooth).await.unwrap();
            let reference = (
                perm.then_some(p.as_slice()),
                mult.then_some((s.as_slice(), group)),
            );
            let what = format!("f16 m={m} k={k} perm={perm} smooth={mult}");
            assert_matches(ctx, &q, &wide, reference, &what).await;
        }
    }
}

/// The quantize of rotated rows (`quantize_rotated`: on CUDA one kernel for k = 2^12 … 2^14,
/// elsewhere the FWHT written first) is bit-exact with the reference of the rotation followed
/// by the quantize, plain and smoothed (permuted, group multipliers); f16 rows are rotated
/// into f16 (one rounding) first, fused or not.
pub async fn rotated_matches_reference() {
    for ctx in &contexts().await {
        let mut rng = Rng::new(6);
        for (m, k, group, f16) in [
            (3, 768, 64, false),
            (5, 4096, 128, false),
            (2, 8192, 128, false),
            (3, 768, 64, true),
            (5, 4096, 128, true),
            (2, 8192, 128, true),
        ] {
            let mut x = activations(&mut rng, m, k);
            x[(m - 1) * k..].fill(0.0); // a row of zeros
            let (h, _) = to_f16(&x);
            let (xt, rotated) = if f16 {
                let r = rrs::hadamard::reference_f16(&h, k).unwrap();
                let r = r.iter().map(|v| v.to_f32()).collect();
                (Tensor::from_slice(ctx, &h, &[m, k]).unwrap(), r)
            } else {
                let r = rrs::hadamard::reference(&x, k).unwrap();
                (Tensor::from_slice(ctx, &x, &[m, k]).unwrap(), r)
            };
            let p = permutation(&mut rng, k);
            let s = scales(&mut rng, k / group);
            let pt = Tensor::from_slice(ctx, &p, &[k]).unwrap();
            let st = Tensor::from_slice(ctx, &s, &[k / group]).unwrap();
            for smoothed in [false, true] {
                let smooth = Smooth {
                    perm: smoothed.then_some(&pt),
                    multipliers: smoothed.then_some((&st, group)),
                };
                let q = quantize::quantize_rotated_async(ctx, &xt, smooth)
                    .await
                    .unwrap();
                let reference = (
                    smoothed.then_some(p.as_slice()),
                    smoothed.then_some((s.as_slice(), group)),
                );
                let what = format!("m={m} k={k} f16={f16} smoothed={smoothed}");
                assert_matches(ctx, &q, &rotated, reference, &what).await;
            }
        }
    }
}

/// Both per-row divisions (7 / amax for the codes, amax / 7 for the row scale) are IEEE
/// correctly rounded on the GPU (`shaders/div_rn.wgsl`): 16384 rows whose maxima span the
/// whole range the kernel divides (2^-123 … f32::MAX), with random significands, plus
/// exact quotients, the range's ends and the largest maximum that still quantizes to zeros.
pub async fn row_scales_are_correctly_rounded() {
    let mut rng = Rng::new(21);
    let (m, k) = (16384, 8);
    let mut maxima: Vec<f32> = (0..m)
        .map(|i| {
            let e = (i % 251) as i32 - 123; // 2^-123 … 2^127
            let bits = (((e + 127) as u32) << 23) | (rng.below(1 << 23) as u32);
            f32::from_bits(bits)
        })
        .collect();
    let edges = [
        quantize::MIN_AMAX,
        f32::MAX,
        7.0,
        3.5,
        14.0 * 2f32.powi(100),
        7.0 * 2f32.powi(-120),
        f32::from_bits(quantize::MIN_AMAX.to_bits() - 1),
        1.0,
        f32::from_bits(0x3fff_ffff),
    ];
    maxima[..edges.len()].copy_from_slice(&edges);
    let x: Vec<f32> = maxima
        .iter()
        .enumerate()
        .flat_map(|(i, &a)| {
            let lane = i % 8;
            let sign = if i % 3 == 0 { -1.0 } else { 1.0 };
            (0..8).map(move |j| {
                if j == lane {
                    sign * a
                } else {
                    a * (j as f32 / 16.0)
                }
            })
        })
        .collect();
    let (rp, rs) = quantize::reference(&x, k, None, None).unwrap();
    assert!(rs[..edges.len() - 3].iter().all(|&s| s > 0.0) && rs[edges.len() - 3] == 0.0);
    for ctx in &contexts().await {
        let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
        let q = quantize::quantize_async(ctx, &xt, Smooth::default())
            .await
            .unwrap();
        let packed: Vec<u32> = q.packed.to_vec_async(ctx).await.unwrap();
        let row_scales: Vec<f32> = q.scales.to_vec_async(ctx).await.unwrap();
        let bad = (0..m).find(|&i| row_scales[i] != rs[i] || packed[i] != rp[i]);
        assert!(
            bad.is_none(),
            "row {:?}: amax {:e}, scale {:e} (want {:e}), codes {:08x} (want {:08x}), \
             subgroups={:?}",
            bad,
            maxima[bad.unwrap()],
            row_scales[bad.unwrap()],
            rs[bad.unwrap()],
            packed[bad.unwrap()],
            rp[bad.unwrap()],
            ctx.subgroup_sizes()
        );
    }
}

/// Op outputs reuse freed buffers (`rrs::pool`): a dropped output's buffer serves the next
/// output of its size, stale contents and all, and the codes stay bit-exact; with
/// `output_pool_bytes: Some(0)` no buffer is kept, and `trim_pool` frees them.
pub async fn outputs_reuse_freed_buffers() {
    if ctx().await.backend() != rrs::Backend::Wgpu {
        eprintln!("buffer reuse not tested: the CUDA backend does not pool outputs");
        return;
    }
    // Contexts of their own: other tests share the test context's pool.
    let pooled = |bytes| {
        Context::with_options_async(rrs::ContextOptions {
            output_pool_bytes: bytes,
            ..Default::default()
        })
    };
    let ctx = &pooled(None).await.unwrap();
    let mut rng = Rng::new(31);
    let (m, k, group) = (37, 1024, 128);
    let p = permutation(&mut rng, k);
    let s = scales(&mut rng, k / group);
    let pt = Tensor::from_slice(ctx, &p, &[k]).unwrap();
    let st = Tensor::from_slice(ctx, &s, &[k / group]).unwrap();
    let smooth = Smooth {
        perm: Some(&pt),
        multipliers: Some((&st, group)),
    };
    let output_bytes = (m * k / 2 + m * 4) as u64;
    for round in 0..3 {
        let x = activations(&mut rng, m, k);
        let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
        let before = ctx.pooled_bytes();
        let q = quantize::quantize_async(ctx, &xt, smooth).await.unwrap();
        if round > 0 {
            assert!(
                ctx.pooled_bytes() + output_bytes <= before,
                "round {round}: the outputs did not reuse the freed buffers"
            );
        }
        let packed: Vec<u32> = q.packed.to_vec_async(ctx).await.unwrap();
        let row_scales: Vec<f32> = q.scales.to_vec_async(ctx).await.unwrap();
        let (rp, rs) = quantize::reference(&x, k, Some(&p), Some((&s, group))).unwrap();
        assert_eq!(packed, rp, "round {round}");
        assert_eq!(row_scales, rs, "round {round}");
        drop(q);
        assert!(ctx.pooled_bytes() >= output_bytes, "round {round}");
    }
    ctx.trim_pool();
    assert_eq!(ctx.pooled_bytes(), 0);
    let off = &pooled(Some(0)).await.unwrap();
    let xt = Tensor::from_slice(off, &activations(&mut rng, m, k), &[m, k]).unwrap();
    drop(
        quantize::quantize_async(off, &xt, Smooth::default())
            .await
            .unwrap(),
    );
    assert_eq!(off.pooled_bytes(), 0);
}

/// An op output dropped while a recording is open waits for its submission before another
/// op may take its buffer (`rrs::pool`): the context is shared between threads, and a
/// buffer taken and written by another thread's op before this recording is submitted
/// would be overwritten by it. Dropped with no recording open, it is free at once.
pub async fn buffers_dropped_while_recording_wait_for_its_submission() {
    if ctx().await.backend() != rrs::Backend::Wgpu {
        eprintln!("buffer reuse not tested: the CUDA backend does not pool outputs");
        return;
    }
    // A context of its own: other tests share the test context's pool.
    let ctx = &another_ctx().await;
    let (m, k) = (16, 256);
    let output_bytes = (m * k / 2 + m * 4) as u64;
    let mut rng = Rng::new(32);
    let xt = Tensor::from_slice(ctx, &activations(&mut rng, m, k), &[m, k]).unwrap();
    let st = rrs::tensor::status::new(ctx).unwrap();
    let before = ctx.pooled_bytes();
    ctx.record(|enc| {
        let q = quantize::encode(ctx, enc, &xt, Smooth::default(), &st)?;
        drop(q);
        assert_eq!(ctx.pooled_bytes(), before, "free before the submission");
        Ok(())
    })
    .unwrap();
    assert!(
        ctx.pooled_bytes() >= before + output_bytes,
        "not free after the submission"
    );
    let q = quantize::quantize_async(ctx, &xt, Smooth::default())
        .await
        .unwrap();
    let held = ctx.pooled_bytes();
    drop(q);
    assert!(
        ctx.pooled_bytes() >= held + output_bytes,
        "dropped outside a recording"
    );
}

pub async fn layout_lower_index_in_lower_nibble() {
    let ctx = &ctx().await;
    let x = [1.0f32, -1.0, 7.0, -7.0, 0.0, 0.0, 0.0, 0.0];
    let xt = Tensor::from_slice(ctx, &x, &[1, 8]).unwrap();
    let q = quantize::quantize_async(ctx, &xt, Smooth::default())
        .await
        .unwrap();
    assert_eq!(
        q.packed.to_vec_async::<u32>(ctx).await.unwrap(),
        vec![0x0000_97F1]
    );
    assert_eq!(q.scales.to_vec_async::<f32>(ctx).await.unwrap(), vec![1.0]);
    assert_eq!(quantize::unpack(&[0x0000_97F1])[..4], [1, -1, 7, -7]);
}

pub async fn k_must_be_a_multiple_of_8() {
    let ctx = &ctx().await;
    let xt = Tensor::from_slice(ctx, &[1.0f32; 12], &[1, 12]).unwrap();
    let err = quantize::quantize_async(ctx, &xt, Smooth::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("k = 12"), "{err}");
}

/// Every row-stage variant that fits the adapter gives the reference's codes bit for bit,
/// with and without a gather, for rows staged whole (k up to the stage) and read from
/// device memory (k past it).
pub async fn every_stage_matches_reference() {
    for ctx in &contexts().await {
        every_stage_on(ctx).await;
    }
}

async fn every_stage_on(ctx: &rrs::Context) {
    let mut rng = Rng::new(13);
    let limits = ctx.limits();
    for (m, k) in [(3, 1024), (5, 4096), (2, 8192), (7, 2048)] {
        let x = activations(&mut rng, m, k);
        let p = permutation(&mut rng, k);
        let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
        let pt = Tensor::from_slice(ctx, &p, &[k]).unwrap();
        let status = rrs::tensor::status::new(ctx).unwrap();
        for gather in [true, false] {
            let (want, _) = quantize::reference(&x, k, gather.then_some(&p), None).unwrap();
            let smooth = Smooth {
                perm: gather.then_some(&pt),
                multipliers: None,
            };
            if ctx.backend() == rrs::Backend::Cuda {
                // One kernel on CUDA: the stages are WGSL's workgroup-memory variants.
                let q = quantize::quantize_async(ctx, &xt, smooth).await.unwrap();
                let got = q.packed.to_vec_async::<u32>(ctx).await.unwrap();
                assert_eq!(got, want, "m={m} k={k} gather={gather}");
                continue;
            }
            for stage in quantize::STAGES {
                if !quantize::stage_fits(limits, stage) {
                    continue;
                }
                let q = ctx
                    .record(|enc| {
                        quantize::encode_with_stage(ctx, enc, &xt, smooth, &status, Some(stage))
                    })
                    .unwrap();
                assert_eq!(
                    q.packed.to_vec_async::<u32>(ctx).await.unwrap(),
                    want,
                    "m={m} k={k} gather={gather} stage={stage} subgroups={:?}",
                    ctx.subgroup_sizes()
                );
            }
        }
    }
}

/// A "permutation" with entries past k gives unspecified codes but never a read outside the
/// input (naga clamps the WGSL kernels' indices; the CUDA kernels clamp the entries to the
/// row, where an out-of-bounds read would end the context): the calls return, and the next
/// call on the same context is still right. Covers CUDA's streamed, register and any-k
/// kernels and its group scales (`channel_max` with a fixed order).
pub async fn entries_past_k_stay_inside_the_input() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(21);
    for (m, k) in [(3, 1024), (700, 8192), (2, 16384), (1, 40960)] {
        let x = activations(&mut rng, m, k);
        let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
        let bad: Vec<u32> = (0..k as u32).map(|q| u32::MAX - q).collect();
        let bt = Tensor::from_slice(ctx, &bad, &[k]).unwrap();
        let smooth = Smooth {
            perm: Some(&bt),
            multipliers: None,
        };
        quantize::quantize_async(ctx, &xt, smooth).await.unwrap();
        channel_max::channel_max_async(ctx, &xt, 128, Order::Fixed(&bt))
            .await
            .unwrap();
        let q = quantize::quantize_async(ctx, &xt, Smooth::default())
            .await
            .unwrap();
        let what = format!("m={m} k={k}, after entries past k");
        assert_matches(ctx, &q, &x, (None, None), &what).await;
    }
}
