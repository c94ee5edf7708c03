use rrs::hadamard::{self, dense, small_hadamard};
use rrs::half::f16;
use rrs::workload::Rng;
use rrs::{Error, Tensor};

use crate::common::{another_ctx, bits, ctx, F16_BITS, F32_BITS};

fn is_hadamard(h: &[Vec<i8>]) -> bool {
    let n = h.len();
    (0..n).all(|i| {
        (0..n).all(|j| {
            let dot: i32 = (0..n).map(|t| h[i][t] as i32 * h[j][t] as i32).sum();
            dot == if i == j { n as i32 } else { 0 }
        })
    })
}

pub async fn small_matrices_are_symmetric_hadamard() {
    for m in hadamard::FACTORS {
        let h = small_hadamard(m);
        assert!(
            h.iter().flatten().all(|&v| v == 1 || v == -1),
            "H_{m} not ±1"
        );
        assert!(is_hadamard(&h), "H_{m} · H_{m}ᵀ != {m}·I");
        assert!(
            (0..m).all(|i| (0..m).all(|j| h[i][j] == h[j][i])),
            "H_{m} not symmetric"
        );
    }
}

pub async fn dense_matrices_are_hadamard() {
    for k in [1, 2, 4, 8, 16, 12, 24, 48, 20, 40, 28, 56, 36, 72, 64, 96] {
        assert!(is_hadamard(&dense(k).unwrap()), "H_{k} · H_{k}ᵀ != {k}·I");
    }
}

pub async fn reference_matches_dense_matmul() {
    let mut rng = Rng::new(1);
    for k in [1, 2, 8, 12, 20, 28, 64, 96, 160, 224, 256, 384] {
        let x = rng.normals(3 * k, 1.0);
        let h = dense(k).unwrap();
        let y = hadamard::reference(&x, k).unwrap();
        for (row, yr) in x.chunks(k).zip(y.chunks(k)) {
            for (i, yi) in yr.iter().enumerate() {
                let want: f64 =
                    (0..k).map(|j| h[i][j] as f64 * row[j] as f64).sum::<f64>() / (k as f64).sqrt();
                // f32 butterflies vs an f64 dense sum: (log2 k + 28) ε ‖x_row‖₂ bounds it.
                let norm = row.iter().map(|v| (v * v) as f64).sum::<f64>().sqrt();
                let tol = 40.0 * f32::EPSILON as f64 * norm;
                assert!((*yi as f64 - want).abs() <= tol, "k = {k}, i = {i}");
            }
        }
    }
}

/// Every FWHT tile that fits the adapter gives the reference's result bit for bit (the
/// passes run its stages in its order, whatever the split), including sizes whose
/// power-of-two part spans several tiles next to an odd factor.
pub async fn every_tile_agrees() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(12);
    for (m, k) in [
        (3, 64),
        (7, 16),
        (9, 512),
        (5, 4096),
        (2, 8192),
        (2, 28 * 256),
        (2, 36 * 128),
        (1, 16384),
        (1, 12 * 4096),
        (1, 36 * 2048),
    ] {
        let x = rng.normals(m * k, 1.0);
        let want = hadamard::reference(&x, k).unwrap();
        for tile in hadamard::TILES
            .into_iter()
            .filter(|&t| hadamard::tile_fits(ctx.limits(), t))
        {
            let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
            hadamard::hadamard_inplace_with_tile(ctx, &xt, tile).unwrap();
            let got = xt.to_vec_async::<f32>(ctx).await.unwrap();
            assert_eq!(got, want, "m={m} k={k} tile={tile}");
        }
    }
}

