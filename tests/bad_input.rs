//! Bad input: every case is an `Err` whose message names the problem, never a panic, a
//! hang or a wrong answer; and odd-but-legal input (zero tokens, zero channels, extreme
//! ranges, small workgroup memory) gives the right answer.

use std::sync::OnceLock;

use rrs::channel_max::{self, Order};
use rrs::gemm::{self, GemmOptions};
use rrs::pack_weights::{self, WeightPrep};
use rrs::quantize::{self, Smooth};
use rrs::workload::{rel_error, Rng};
use rrs::{
    hadamard, Config, Context, ContextOptions, DType, Error, LinearReference, Method, Reorder,
    RrsLinear, Tensor,
};

fn ctx() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(|| Context::new().expect("a GPU adapter"))
}

/// Assert `r` is an error of the given kind whose message contains every `needle`.
#[track_caller]
fn expect_err<T: std::fmt::Debug>(r: rrs::Result<T>, kind: fn(&Error) -> bool, needles: &[&str]) {
    let e = r.expect_err("expected an error");
    assert!(kind(&e), "wrong kind of error: {e:?}");
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} does not name {n:?}");
    }
}

fn weights(n: usize, k: usize) -> Vec<f32> {
    Rng::new(1).normals(n * k, 1.0 / (k as f32).sqrt())
}

fn layer(method: Method, n: usize, k: usize) -> RrsLinear {
    RrsLinear::new(ctx(), &weights(n, k), n, k, Config::new(method)).unwrap()
}

#[test]
fn x_and_w_shapes_that_do_not_match() {
    let l = layer(Method::Rrs, 16, 256);
    expect_err(
        l.run(&[1.0; 100]),
        |e| matches!(e, Error::Shape(_)),
        &["100", "k = 256"],
    );
    let x = Tensor::from_slice(ctx(), &[1.0f32; 2 * 128], &[2, 128]).unwrap();
    expect_err(
        l.forward(&x),
        |e| matches!(e, Error::Shape(_)),
        &["[2, 128]", "k = 256"],
    );
}

#[test]
fn weights_that_are_not_n_by_k() {
    let r = RrsLinear::new(ctx(), &[0.0; 100], 16, 128, Config::new(Method::Rtn));
    expect_err(
        r,
        |e| matches!(e, Error::Shape(_)),
        &["100 elements", "n = 16, k = 128"],
    );
    let r = RrsLinear::new(ctx(), &[], 0, 128, Config::new(Method::Rtn));
    expect_err(r, |e| matches!(e, Error::Shape(_)), &["n = 0"]);
}

#[test]
fn no_tokens() {
    let l = layer(Method::Rrs, 16, 256);
    expect_err(
        l.run::<f32>(&[]),
        |e| matches!(e, Error::Shape(_)),
        &["m = 0"],
    );
    let x = Tensor::zeros(ctx(), DType::F32, &[0, 256]).unwrap();
    expect_err(l.forward(&x), |e| matches!(e, Error::Shape(_)), &["m = 0"]);
}

#[test]
fn k_not_a_multiple_of_the_group() {
    let r = RrsLinear::new(ctx(), &weights(8, 200), 8, 200, Config::new(Method::Rs));
    expect_err(
        r,
        |e| matches!(e, Error::Unsupported(_)),
        &["group size 128", "k = 200"],
    );
    let r = RrsLinear::new(
        ctx(),
        &weights(8, 256),
        8,
        256,
        Config::new(Method::Rs).group(24),
    );
    expect_err(r, |e| matches!(e, Error::Unsupported(_)), &["24"]);
}

#[test]
fn k_not_a_multiple_of_8_for_int4_packing() {
    let r = RrsLinear::new(ctx(), &weights(4, 12), 4, 12, Config::new(Method::Rtn));
    expect_err(
        r,
        |e| matches!(e, Error::Unsupported(_)),
        &["multiple of 8", "k = 12"],
    );
}

#[test]
fn hadamard_sizes_outside_the_families() {
    for k in [44, 88, 11 * 32, 36 * 4096, 65536] {
        let x = Tensor::from_slice(ctx(), &vec![0f32; k], &[1, k]).unwrap();
        let r = hadamard::hadamard(ctx(), &x);
        expect_err(
            r,
            |e| matches!(e, Error::Unsupported(_)),
            &["12·2^n", "20·2^n", "28·2^n", "36·2^n"],
        );
    }
    let r = RrsLinear::new(ctx(), &weights(4, 88), 4, 88, Config::new(Method::QuaRot));
    expect_err(r, |e| matches!(e, Error::Unsupported(_)), &["k = 88"]);
}

