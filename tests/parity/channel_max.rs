use rrs::channel_max::{self, Order, MIN_SCALE};
use rrs::workload::Rng;
use rrs::{Error, Tensor};

use crate::common::{activations, ctx, permutation, to_f16};

async fn run(
    x: &[f32],
    m: usize,
    k: usize,
    group: usize,
    order: Order<'_>,
) -> (Vec<f32>, Vec<u32>, Vec<f32>) {
    let ctx = &ctx().await;
    let xt = Tensor::from_slice(ctx, x, &[m, k]).unwrap();
    let s = channel_max::channel_max_async(ctx, &xt, group, order)
        .await
        .unwrap();
    (
        s.absmax.to_vec_async(ctx).await.unwrap(),
        s.perm.to_vec_async(ctx).await.unwrap(),
        s.scales.to_vec_async(ctx).await.unwrap(),
    )
}

/// Maxima, permutation and group scales are all bit-exact: a max is order independent
/// and the sort is a deterministic stable sort on the same keys.
pub async fn sorted_matches_reference_bit_exactly() {
    let mut rng = Rng::new(3);
    for (m, k, group) in [
        (1, 8, 8),
        (1, 128, 128),
        (3, 256, 128),
        (65, 512, 64),
        (130, 384, 128),
        (200, 1024, 128),
        (2, 4096, 256),
        (17, 768, 32),
        // The largest k the CUDA one-block sort takes, and past it.
        (2, 8192, 128),
        (1, 12288, 128),
    ] {
        let mut x = activations(&mut rng, m, k);
        // A channel of zeros, and two channels with equal maxima (a tie).
        for row in x.chunks_mut(k) {
            row[k / 2] = 0.0;
            row[1] = 2.5;
            row[k - 1] = -2.5;
        }
        let (absmax, perm, scales) = run(&x, m, k, group, Order::Sorted).await;
        let (ra, rp, rs) = channel_max::reference(&x, k, group, true, None).unwrap();
        assert_eq!(absmax, ra, "absmax m={m} k={k}");
        assert_eq!(perm, rp, "perm m={m} k={k}");
        assert_eq!(scales, rs, "scales m={m} k={k} group={group}");
        assert!(scales.iter().all(|&s| s >= MIN_SCALE));
        assert!(absmax[perm[0] as usize] >= absmax[perm[k - 1] as usize]);
    }
    // Many ties across the rank kernel's tiles: maxima from a handful of values.
    for (m, k, group) in [(3, 2048, 128), (1, 4096, 64)] {
        let x: Vec<f32> = (0..m * k)
            .map(|_| (rng.uniform() * 5.0).floor() - 2.0)
            .collect();
        let (absmax, perm, scales) = run(&x, m, k, group, Order::Sorted).await;
        let (ra, rp, rs) = channel_max::reference(&x, k, group, true, None).unwrap();
        assert_eq!(absmax, ra, "absmax (ties) m={m} k={k}");
        assert_eq!(perm, rp, "perm (ties) m={m} k={k}");
        assert_eq!(scales, rs, "scales (ties) m={m} k={k}");
    }
}

/// Thousands of reciprocals over the whole range of scales (the exact division in WGSL).
pub async fn reciprocals_are_correctly_rounded() {
    let mut rng = Rng::new(9);
    let (m, k) = (1, 32768);
    let x: Vec<f32> = (0..m * k)
        .map(|i| {
            let e = (i % 100) as i32 - 40;
            (1.0 + rng.uniform()) * 2f32.powi(e)
        })
        .collect();
    let (_, _, scales) = run(&x, m, k, 8, Order::Sorted).await;
    assert!(scales.contains(&MIN_SCALE) && scales.iter().any(|&s| s > 1e10));
}