/// Where the adapter has subgroups, rows whose power-of-two part is one of
/// `SUBGROUP_CHUNKS` take the subgroup first pass wherever it fits (so the reference checks
/// above test it: lavapipe's 8 lanes, the H200's 32), and agree bit for bit with the exchange
/// kernel of a context that keeps off subgroups, which also says it does.
pub async fn subgroup_pass_is_used_and_agrees() {
    let ctx = &ctx().await;
    // Adapters known to have full subgroups must keep them (the probe at context creation
    // turns them off otherwise): lavapipe, which CI runs, and NVIDIA's Vulkan driver.
    let info = ctx.adapter_info();
    let known = ctx.backend() == rrs::Backend::Wgpu
        && cfg!(not(target_arch = "wasm32"))
        && (info.name.contains("llvmpipe") || info.vendor == 0x10de);
    assert!(
        !known || ctx.subgroup_sizes().is_some(),
        "{} lost its subgroups",
        ctx.describe()
    );
    let Some(sizes) = ctx.subgroup_sizes() else {
        eprintln!(
            "subgroup FWHT not tested: {} has no subgroups for rrs (WGSL in browsers, CUDA, or \
             an adapter without Features::SUBGROUP)",
            ctx.describe()
        );
        return;
    };
    let fitting: Vec<usize> = hadamard::SUBGROUP_CHUNKS
        .into_iter()
        .filter(|&c| hadamard::subgroup_fits(ctx.limits(), sizes, c))
        .collect();
    assert!(
        !fitting.is_empty(),
        "no subgroup chunk fits {sizes:?} lanes and {:?}",
        ctx.limits()
    );
    let contexts = crate::common::contexts().await;
    let plain = &contexts[1];
    assert_eq!(plain.subgroup_sizes(), None);
    for k in [4096, 8192, 16384, 32768, 12 * 4096] {
        let want = fitting.contains(&hadamard::factor(k).unwrap().1);
        assert_eq!(hadamard::uses_subgroups(ctx, k), want, "k={k}");
        assert!(!hadamard::uses_subgroups(plain, k), "k={k}");
    }
    let mut rng = Rng::new(14);
    let mut wide_runs = 0;
    for p in hadamard::SUBGROUP_CHUNKS {
        let x = rng.normals(2 * p, 1.0);
        let want = hadamard::reference(&x, p).unwrap();
        if fitting.contains(&p) {
            for c in [ctx, plain] {
                let xt = Tensor::from_slice(c, &x, &[2, p]).unwrap();
                hadamard::hadamard_inplace(c, &xt).unwrap();
                let got = xt.to_vec_async::<f32>(c).await.unwrap();
                assert_eq!(got, want, "p={p} subgroups={:?}", c.subgroup_sizes());
            }
        }
        // Each kernel and layout that runs this size here: 16 elements an invocation with
        // either second round (quads where the lanes allow them; wherever the default of 16
        // fits, up to 8192), 32 in quads (k = 16384 on lavapipe's 8 lanes, 16384 and 32768 on 32).
        for (elements, quads) in [(16, false), (16, true), (32, true)] {
            let pass = hadamard::FirstPass::Subgroup { elements, quads };
            let xt = Tensor::from_slice(ctx, &x, &[2, p]).unwrap();
            match hadamard::hadamard_inplace_with(ctx, &xt, pass) {
                Ok(()) => {
                    let got = xt.to_vec_async::<f32>(ctx).await.unwrap();
                    assert_eq!(got, want, "p={p} {pass:?}");
                    wide_runs += usize::from(elements == 32);
                }
                Err(rrs::Error::Unsupported(msg)) => {
                    assert!(
                        !(elements == 16 && p <= 8192 && fitting.contains(&p)),
                        "p={p} {pass:?}: {msg}"
                    );
                }
                Err(e) => panic!("p={p} {pass:?}: {e}"),
            }
            let xp = Tensor::from_slice(plain, &x, &[2, p]).unwrap();
            let r = hadamard::hadamard_inplace_with(plain, &xp, pass);
            assert!(matches!(r, Err(rrs::Error::Unsupported(_))), "{r:?}");
        }
    }
    assert!(
        wide_runs > 0,
        "the pass of 32 elements an invocation ran at no size"
    );
}