/// Behaviour chosen for NaN/Inf: `run` and `forward_checked` return `Error::NonFinite`;
/// `forward` (no readback) lets them propagate into the outputs.
#[test]
fn nan_and_inf_in_activations() {
    let l = layer(Method::Rrs, 16, 256);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = vec![0.5f32; 4 * 256];
        x[300] = bad;
        expect_err(
            l.run(&x),
            |e| matches!(e, Error::NonFinite(_)),
            &["element 300"],
        );
        let xt = Tensor::from_slice(ctx(), &x, &[4, 256]).unwrap();
        expect_err(
            l.forward_checked(&xt),
            |e| matches!(e, Error::NonFinite(_)),
            &["NaN or Inf"],
        );
    }
    for method in [Method::Rtn, Method::QuaRot, Method::Rs] {
        let l = layer(method, 8, 256);
        let mut x = vec![0.5f32; 2 * 256];
        x[10] = f32::NAN;
        let xt = Tensor::from_slice(ctx(), &x, &[2, 256]).unwrap();
        expect_err(
            l.forward_checked(&xt),
            |e| matches!(e, Error::NonFinite(_)),
            &["NaN or Inf"],
        );
    }
}

#[test]
fn nan_in_weights_or_calibration() {
    let mut w = weights(8, 128);
    w[5] = f32::NAN;
    let r = RrsLinear::new(ctx(), &w, 8, 128, Config::new(Method::Rtn));
    expect_err(
        r,
        |e| matches!(e, Error::NonFinite(_)),
        &["weights", "element 5"],
    );
    let cfg = Config::new(Method::SmoothQuant).calibration(vec![f32::INFINITY; 128]);
    let r = RrsLinear::new(ctx(), &weights(8, 128), 8, 128, cfg);
    expect_err(r, |e| matches!(e, Error::NonFinite(_)), &["calibration"]);
}

#[test]
fn missing_or_malformed_calibration() {
    let w = weights(8, 128);
    let r = RrsLinear::new(ctx(), &w, 8, 128, Config::new(Method::SmoothQuant));
    expect_err(
        r,
        |e| matches!(e, Error::InvalidArgument(_)),
        &["SmoothQuant", "calibration"],
    );
    let cfg = Config::new(Method::Rrs).reorder(Reorder::Static);
    let r = RrsLinear::new(ctx(), &w, 8, 128, cfg);
    expect_err(
        r,
        |e| matches!(e, Error::InvalidArgument(_)),
        &["static reorder"],
    );
    let cfg = Config::new(Method::Rs)
        .reorder(Reorder::Static)
        .calibration(vec![1.0; 100]);
    let r = RrsLinear::new(ctx(), &w, 8, 128, cfg);
    expect_err(
        r,
        |e| matches!(e, Error::Shape(_)),
        &["100 elements", "k = 128"],
    );
    let mut cfg = Config::new(Method::SmoothQuant).calibration(vec![1.0; 128]);
    cfg.alpha = 1.5;
    let r = RrsLinear::new(ctx(), &w, 8, 128, cfg);
    expect_err(
        r,
        |e| matches!(e, Error::InvalidArgument(_)),
        &["alpha", "1.5"],
    );
}

/// Zero tokens and zero channels: no division by zero, finite outputs equal to the
/// reference (zero rows quantize to zero; zero channels get the 2^-17 minimum scale).
#[test]
fn all_zero_tokens_and_channels() {
    let (m, n, k) = (6, 32, 256);
    let w = weights(n, k);
    let mut x = Rng::new(2).normals(m * k, 1.0);
    x[..k].fill(0.0); // token 0
    for row in x.chunks_mut(k) {
        row[7] = 0.0; // channel 7
        row[100..140].fill(0.0); // a run of channels
    }
    for method in [Method::Rtn, Method::QuaRot, Method::Rs, Method::Rrs] {
        let cfg = Config::new(method);
        let y = RrsLinear::new(ctx(), &w, n, k, cfg.clone())
            .unwrap()
            .run(&x)
            .unwrap();
        assert!(y.iter().all(|v| v.is_finite()), "{method:?}");
        assert!(y[..n].iter().all(|&v| v == 0.0), "{method:?}: zero token");
        let want = LinearReference::new(&w, n, k, &cfg)
            .unwrap()
            .forward(&x, true)
            .unwrap();
        assert!(rel_error(&y, &want) < 1e-3, "{method:?}");
    }
    let y = layer(Method::Rrs, n, k).run(&vec![0.0; m * k]).unwrap();
    assert!(y.iter().all(|&v| v == 0.0));
}

