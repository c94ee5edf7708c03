//! Figures for the CUDA backend (`--features cuda`), one JSON object per line in the schema
//! of `examples/bench.rs --json` (bench, variant, m, n, k, ms, bytes, ops), timed with CUDA
//! events after two warm-ups, median of several runs. Run it in the same command as
//! `benches/torch_peer.py` and merge both with `benches/merge_results.py`.
//!
//! ```text
//! cargo run --release --features cuda --example bench_cuda -- [--quick] [--gemm int4|int8|wgmma]
//!     [--only hadamard|gemm|decode|linear] [--m 2048,8192] [--nk 8192] [--layers static,quarot]
//!     [--fwht-k 14336,28672] [--gemm-shapes 4096x28672x8192,4096x8192x28672]
//! ```
//!
//! `--m` and `--nk` replace the GEMM and linear sections' lists of M and of N = K (for A/B
//! runs of one shape); `--fwht-k` the FWHT section's row lengths (any supported size, e.g.
//! the 12·2^n, 20·2^n and 28·2^n of real models' FFN widths); `--layers` keeps only those
//! layers of the linear section (static, dynamic, quarot) and drops its op benches (for A/B
//! runs of the layer). `--gemm-shapes` gives the GEMM section's shapes as M×N×K instead
//! (N ≠ K, e.g. a large model's FFN projections; `benches/torch_peer.py` takes the same
//! flag).

#[cfg(feature = "cuda")]
mod common;

#[cfg(feature = "cuda")]
fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(feature = "cuda"))]
fn main() {
    eprintln!("bench_cuda needs the cuda feature: cargo run --release --features cuda --example bench_cuda");
    std::process::exit(2);
}