/// m·2^n rows that fit workgroup memory take the one-pass kernel on wgpu
/// (`shaders/hadamard_mixed.wgsl`) and agree bit for bit with the reference and with the
/// chunk and cross passes (a tile asked for), in place and out of place: real models' sizes
/// (576 = 36·16, 896 = 28·32, 1536 = 12·128, 2304 = 36·64, 2560 = 20·128, 5120 = 20·256,
/// 7168 = 28·256, 10240 = 20·512) and one row past the largest kernel's (12·1024).
pub async fn one_pass_is_used_and_agrees() {
    let ctx = &ctx().await;
    let wgpu = ctx.backend() == rrs::Backend::Wgpu;
    let memory = ctx.limits().max_compute_workgroup_storage_size as usize;
    let mut rng = Rng::new(15);
    let mut one_pass = 0;
    for (m, k) in [
        (3, 36 * 16),
        (2, 28 * 32),
        (5, 12 * 128),
        (2, 36 * 64),
        (2, 20 * 128),
        (2, 20 * 256),
        (2, 28 * 256),
        (1, 20 * 512),
        (1, 12 * 1024),
    ] {
        let invocations = ctx.limits().max_compute_invocations_per_workgroup as usize;
        let fits = k <= hadamard::MIXED_MAX_K
            && (k + k / 16) * 4 <= memory
            && hadamard::mixed_workgroup_size(k) <= invocations;
        assert_eq!(hadamard::uses_one_pass(ctx, k), wgpu && fits, "k={k}");
        one_pass += usize::from(hadamard::uses_one_pass(ctx, k));
        let x = rng.normals(m * k, 1.0);
        let want = hadamard::reference(&x, k).unwrap();
        let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
        let y = hadamard::hadamard(ctx, &xt).unwrap();
        assert_eq!(
            y.to_vec_async::<f32>(ctx).await.unwrap(),
            want,
            "m={m} k={k}"
        );
        hadamard::hadamard_inplace(ctx, &xt).unwrap();
        assert_eq!(
            xt.to_vec_async::<f32>(ctx).await.unwrap(),
            want,
            "in place, k={k}"
        );
        if wgpu {
            let tile = hadamard::tile_for(ctx, k).unwrap();
            let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
            hadamard::hadamard_inplace_with_tile(ctx, &xt, tile).unwrap();
            assert_eq!(
                xt.to_vec_async::<f32>(ctx).await.unwrap(),
                want,
                "tile, k={k}"
            );
        }
    }
    assert!(
        !wgpu || one_pass > 0,
        "no size took the one-pass kernel on {}",
        ctx.describe()
    );
}

/// The GPU transform against the reference, then applied twice.
pub async fn gpu_matches_reference_and_is_an_involution() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(2);
    let cases = [
        (1, 1),
        (3, 2),
        (2, 4),
        (3, 8),
        (3, 16),
        (5, 32),
        (5, 64),
        (4, 256),
        (3, 2048),
        (2, 128),
        (33, 1024),
        (4, 4096),
        (3, 8192),
        (2, 16384),
        (1, 32768),
        (7, 12),
        (3, 12 * 8),
        (3, 12 * 16),
        (3, 12 * 64),
        (2, 20 * 128),
        (2, 28 * 128),
        (1, 28 * 4096),
        (3, 36),
        (3, 36 * 16),
        (2, 36 * 64),
        (1, 36 * 2048),
        (65, 20),
    ];
    for (m, k) in cases {
        let x = rng.normals(m * k, 1.0);
        let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
        let y = hadamard::hadamard(ctx, &xt).unwrap();
        let got = y.to_vec_async::<f32>(ctx).await.unwrap();
        // Every backend runs the reference's stages in its order: bit-identical.
        assert_eq!(got, hadamard::reference(&x, k).unwrap(), "m={m} k={k}");
        hadamard::hadamard_inplace(ctx, &y).unwrap();
        let back = y.to_vec_async::<f32>(ctx).await.unwrap();
        for (b, xv) in back.iter().zip(&x) {
            // Two transforms: twice the bound above, relative to the row norm (≤ 8·√k·max).
            assert!(
                (b - xv).abs() <= 1e-5 * (k as f32).sqrt() * 4.0,
                "m={m} k={k}"
            );
        }
    }
}