pub async fn fixed_and_identity_orders_match_reference() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(4);
    let (m, k, group) = (9, 512, 128);
    let x = activations(&mut rng, m, k);
    let p = permutation(&mut rng, k);
    let pt = Tensor::from_slice(ctx, &p, &[k]).unwrap();
    let (_, perm, scales) = run(&x, m, k, group, Order::Fixed(&pt)).await;
    let (_, rp, rs) = channel_max::reference(&x, k, group, false, Some(&p)).unwrap();
    assert_eq!((perm, scales), (rp, rs));
    let (_, perm, scales) = run(&x, m, k, group, Order::Identity).await;
    let (_, rp, rs) = channel_max::reference(&x, k, group, false, None).unwrap();
    assert_eq!((perm, scales), (rp, rs));
    // One scale per channel, more groups than one grid dimension holds (65535).
    let (m, k, group) = (2, 70_000, 1);
    let x = activations(&mut rng, m, k);
    let (_, _, scales) = run(&x, m, k, group, Order::Identity).await;
    let (_, _, rs) = channel_max::reference(&x, k, group, false, None).unwrap();
    assert_eq!(scales, rs);
}

pub async fn zero_input_gives_clamped_scales() {
    let (_, _, scales) = run(&vec![0.0; 4 * 256], 4, 256, 128, Order::Sorted).await;
    assert_eq!(scales, vec![MIN_SCALE; 2]);
}

pub async fn non_finite_inputs_are_errors() {
    let ctx = &ctx().await;
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = vec![1.0f32; 4 * 128];
        x[200] = bad;
        let xt = Tensor::from_slice(ctx, &x, &[4, 128]).unwrap();
        let r = channel_max::channel_max_async(ctx, &xt, 128, Order::Sorted).await;
        assert!(matches!(r, Err(Error::NonFinite(_))), "{bad}: {r:?}");
    }
}

pub async fn group_must_divide_k() {
    let ctx = &ctx().await;
    let xt = Tensor::from_slice(ctx, &vec![1.0f32; 2 * 200], &[2, 200]).unwrap();
    let err = channel_max::channel_max_async(ctx, &xt, 128, Order::Sorted)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("group size 128 must divide k = 200"),
        "{err}"
    );
}

/// f16 rows give the statistics of their exact f32 widening, bit for bit (CUDA reads two
/// channels a word, `absmax_h`; wgpu widens first), in every order; an odd k is a clear error.
pub async fn f16_rows_match_reference() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(21);
    for (m, k, group) in [(1, 8, 8), (65, 512, 64), (130, 4096, 128), (3, 12288, 128)] {
        let mut x = activations(&mut rng, m, k);
        for row in x.chunks_mut(k) {
            row[k / 2] = 0.0; // a channel of zeros
            row[1] = 2.5; // and a tie
            row[k - 1] = -2.5;
        }
        let (h, wide) = to_f16(&x);
        let xt = Tensor::from_slice(ctx, &h, &[m, k]).unwrap();
        let p = permutation(&mut rng, k);
        let pt = Tensor::from_slice(ctx, &p, &[k]).unwrap();
        for (order, sort, fixed) in [
            (Order::Sorted, true, None),
            (Order::Identity, false, None),
            (Order::Fixed(&pt), false, Some(p.as_slice())),
        ] {
            let s = channel_max::channel_max_async(ctx, &xt, group, order)
                .await
                .unwrap();
            let (ra, rp, rs) = channel_max::reference(&wide, k, group, sort, fixed).unwrap();
            let what = format!("f16 m={m} k={k} {order:?}");
            assert_eq!(
                s.absmax.to_vec_async::<f32>(ctx).await.unwrap(),
                ra,
                "{what}"
            );
            assert_eq!(s.perm.to_vec_async::<u32>(ctx).await.unwrap(), rp, "{what}");
            assert_eq!(
                s.scales.to_vec_async::<f32>(ctx).await.unwrap(),
                rs,
                "{what}"
            );
        }
    }
    let odd = Tensor::from_slice(ctx, &[half::f16::ONE; 2 * 9], &[2, 9]).unwrap();
    let err = channel_max::channel_max_async(ctx, &odd, 3, Order::Sorted)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("even k"), "{err}");
}
