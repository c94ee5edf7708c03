//! Bench program for any GPU: every op at the sizes of the paper's layers, plus in-run
//! references of our own (a WGSL copy over the same bytes, the plain A4W4 GEMM).
//!
//! ```text
//! cargo run --release --example bench -- [--quick] [--json]
//! ```
//! Times come from GPU timestamps where the adapter has them (see `rrs::timing`), after a
//! warm-up, as the median of several runs. `--json` prints one object per line:
//! `{"bench", "variant", "m", "n", "k", "ms", "bytes", "ops", "clock", "adapter"}`;
//! `bytes` counts the memory a kernel must move at least, `ops` 2·m·n·k for GEMMs.
//! `--quick` uses small sizes (for CPU adapters). `--only fwht --fwht-k 576,1536,5120` times
//! the FWHT at the given row lengths (any supported size) instead of the powers of two.

mod common;

use common::packed;
use rrs::channel_max::{self, Order};
use rrs::gemm::{self, GemmOptions};
use rrs::quantize::{self, Quantized, Smooth};
use rrs::tensor::status;
use rrs::workload::Rng;
use rrs::{hadamard, Config, Context, DType, DotKernel, Method, Reorder, RrsLinear, Tensor};

struct Bench<'a> {
    ctx: &'a Context,
    json: bool,
    adapter: String,
    /// While set, `report` prints nothing: every section runs twice and reports the second
    /// round (on the H100 the first cases timed on freshly allocated buffers read high).
    quiet: std::cell::Cell<bool>,
}

impl Bench<'_> {
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        bench: &str,
        variant: &str,
        m: usize,
        n: usize,
        k: usize,
        ms: f64,
        bytes: f64,
        ops: f64,
    ) {
        if self.quiet.get() {
            return;
        }
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
        if self.json {
            println!(
                "{}",
                case.json(&format!("{:?}", self.ctx.clock()), &self.adapter)
            );
        } else {
            println!("{}", case.human());
        }
    }
}

/// How a GEMM case reads the packed weights.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Weights {
    /// As packed (plain A4W4, or a static reorder baked into the packing).
    AsPacked,
    /// Permuted by this call's permutation first (`rrs::permute`), then read as packed.
    Permuted,
    /// Read through the permutation by the gathering decode kernel (`weight_perm`).
    Gathered,
}

/// A random permutation of 0..k.
fn shuffled(rng: &mut Rng, k: usize) -> Vec<u32> {
    let mut p: Vec<u32> = (0..k as u32).collect();
    for i in (1..k).rev() {
        p.swap(i, rng.below(i + 1));
    }
    p
}