/// The dense H_a pass of a·2^n sizes keeps the reference's signed zeros: its sums start at
/// -0.0 (Rust's float `sum`), so a sum whose every product is -0.0 is -0.0. Row r of the
/// input holds -0.0 where H_a[r][b] = +1 and +0.0 where it is -1, so output r of that row is
/// such a sum; compared bit for bit, in f32 and f16 (a kernel that starts its sums at +0.0
/// writes +0.0 there).
pub async fn signed_zeros_survive_the_dense_pass() {
    let ctx = &ctx().await;
    for a in [12, 20, 28, 36] {
        // p = 16: the one-pass kernel where the adapter takes it (`one_pass_is_used_and_agrees`).
        for p in [1, 4, 16] {
            let k = a * p;
            let h = small_hadamard(a);
            let x: Vec<f32> = (0..a * k)
                .map(|e| if h[e / k][e % k / p] > 0 { -0.0 } else { 0.0 })
                .collect();
            let want = bits(&hadamard::reference(&x, k).unwrap(), F32_BITS);
            assert!(
                (0..a).all(|r| want[r * k + r * p] == (-0.0f32).to_bits()),
                "a={a}"
            );
            let xt = Tensor::from_slice(ctx, &x, &[a, k]).unwrap();
            let y = hadamard::hadamard(ctx, &xt).unwrap();
            let got = bits(&y.to_vec_async::<f32>(ctx).await.unwrap(), F32_BITS);
            assert!(got == want, "f32 a={a} p={p}");
            let xh: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
            let want = bits(&hadamard::reference_f16(&xh, k).unwrap(), F16_BITS);
            let xt = Tensor::from_slice(ctx, &xh, &[a, k]).unwrap();
            let y = hadamard::hadamard(ctx, &xt).unwrap();
            let got = bits(&y.to_vec_async::<f16>(ctx).await.unwrap(), F16_BITS);
            assert!(got == want, "f16 a={a} p={p}");
        }
    }
}

pub async fn unsupported_sizes_are_errors_that_list_the_families() {
    let ctx = &ctx().await;
    for k in [3, 44, 100, 65536, 12 * 8192, 36 * 4096] {
        let x = Tensor::from_slice(ctx, &vec![0f32; k], &[1, k]).unwrap();
        match hadamard::hadamard(ctx, &x) {
            Err(Error::Unsupported(msg)) => {
                assert!(msg.contains(&format!("k = {k}")), "{msg}");
                assert!(msg.contains("28·2^n"), "{msg}");
            }
            other => panic!("k = {k}: expected Unsupported, got {other:?}"),
        }
    }
}

