use rrs::channel_max::{self, Order, Statistic, MIN_SCALE};
use rrs::workload::Rng;
use rrs::{Error, Tensor};

use crate::common::{activations, bits, ctx, permutation, to_f16};

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

/// The row-normalized statistic (`Statistic::RowNormalized`), bit-exact on f32 and f16 rows,
/// in every order: f32 rows of sizes from 2^-140 (subnormals) to 2^120, a row of zeros,
/// elements more than 2^126 below their row's maximum (which count as 0), a massive row;
/// f16 rows with subnormals, zeros and a massive row. The normalized maxima stay below 2
/// where a massive row sets the plain ones, and NaN is still an error.
pub async fn row_normalized_matches_reference() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(21);
    let (m, k, group) = (40, 512, 64);
    let base = activations(&mut rng, m, k);
    let scaled = |exp: &dyn Fn(usize) -> i32| -> Vec<f32> {
        let mut x = base.clone();
        for (i, row) in x.chunks_mut(k).enumerate() {
            let f = 2f64.powi(exp(i));
            row.iter_mut().for_each(|v| *v = (*v as f64 * f) as f32);
        }
        x[5 * k..6 * k].iter_mut().for_each(|v| *v = 0.0);
        x
    };
    let mut x32 = scaled(&|i| match i {
        1..=4 => -150 + 8 * i as i32, // subnormal and tiny rows
        7 => 10,                      // massive
        _ => (i as i32 * 37) % 240 - 120,
    });
    x32[6 * k] = 3e38; // the rest of row 6 falls more than 2^126 below it
                       // f16: rows from 2^-21 (subnormal halves) to 2^-4, one massive (2^0).
    let x16 = scaled(&|i| if i == 7 { 0 } else { (i as i32 * 7) % 18 - 21 });
    let (halves, widened) = to_f16(&x16);
    let p = permutation(&mut rng, k);
    let pt = Tensor::from_slice(ctx, &p, &[k]).unwrap();
    let xt = Tensor::from_slice(ctx, &x32, &[m, k]).unwrap();
    let ht = Tensor::from_slice(ctx, &halves, &[m, k]).unwrap();
    let stat = Statistic::RowNormalized;
    for (t, xs, what) in [(&xt, &x32, "f32"), (&ht, &widened, "f16")] {
        for (order, sort, fixed) in [
            (Order::Sorted, true, None),
            (Order::Identity, false, None),
            (Order::Fixed(&pt), false, Some(&p[..])),
        ] {
            let s = channel_max::channel_max_with_async(ctx, t, group, order, stat)
                .await
                .unwrap();
            let (ra, rp, rs) =
                channel_max::reference_with(xs, k, group, sort, fixed, stat).unwrap();
            let absmax: Vec<f32> = s.absmax.to_vec_async(ctx).await.unwrap();
            assert_eq!(
                bits(&absmax, f32::to_bits),
                bits(&ra, f32::to_bits),
                "{what} {order:?} maxima"
            );
            let perm: Vec<u32> = s.perm.to_vec_async(ctx).await.unwrap();
            let scales: Vec<f32> = s.scales.to_vec_async(ctx).await.unwrap();
            assert_eq!((perm, scales), (rp, rs), "{what} {order:?}");
            assert!(
                ra.iter().all(|v| *v < 2.0),
                "{what}: normalized maxima below 2"
            );
        }
    }
    // Of the f16 rows, the plain maxima follow the massive row 7 (16× the largest other).
    let plain = channel_max::absmax_reference(&widened, k);
    let massive = &widened[7 * k..8 * k];
    let set_by_it = plain
        .iter()
        .zip(massive)
        .filter(|(p, v)| **p == v.abs())
        .count();
    assert!(
        set_by_it > k / 2,
        "{set_by_it} of {k} maxima from the massive row"
    );
    let mut bad = x32.clone();
    bad[9 * k + 3] = f32::NAN;
    let bt = Tensor::from_slice(ctx, &bad, &[m, k]).unwrap();
    let r = channel_max::channel_max_with_async(ctx, &bt, group, Order::Sorted, stat).await;
    assert!(matches!(r, Err(Error::NonFinite(_))), "{r:?}");
}