/// Values from 1e-30 to 1e30 in one tensor, and tokens far apart in scale: finite, and the
/// same codes as the reference.
#[test]
fn extreme_value_ranges() {
    let (m, n, k) = (4, 16, 256);
    let w = weights(n, k);
    let mut rng = Rng::new(3);
    let x: Vec<f32> = (0..m * k)
        .map(|i| rng.normal() * 10f32.powi([-30, -3, 3, 30][i / k]))
        .collect();
    for method in [Method::Rtn, Method::Rs, Method::Rrs] {
        let cfg = Config::new(method);
        let y = RrsLinear::new(ctx(), &w, n, k, cfg.clone())
            .unwrap()
            .run(&x)
            .unwrap();
        assert!(y.iter().all(|v| v.is_finite()), "{method:?}");
        let want = LinearReference::new(&w, n, k, &cfg)
            .unwrap()
            .forward(&x, true)
            .unwrap();
        for (row, (g, r)) in y.chunks(n).zip(want.chunks(n)).enumerate() {
            assert!(rel_error(g, r) < 1e-3, "{method:?} token {row}");
        }
    }
    let xt = Tensor::from_slice(ctx(), &x, &[m, k]).unwrap();
    let q = quantize::quantize(ctx(), &xt, Smooth::default()).unwrap();
    let (codes, scales) = quantize::reference(&x, k, None, None).unwrap();
    assert_eq!(q.packed.to_vec::<u32>(ctx()).unwrap(), codes);
    assert_eq!(q.scales.to_vec::<f32>(ctx()).unwrap(), scales);
}

#[test]
fn tensors_larger_than_the_adapter_allows() {
    let max = ctx().limits().max_storage_buffer_binding_size;
    let rows = (max / 4 / 1024) as usize + 1;
    let r = Tensor::zeros(ctx(), DType::F32, &[rows, 1024]);
    expect_err(
        r,
        |e| matches!(e, Error::TooLarge(_)),
        &[
            "bytes",
            &max.min(ctx().limits().max_buffer_size).to_string(),
        ],
    );
    let r = Tensor::zeros(ctx(), DType::F32, &[usize::MAX / 2, 4]);
    expect_err(r, |e| matches!(e, Error::TooLarge(_)), &["shape"]);
}