/// f16 rows: bit-identical to the reference (f32 arithmetic, one rounding), in place and out
/// of place, for every family, on every backend (CUDA in its kernels, wgpu by widening and
/// narrowing). An odd number of f16 elements round-trips through a tensor; subnormal,
/// infinite and halfway values survive the conversions.
pub async fn f16_rows_match_reference_on_every_backend() {
    let ctx = &ctx().await;
    let odd: Vec<f16> = [1.5f32, -2.25, 65504.0].map(f16::from_f32).to_vec();
    let t = Tensor::from_slice(ctx, &odd, &[1, 3]).unwrap();
    assert_eq!(t.to_vec_async::<f16>(ctx).await.unwrap(), odd);
    // k = 1 is the identity: every f16 but NaN comes back bit for bit (subnormals included).
    let all: Vec<f16> = (0..=u16::MAX)
        .map(f16::from_bits)
        .filter(|v| !v.is_nan())
        .collect();
    let t = Tensor::from_slice(ctx, &all, &[all.len(), 1]).unwrap();
    hadamard::hadamard_inplace(ctx, &t).unwrap();
    let back = t.to_vec_async::<f16>(ctx).await.unwrap();
    for (a, b) in all.iter().zip(&back) {
        assert_eq!(a.to_bits(), b.to_bits(), "{a} came back as {b}");
    }
    let mut rng = Rng::new(12);
    for (m, k) in [
        (3, 1),
        (3, 64),
        (2, 4096),
        (2, 8192),
        (1, 16384),
        (1, 32768),
        (3, 12 * 64),
        (2, 36 * 16),
        (2, 28 * 128),
        (1, 12 * 4096),
    ] {
        let mut x: Vec<f16> = rng
            .normals(m * k, 1.0)
            .into_iter()
            .map(f16::from_f32)
            .collect();
        // Edge values: subnormals, the largest finite, halfway cases after the transform.
        let edges = [6.0e-8f32, -3.0e-5, 65504.0, -0.0, 1.0e-4];
        for (v, e) in x.iter_mut().zip(edges) {
            *v = f16::from_f32(e);
        }
        let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
        let want = hadamard::reference_f16(&x, k).unwrap();
        let y = hadamard::hadamard(ctx, &xt).unwrap();
        assert_eq!(y.dtype(), rrs::DType::F16);
        let got = y.to_vec_async::<f16>(ctx).await.unwrap();
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "m={m} k={k}"
        );
        hadamard::hadamard_inplace(ctx, &xt).unwrap();
        let got = xt.to_vec_async::<f16>(ctx).await.unwrap();
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "in place, m={m} k={k}"
        );
    }
}

/// `hadamard_into` writes a kept buffer (the same values as `hadamard`), works in place when
/// given one tensor twice, and refuses a source from another context and a destination of
/// another shape or dtype.
pub async fn into_a_kept_buffer_matches_and_checks_shapes() {
    let ctx = &ctx().await;
    let mut rng = Rng::new(13);
    for (m, k) in [(3, 64), (2, 12 * 64), (1, 8192)] {
        let x = rng.normals(m * k, 1.0);
        let xt = Tensor::from_slice(ctx, &x, &[m, k]).unwrap();
        let want = hadamard::hadamard(ctx, &xt).unwrap();
        let want = want.to_vec_async::<f32>(ctx).await.unwrap();
        let dst = Tensor::zeros(ctx, rrs::DType::F32, &[m, k]).unwrap();
        hadamard::hadamard_into(ctx, &xt, &dst).unwrap();
        assert_eq!(dst.to_vec_async::<f32>(ctx).await.unwrap(), want, "k={k}");
        assert_eq!(xt.to_vec_async::<f32>(ctx).await.unwrap(), x, "source kept");
        hadamard::hadamard_into(ctx, &xt, &xt).unwrap();
        assert_eq!(xt.to_vec_async::<f32>(ctx).await.unwrap(), want, "in place");
    }
    let xt = Tensor::from_slice(ctx, &[0f32; 128], &[2, 64]).unwrap();
    let other = another_ctx().await;
    let foreign = Tensor::from_slice(&other, &[0f32; 128], &[2, 64]).unwrap();
    let dst = Tensor::zeros(ctx, rrs::DType::F32, &[2, 64]).unwrap();
    match hadamard::hadamard_into(ctx, &foreign, &dst) {
        Err(Error::InvalidArgument(msg)) => assert!(msg.contains("another Context"), "{msg}"),
        other => panic!("a source from another context: expected an error, got {other:?}"),
    }
    for (dtype, shape) in [(rrs::DType::F32, [1, 128]), (rrs::DType::U32, [2, 64])] {
        let dst = Tensor::zeros(ctx, dtype, &shape).unwrap();
        match hadamard::hadamard_into(ctx, &xt, &dst) {
            Err(Error::Shape(_)) => {}
            other => panic!("{dtype:?} {shape:?}: expected a Shape error, got {other:?}"),
        }
    }
}