#[cfg(feature = "cuda")]
fn run() -> rrs::Result<()> {
    use rrs::channel_max::{self, Order};
    use rrs::gemm::{self, GemmOptions};
    use rrs::workload::Rng;
    use rrs::{Backend, Config, Context, ContextOptions, CudaGemm, Method, Reorder};
    use rrs::{RrsLinear, Tensor};

    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let gemm_path = match args
        .iter()
        .position(|a| a == "--gemm")
        .map(|i| args[i + 1].as_str())
    {
        Some("int4") => Some(CudaGemm::Int4),
        Some("int8") => Some(CudaGemm::Int8),
        Some("wgmma") => Some(CudaGemm::Wgmma),
        _ => None,
    };
    // One section only (`--only hadamard|gemm|decode|linear`), else all of them.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args[i + 1].clone());
    let section = |name: &str| only.as_deref().is_none_or(|o| o == name);
    // `--m 2048,8192`, `--nk 8192`: the GEMM section's sizes, else its defaults.
    let sizes = |flag: &str| -> Option<Vec<usize>> {
        let i = args.iter().position(|a| a == flag)?;
        let list = args.get(i + 1).map(String::as_str).unwrap_or("");
        Some(
            list.split(',')
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("{flag} takes numbers: {list:?}"))
                })
                .collect(),
        )
    };
    // `--layers static,quarot`: the linear section's layers to time, and none of its ops.
    let layers: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--layers")
        .map(|i| args[i + 1].split(',').map(str::to_string).collect());
    let ops = layers.is_none();
    let layer_wanted = |v: &str| layers.as_ref().is_none_or(|l| l.iter().any(|x| x == v));
    let ctx = Context::with_options(ContextOptions {
        backend: Backend::Cuda,
        cuda_gemm: gemm_path,
        ..Default::default()
    })?;
    let adapter = ctx.describe();
    eprintln!("bench_cuda on {adapter}");
    let path = format!("{:?}", ctx.cuda_gemm().unwrap()).to_lowercase();
    let report = |bench: &str,
                  variant: &str,
                  m: usize,
                  n: usize,
                  k: usize,
                  ms: f64,
                  bytes: f64,
                  ops: f64| {
        let case = common::Case {
            bench,
            variant,
            m,
            n,
            k,
            ms,
            bytes,
            ops,
        };
        println!("{}", case.json("cuda_events", &adapter));
        eprintln!("{}", case.human());
    };
    let mut rng = Rng::new(1);
    let samples = if quick { 3 } else { 15 };

    // FWHT at M = 4096 (out of place: reads x, writes y, as the layer does).
    let (m_mem, ks) = if quick {
        (64, vec![1024, 4096])
    } else {
        (4096, vec![4096, 8192, 16384, 32768])
    };
    let ks = sizes("--fwht-k").unwrap_or(ks);
    for &k in ks.iter().filter(|_| section("hadamard")) {
        let x = Tensor::from_slice(&ctx, &rng.normals(m_mem * k, 1.0), &[m_mem, k])?;
        let ms = ctx.cuda_time_ms(samples, 10, || {
            rrs::hadamard::hadamard(&ctx, &x).map(|_| ())
        })?;
        report(
            "hadamard",
            "out_of_place",
            m_mem,
            0,
            k,
            ms,
            (2 * m_mem * k * 4) as f64,
            0.0,
        );
        let dst = Tensor::zeros(&ctx, rrs::DType::F32, &[m_mem, k])?;
        let ms = ctx.cuda_time_ms(samples, 10, || rrs::hadamard::hadamard_into(&ctx, &x, &dst))?;
        report(
            "hadamard",
            "into_kept",
            m_mem,
            0,
            k,
            ms,
            (2 * m_mem * k * 4) as f64,
            0.0,
        );
        let ms = ctx.cuda_time_ms(samples, 10, || rrs::hadamard::hadamard_inplace(&ctx, &x))?;
        report(
            "hadamard",
            "inplace",
            m_mem,
            0,
            k,
            ms,
            (2 * m_mem * k * 4) as f64,
            0.0,
        );
        // The same rows in f16 (half the bytes; f32 arithmetic, one rounding).
        let xh: Vec<rrs::half::f16> = rng
            .normals(m_mem * k, 1.0)
            .into_iter()
            .map(rrs::half::f16::from_f32)
            .collect();
        let xh = Tensor::from_slice(&ctx, &xh, &[m_mem, k])?;
        let bytes = (2 * m_mem * k * 2) as f64;
        let ms = ctx.cuda_time_ms(samples, 10, || {
            rrs::hadamard::hadamard(&ctx, &xh).map(|_| ())
        })?;
        report("hadamard", "f16_out_of_place", m_mem, 0, k, ms, bytes, 0.0);
        let dst = Tensor::zeros(&ctx, rrs::DType::F16, &[m_mem, k])?;
        let ms = ctx.cuda_time_ms(samples, 10, || {
            rrs::hadamard::hadamard_into(&ctx, &xh, &dst)
        })?;
        report("hadamard", "f16_into_kept", m_mem, 0, k, ms, bytes, 0.0);
        let ms = ctx.cuda_time_ms(samples, 10, || rrs::hadamard::hadamard_inplace(&ctx, &xh))?;
        report("hadamard", "f16_inplace", m_mem, 0, k, ms, bytes, 0.0);
    }

    // GEMM (plain, and with Runtime Smooth's group-128 scales) and decode.
    let (ms_list, nks) = if quick {
        (vec![1, 16, 64], vec![512])
    } else {
        (vec![1, 16, 2048, 8192], vec![4096, 8192])
    };
    let (ms_list, nks) = (
        sizes("--m").unwrap_or(ms_list),
        sizes("--nk").unwrap_or(nks),
    );
    // The section's weights (n, k) with their batch sizes: every M with every N = K, or the
    // shapes of `--gemm-shapes`.
    let cases: Vec<(usize, usize, Vec<usize>)> =
        match args.iter().position(|a| a == "--gemm-shapes") {
            Some(i) => {
                let list = args.get(i + 1).map(String::as_str).unwrap_or("");
                list.split(',')
                    .map(
                        |shape| match shape.split('x').map(str::parse).collect::<Vec<_>>()[..] {
                            [Ok(m), Ok(n), Ok(k)] => (n, k, vec![m]),
                            _ => panic!("--gemm-shapes takes MxNxK,…: {list:?}"),
                        },
                    )
                    .collect()
            }
            None => nks.iter().map(|&nk| (nk, nk, ms_list.clone())).collect(),
        };
    // `--only decode`: the m ≤ 16 cases of this section alone.
    let decode_only = only.as_deref() == Some("decode");
    for (n, k, ms_list) in cases.iter().filter(|_| section("gemm") || decode_only) {
        let (n, k) = (*n, *k);
        let w = common::packed(&ctx, &mut rng, n, k)?;
        let gs = Tensor::from_slice(
            &ctx,
            &(0..k / 128)
                .map(|_| 0.5 + rng.uniform())
                .collect::<Vec<f32>>(),
            &[k / 128],
        )?;
        for &m in ms_list.iter().filter(|&&m| !decode_only || m <= 16) {
            let a = common::packed(&ctx, &mut rng, m, k)?;
            let plain = GemmOptions {
                group: 128,
                ..GemmOptions::plain(&ctx)
            };
            let rs = GemmOptions {
                group_scales: Some(&gs),
                ..plain
            };
            let reps = if m >= 2048 { 3 } else { 20 };
            let ops = 2.0 * (m * n * k) as f64;
            let bench = if m <= 16 { "decode" } else { "gemm" };
            let ms = ctx.cuda_time_ms(samples, reps, || {
                gemm::gemm(&ctx, &a, &w, plain).map(|_| ())
            })?;
            report(bench, "plain", m, n, k, ms, (n * k / 2) as f64, ops);
            let ms =
                ctx.cuda_time_ms(samples, reps, || gemm::gemm(&ctx, &a, &w, rs).map(|_| ()))?;
            report(
                bench,
                &format!("rs_{path}"),
                m,
                n,
                k,
                ms,
                (n * k / 2) as f64,
                ops,
            );
        }
    }

    // The whole RRS layer against the plain A4W4 GEMM on the same shapes.
    let shapes: Vec<(usize, usize)> = if quick {
        vec![(64, 512)]
    } else {
        let nks = sizes("--nk").unwrap_or(vec![8192]);
        let ms = sizes("--m").unwrap_or(vec![2048, 4096]);
        ms.iter()
            .flat_map(|&m| nks.iter().map(move |&nk| (m, nk)))
            .collect()
    };
    for &(m, nk) in shapes.iter().filter(|_| section("linear")) {
        let (n, k) = (nk, nk);
        let weights = rng.normals(n * k, 1.0 / (k as f32).sqrt());
        let xv = rng.normals(m * k, 1.0);
        let x = Tensor::from_slice(&ctx, &xv, &[m, k])?;
        let x16: Vec<half::f16> = xv.iter().map(|&v| half::f16::from_f32(v)).collect();
        let x16 = Tensor::from_slice(&ctx, &x16, &[m, k])?;
        let calib = xv[..k * m.min(64)].to_vec();
        let reps = 3;
        let w = common::packed(&ctx, &mut rng, n, k)?;
        let a = common::packed(&ctx, &mut rng, m, k)?;
        let plain = GemmOptions {
            group: 128,
            ..GemmOptions::plain(&ctx)
        };
        let ms = ctx.cuda_time_ms(samples, reps, || {
            gemm::gemm(&ctx, &a, &w, plain).map(|_| ())
        })?;
        report(
            "rrs_linear",
            "plain_gemm",
            m,
            n,
            k,
            ms,
            0.0,
            2.0 * (m * n * k) as f64,
        );
        // What the dynamic reorder adds to the layer: the channel sort (against the same
        // statistics without it) and the per-call permutation of the packed weights.
        for (variant, order) in [("sorted", Order::Sorted), ("identity", Order::Identity)]
            .into_iter()
            .filter(|_| ops)
        {
            for (input, dtype) in [(&x, ""), (&x16, "_f16")] {
                let ms = ctx.cuda_time_ms(samples, 10, || {
                    channel_max::channel_max(&ctx, input, 128, order).map(|_| ())
                })?;
                let bytes = (m * k * input.dtype().size()) as f64;
                report(
                    "channel_max",
                    &format!("{variant}{dtype}"),
                    m,
                    0,
                    k,
                    ms,
                    bytes,
                    0.0,
                );
            }
        }
        if ops {
            let perm = channel_max::channel_max(&ctx, &x, 128, Order::Sorted)?.perm;
            let ms = ctx.cuda_time_ms(samples, 10, || {
                rrs::permute::permute(&ctx, &w.packed, &perm).map(|_| ())
            })?;
            report("permute", "weights", 0, n, k, ms, (n * k) as f64, 0.0);
        }
        // The codes of the rotated rows, the rotation fused into the quantize where
        // `cuda/rotate.cu` has kernels for k (`RRS_CUDA_FUSE_ROTATION=0`: written first).
        let tag = if rrs::hadamard::fuses_rotation(&ctx, k) {
            "rotated_fused"
        } else {
            "rotated_unfused"
        };
        for (input, dtype) in [(&x, ""), (&x16, "_f16")].into_iter().filter(|_| ops) {
            let ms = ctx.cuda_time_ms(samples, 10, || {
                rrs::quantize::quantize_rotated(&ctx, input, Default::default()).map(|_| ())
            })?;
            let bytes = (m * k * input.dtype().size() + m * k / 2) as f64;
            report(
                "quantize",
                &format!("{tag}{dtype}"),
                m,
                0,
                k,
                ms,
                bytes,
                0.0,
            );
        }
        // `static_norm`: the static layer with token-normalized maxima (`row_normalized`).
        for (variant, method, reorder, normalized) in [
            ("static", Method::Rrs, Reorder::Static, false),
            ("static_norm", Method::Rrs, Reorder::Static, true),
            ("dynamic", Method::Rrs, Reorder::Dynamic, false),
            ("quarot", Method::QuaRot, Reorder::None, false),
        ]
        .into_iter()
        .filter(|(v, ..)| layer_wanted(v))
        {
            let mut cfg = Config::new(method)
                .reorder(reorder)
                .calibration(calib.clone());
            if normalized {
                cfg = cfg.row_normalized();
            }
            let layer = RrsLinear::new(&ctx, &weights, n, k, cfg)?;
            // f32 activations, and f16 ones (`_f16`: half the bytes in each pass over them).
            for (input, dtype) in [(&x, ""), (&x16, "_f16")] {
                let ms = ctx.cuda_time_ms(samples, reps, || layer.forward(input).map(|_| ()))?;
                report(
                    "rrs_linear",
                    &format!("{variant}{dtype}"),
                    m,
                    n,
                    k,
                    ms,
                    0.0,
                    2.0 * (m * n * k) as f64,
                );
            }
        }
    }
    Ok(())
}