/// A context capped at WebGPU's default 16 KiB of workgroup memory picks the small tiles
/// and stays correct.
#[test]
fn small_workgroup_memory_picks_smaller_tiles() {
    let small = Context::with_options(ContextOptions {
        max_workgroup_storage: Some(16384),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(small.limits().max_compute_workgroup_storage_size, 16384);
    assert_eq!(gemm::Tile::best(&small).unwrap(), gemm::Tile::Small);
    // The cooperative-matrix kernels need 44 KiB: off under the cap, on every adapter.
    assert!(!small.cooperative_matrix());
    let (m, n, k) = (70, 40, 8192);
    let w = weights(n, k);
    let x = Rng::new(4).normals(m * k, 1.0);
    let cfg = Config::new(Method::Rrs);
    let y = RrsLinear::new(&small, &w, n, k, cfg.clone())
        .unwrap()
        .run(&x)
        .unwrap();
    let want = LinearReference::new(&w, n, k, &cfg)
        .unwrap()
        .forward(&x, true)
        .unwrap();
    assert!(rel_error(&y, &want) < 1e-3);
    let err = gemm::gemm(
        &small,
        &quantize::quantize(
            &small,
            &Tensor::from_slice(&small, &x, &[m, k]).unwrap(),
            Smooth::default(),
        )
        .unwrap(),
        &pack_weights::pack_weights(
            &small,
            &Tensor::from_slice(&small, &w, &[n, k]).unwrap(),
            WeightPrep::default(),
        )
        .unwrap(),
        GemmOptions {
            tile: Some(gemm::Tile::Large),
            ..GemmOptions::plain(&small)
        },
    );
    expect_err(
        err,
        |e| matches!(e, Error::Unsupported(_)),
        &["Large", "28672", "16384"],
    );
}

#[test]
fn no_adapter_at_all() {
    let r = Context::with_options(ContextOptions {
        backends: Some(wgpu::Backends::empty()),
        ..Default::default()
    });
    expect_err(
        r,
        |e| matches!(e, Error::NoAdapter(_)),
        &["mesa-vulkan-drivers", "lavapipe"],
    );
}

/// A tensor made on one Context and used with another (another device) is an error, not
/// a panic inside wgpu.
#[test]
fn tensor_from_another_context() {
    let other = Context::new().unwrap();
    let x = Tensor::from_slice(&other, &[1.0f32; 2 * 256], &[2, 256]).unwrap();
    let l = layer(Method::Rrs, 16, 256);
    expect_err(
        l.forward(&x),
        |e| matches!(e, Error::InvalidArgument(_)),
        &["another Context"],
    );
    expect_err(
        hadamard::hadamard(ctx(), &x),
        |e| matches!(e, Error::InvalidArgument(_)),
        &["another Context"],
    );
    expect_err(
        x.to_vec::<f32>(ctx()),
        |e| matches!(e, Error::InvalidArgument(_)),
        &["another Context"],
    );
    assert_eq!(x.to_vec::<f32>(&other).unwrap().len(), 512);
}

/// Without the `cuda` feature, asking for CUDA says how to get it (with the feature,
/// `tests/cuda.rs` checks the errors where CUDA is missing).
#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_backend_where_there_is_none() {
    let r = Context::with_options(ContextOptions {
        backend: rrs::Backend::Cuda,
        ..Default::default()
    });
    expect_err(
        r,
        |e| matches!(e, Error::Unsupported(_)),
        &["CUDA backend", "--features cuda"],
    );
}

#[test]
fn op_level_shape_and_argument_errors() {
    let c = ctx();
    expect_err(
        Tensor::from_slice(c, &[1.0f32; 10], &[3, 4]),
        |e| matches!(e, Error::Shape(_)),
        &["[3, 4]", "12", "10"],
    );
    let t = Tensor::from_slice(c, &[1u32; 4], &[4]).unwrap();
    expect_err(
        t.to_vec::<f32>(c),
        |e| matches!(e, Error::Shape(_)),
        &["U32", "F32"],
    );
    let x = Tensor::from_slice(c, &[1.0f32; 2 * 12], &[2, 12]).unwrap();
    expect_err(
        quantize::quantize(c, &x, Smooth::default()),
        |e| matches!(e, Error::Unsupported(_)),
        &["k = 12"],
    );
    let x = Tensor::from_slice(c, &[1.0f32; 2 * 256], &[2, 256]).unwrap();
    let short = Tensor::from_slice(c, &[0u32; 100], &[100]).unwrap();
    expect_err(
        channel_max::channel_max(c, &x, 128, Order::Fixed(&short)),
        |e| matches!(e, Error::Shape(_)),
        &["k = 256", "[100]"],
    );
    let packed = Tensor::from_slice(c, &[0u32; 2 * 32], &[2, 32]).unwrap();
    expect_err(
        rrs::permute::permute(c, &packed, &short),
        |e| matches!(e, Error::Shape(_)),
        &["100", "k = 256"],
    );
    let w = Tensor::from_slice(c, &[1.0f32; 4 * 16], &[4, 16]).unwrap();
    let not_a_perm = [0u32; 16];
    let prep = WeightPrep {
        perm: Some(&not_a_perm),
        ..Default::default()
    };
    expect_err(
        pack_weights::pack_weights(c, &w, prep),
        |e| matches!(e, Error::InvalidArgument(_)),
        &["not a permutation"],
    );
    let a = quantize::quantize(c, &x, Smooth::default()).unwrap();
    let wq = pack_weights::pack_weights(c, &w, WeightPrep::default()).unwrap();
    expect_err(
        gemm::gemm(c, &a, &wq, GemmOptions::plain(c)),
        |e| matches!(e, Error::Shape(_)),
        &["k = 256", "16"],
    );
    // A hand-built `Quantized` whose parts disagree (a row short, or k not in the words).
    let short_rows = quantize::Quantized {
        rows: a.rows + 1,
        ..a.clone()
    };
    expect_err(
        gemm::gemm(c, &short_rows, &a, GemmOptions::plain(c)),
        |e| matches!(e, Error::Shape(_)),
        &["activations", "3 rows", "[3, 32]", "[2, 32]"],
    );
    let wrong_k = quantize::Quantized {
        k: 512,
        ..a.clone()
    };
    expect_err(
        gemm::gemm(c, &a, &wrong_k, GemmOptions::plain(c)),
        |e| matches!(e, Error::Shape(_)),
        &["weights", "k = 512", "[2, 64]", "[2, 32]"],
    );
    let x = Tensor::from_slice(c, &[1.0f32; 8], &[8]).unwrap();
    expect_err(
        hadamard::hadamard(c, &x),
        |e| matches!(e, Error::Shape(_)),
        &["2-D"],
    );
}

/// A lost device makes every later call an `Err`, not a panic or a hang.
#[test]
fn device_loss_surfaces_as_err() {
    let lost = Context::new().unwrap();
    let l = RrsLinear::new(&lost, &weights(8, 128), 8, 128, Config::new(Method::Rrs)).unwrap();
    lost.device().unwrap().destroy();
    let r = l.run(&vec![1.0; 2 * 128]);
    expect_err(r, |e| matches!(e, Error::Device(_)), &[]);
}