fn main() -> rrs::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    // `--only NAME`: run only the section NAME (memory, gemm or linear; decode: the gemm
    // section's m ≤ 16 cases; fwht: the memory section's copy and FWHT, also at K = 2048;
    // quantize: the memory section's copy and quantize).
    let only = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .unwrap_or_default();
    let run = |section: &str| only.is_empty() || only == section;
    // `--tiles`: also time every FWHT tile and quantize row stage the adapter allows.
    let tiles = std::env::args().any(|a| a == "--tiles");
    let json = std::env::args().any(|a| a == "--json");
    // `--no-subgroups`: keep the kernels off subgroup operations (for A/B runs).
    // `--pool`: reuse freed op outputs (`rrs::pool`, the library's default). Off by default
    // here, so that every repetition of a timed op writes a fresh buffer, as in the records
    // before the pool: reuse makes each repetition wait for the one before it (a write after
    // its reads), which a real chain of layers does anyway but a repeated independent op
    // does not (`examples/host_overhead.rs` measures the pool's effect on whole layers).
    let ctx = Context::with_options(rrs::ContextOptions {
        disable_subgroups: std::env::args().any(|a| a == "--no-subgroups"),
        output_pool_bytes: (!std::env::args().any(|a| a == "--pool")).then_some(0),
        ..Default::default()
    })?;
    eprintln!("bench on {} (clock: {:?})", ctx.describe(), ctx.clock());
    let b = Bench {
        ctx: &ctx,
        json,
        adapter: ctx.adapter_info().name.replace('"', "'"),
        quiet: std::cell::Cell::new(false),
    };
    let samples = 5;
    let mut rng = Rng::new(1);

    // `--fwht-k LIST`: the FWHT section's sizes instead (comma-separated, e.g. real models'
    // m·2^n widths 576,1536,2304,5120,14336).
    let fwht_k: Option<Vec<usize>> =
        std::env::args()
            .skip_while(|a| a != "--fwht-k")
            .nth(1)
            .map(|list| {
                list.split(',')
                    .map(|k| k.parse().expect("--fwht-k: comma-separated sizes"))
                    .collect()
            });
    // Memory-bound ops at M = 4096 tokens, against a copy of the same bytes.
    let (m_mem, ks): (usize, &[usize]) = if quick {
        (64, &[1024, 4096])
    } else if let (Some(list), "fwht") = (&fwht_k, only.as_str()) {
        (4096, list)
    } else if only == "fwht" {
        (4096, &[2048, 4096, 8192, 16384, 32768])
    } else {
        (4096, &[4096, 8192, 16384, 32768])
    };
    for (round, &k) in [0, 1]
        .into_iter()
        .flat_map(|r| ks.iter().map(move |k| (r, k)))
        .filter(|_| run("memory") || only == "fwht" || only == "quantize")
    {
        b.quiet.set(round == 0);
        let m = m_mem;
        eprintln!("memory-bound ops at {m} x {k}");
        let x = Tensor::from_slice(&ctx, &rng.normals(m * k, 1.0), &[m, k])?;
        let y = Tensor::zeros(&ctx, DType::F32, &[m, k])?;
        let f32_bytes = (m * k * 4) as f64;
        let ms = ctx.time_ms(samples, 10, |enc| rrs::copy::encode(&ctx, enc, &x, &y))?;
        b.report("copy", "f32", m, 0, k, ms, 2.0 * f32_bytes, 0.0);
        let ms = ctx.time_ms(samples, 10, |enc| hadamard::encode(&ctx, enc, &y))?;
        b.report("hadamard", "inplace", m, 0, k, ms, 2.0 * f32_bytes, 0.0);
        if tiles && only != "quantize" {
            // The subgroup kernels that run this size (Unsupported ones are skipped).
            let subgroup = [(16, false), (16, true), (32, true)]
                .into_iter()
                .map(|(elements, quads)| hadamard::FirstPass::Subgroup { elements, quads });
            let passes = hadamard::TILES
                .into_iter()
                .filter(|&t| hadamard::tile_fits(ctx.limits(), t))
                .map(hadamard::FirstPass::Tile)
                .chain(subgroup);
            for pass in passes {
                let timed = ctx.time_ms(samples, 10, |enc| {
                    hadamard::encode_with(&ctx, enc, &y, Some(pass))
                });
                let ms = match timed {
                    Err(rrs::Error::Unsupported(_)) => continue,
                    other => other?,
                };
                let variant = match pass {
                    hadamard::FirstPass::Tile(tile) => format!("tile{tile}"),
                    hadamard::FirstPass::Subgroup { elements, quads } => {
                        format!("subgroup{elements}{}", if quads { "_quads" } else { "" })
                    }
                };
                b.report("hadamard", &variant, m, 0, k, ms, 2.0 * f32_bytes, 0.0);
            }
        }
        if only == "fwht" {
            continue;
        }
        let st = status::new(&ctx)?;
        if only != "quantize" {
            let ms = ctx.time_ms(samples, 10, |enc| {
                channel_max::encode(&ctx, enc, &x, 128, Order::Sorted, &st).map(|_| ())
            })?;
            b.report("channel_max", "sorted", m, 0, k, ms, f32_bytes, 0.0);
            let ms = ctx.time_ms(samples, 10, |enc| {
                channel_max::encode(&ctx, enc, &x, 128, Order::Identity, &st).map(|_| ())
            })?;
            b.report("channel_max", "identity", m, 0, k, ms, f32_bytes, 0.0);
        }
        let stats = channel_max::channel_max(&ctx, &x, 128, Order::Sorted)?;
        let q_bytes = f32_bytes + (m * k / 2) as f64;
        for (variant, smooth) in [
            ("plain", Smooth::default()),
            (
                "smoothed",
                Smooth {
                    perm: Some(&stats.perm),
                    multipliers: Some((&stats.inv_scales, 128)),
                },
            ),
        ] {
            let ms = ctx.time_ms(samples, 10, |enc| {
                quantize::encode(&ctx, enc, &x, smooth, &st).map(|_| ())
            })?;
            b.report("quantize", variant, m, 0, k, ms, q_bytes, 0.0);
            if tiles {
                let max = ctx.limits().max_compute_workgroup_storage_size as usize;
                for stage in quantize::STAGES
                    .into_iter()
                    .filter(|s| s * 9 / 8 * 4 + 1040 <= max)
                {
                    let ms = ctx.time_ms(samples, 10, |enc| {
                        quantize::encode_with_stage(&ctx, enc, &x, smooth, &st, Some(stage))
                            .map(|_| ())
                    })?;
                    let v = format!("{variant}_stage{stage}");
                    b.report("quantize", &v, m, 0, k, ms, q_bytes, 0.0);
                }
            }
        }
    }

    // GEMMs, N = K, against each other; decode sizes also against a copy of the weights.
    let (ms_list, nks): (&[usize], &[usize]) = if quick {
        (&[1, 16, 64], &[512])
    } else if only == "decode" {
        (&[1, 2, 4, 8, 16], &[4096, 8192])
    } else {
        (&[1, 16, 2048, 8192], &[4096, 8192])
    };
    for (round, &nk) in [0, 1]
        .into_iter()
        .flat_map(|r| nks.iter().map(move |k| (r, k)))
        .filter(|_| run("gemm") || only == "decode")
    {
        b.quiet.set(round == 0);
        let (n, k) = (nk, nk);
        let w = packed(&ctx, &mut rng, n, k)?;
        let wbytes = (n * k / 2) as f64;
        let wcopy = Tensor::zeros(&ctx, DType::U32, &[n, k / 8])?;
        let ms = ctx.time_ms(samples, 20, |enc| {
            rrs::copy::encode(&ctx, enc, &w.packed, &wcopy)
        })?;
        b.report("copy", "packed_weights", 0, n, k, ms, 2.0 * wbytes, 0.0);
        let gscales = Tensor::from_slice(&ctx, &vec![1.5f32; k / 128], &[k / 128])?;
        let perm = Tensor::from_slice(&ctx, &shuffled(&mut rng, k), &[k])?;
        for &m in ms_list.iter().filter(|&&m| only != "decode" || m <= 16) {
            eprintln!("gemm m={m} n={n} k={k}");
            let a = packed(&ctx, &mut rng, m, k)?;
            let ops = 2.0 * (m * n * k) as f64;
            let reps = if m >= 2048 { 3 } else { 20 };
            // rs_dynamic permutes the packed weights' K by this call's permutation, then runs
            // the GEMM with group scales; rs_gather (m ≤ gemm::GATHER_MAX_M, where the
            // adapter runs it) reads them through the permutation in the decode kernel. The
            // layer does the latter from k = 8192 where it can (`gemm::decode_gathers`), else
            // the former.
            let gathers = gemm::decode_gathers(&ctx, m, k, 128, ctx.dot_kernel());
            let (dot, gs, portable) = (ctx.dot_kernel(), Some(&gscales), DotKernel::Portable);
            let variants = [
                ("plain", None, Weights::AsPacked, dot),
                ("rs_static", gs, Weights::AsPacked, dot),
                ("rs_dynamic", gs, Weights::Permuted, dot),
                ("rs_gather", gs, Weights::Gathered, dot),
                ("plain_portable", None, Weights::AsPacked, portable),
            ];
            for (variant, group_scales, weights, dot) in variants {
                let gather = weights == Weights::Gathered;
                // GEMMs without a gather run on tensor cores where the adapter has them
                // (unless `RRS_COOP_MATRIX=0`; `gemm::on_tensor_cores`; the dot kernel does
                // not matter there): named `…_coop`.
                let group = group_scales.map(|_| 128);
                let coop = !gather && gemm::on_tensor_cores(&ctx, m, k, group);
                if (dot == DotKernel::Portable && (dot == ctx.dot_kernel() || coop))
                    || (gather && !gathers)
                {
                    continue;
                }
                let variant = if coop {
                    format!("{variant}_coop")
                } else {
                    variant.to_string()
                };
                let opts = GemmOptions {
                    group: 128,
                    group_scales,
                    weight_perm: gather.then_some(&perm),
                    dot,
                    tile: None,
                };
                let ms = ctx.time_ms(samples, reps, |enc| {
                    if weights == Weights::Permuted {
                        let wp = Quantized {
                            packed: rrs::permute::encode(&ctx, enc, &w.packed, &perm)?,
                            ..w.clone()
                        };
                        gemm::encode(&ctx, enc, &a, &wp, opts).map(|_| ())
                    } else {
                        gemm::encode(&ctx, enc, &a, &w, opts).map(|_| ())
                    }
                })?;
                let bench = if m <= 16 { "decode" } else { "gemm" };
                b.report(bench, &variant, m, n, k, ms, wbytes, ops);
            }
        }
    }

    // The whole layer at M = 2048, N = K = 8192 (quick: 64 x 512 x 512).
    if !run("linear") {
        return Ok(());
    }
    let (m, nk) = if quick { (64, 512) } else { (2048, 8192) };
    let (n, k) = (nk, nk);
    eprintln!("rrs_linear m={m} n={n} k={k}");
    let wf = rng.normals(n * k, 1.0 / (k as f32).sqrt());
    let xf = rng.normals(m * k, 1.0);
    let x = Tensor::from_slice(&ctx, &xf, &[m, k])?;
    let st = status::new(&ctx)?;
    let calib = xf[..(m.min(256)) * k].to_vec();
    // The plain A4W4 GEMM on the same shapes, in the same process, as the reference for
    // the layers' overhead. Everything is timed in two rounds and only the second is
    // reported: on the H100 the first cases timed in a process read up to 3× high.
    let layers: Vec<(&str, RrsLinear)> = [
        ("quarot", Method::QuaRot, Reorder::Dynamic, false),
        ("rs_dynamic", Method::Rs, Reorder::Dynamic, false),
        ("rrs_static", Method::Rrs, Reorder::Static, false),
        ("rrs_static_norm", Method::Rrs, Reorder::Static, true),
        ("rrs_dynamic", Method::Rrs, Reorder::Dynamic, false),
        ("rtn", Method::Rtn, Reorder::Dynamic, false),
    ]
    .into_iter()
    .map(|(name, method, reorder, normalized)| {
        let mut cfg = Config::new(method)
            .reorder(reorder)
            .calibration(calib.clone());
        if normalized {
            cfg = cfg.row_normalized();
        }
        RrsLinear::new(&ctx, &wf, n, k, cfg).map(|l| (name, l))
    })
    .collect::<rrs::Result<_>>()?;
    let wq = rrs::pack_weights::pack_weights(
        &ctx,
        &Tensor::from_slice(&ctx, &wf, &[n, k])?,
        Default::default(),
    )?;
    let xq = quantize::quantize(&ctx, &x, Smooth::default())?;
    let ops = 2.0 * (m * n * k) as f64;
    for round in 0..2 {
        b.quiet.set(round == 0);
        let ms = ctx.time_ms(samples, 3, |enc| {
            gemm::encode(&ctx, enc, &xq, &wq, GemmOptions::plain(&ctx)).map(|_| ())
        })?;
        b.report("rrs_linear", "plain_gemm", m, n, k, ms, 0.0, ops);
        for (name, layer) in &layers {
            let ms = ctx.time_ms(samples, 3, |enc| layer.encode(enc, &x, &st).map(|_| ()))?;
            b.report("rrs_linear", name, m, n, k, ms, 0.0, ops);
        }
    }
    Ok(())
}
