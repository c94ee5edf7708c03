//! The `cuda` feature: `cargo test --features cuda`. Where no CUDA driver or GPU is
//! present the tests print that they were skipped and why (and check that asking for
//! CUDA is then a clear `NoAdapter` error). On a GPU they run every GEMM path (INT4 and
//! INT8 `mma.sync`, and on sm_90 the wgmma one) on one device against the CPU reference,
//! and the whole layer.
//! The op parity suite also runs on CUDA: `RRS_TEST_BACKEND=cuda cargo test --features
//! cuda --test parity` (with `RRS_CUDA_GEMM=int4|int8|wgmma`).
#![cfg(feature = "cuda")]

// The GEMM helpers of the parity suite (its tests themselves run through tests/parity).
#[allow(dead_code)]
#[path = "parity/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "parity/gemm.rs"]
mod parity_gemm;

use common::{F16_BITS, F32_BITS};
use parity_gemm::{assert_within_bound, packed, AnyOrder};
use rrs::workload::{rel_error, Rng, Workload, WorkloadConfig};
use rrs::{gemm, Backend, Config, Context, ContextOptions, CudaGemm, Error, LinearReference};
use rrs::{Method, Reorder, RrsLinear, Tensor};

/// The GEMM paths the tests run, the wgmma one last (it exists on sm_90 only).
const PATHS: [CudaGemm; 3] = [CudaGemm::Int4, CudaGemm::Int8, CudaGemm::Wgmma];

/// A CUDA context with `gemm`, or `None` (printing why) where CUDA is absent, or where
/// `gemm` is the wgmma path and the GPU is not sm_90.
fn cuda(gemm: CudaGemm) -> Option<Context> {
    let r = Context::with_options(ContextOptions {
        backend: Backend::Cuda,
        cuda_gemm: Some(gemm),
        ..Default::default()
    });
    match r {
        Ok(ctx) => {
            eprintln!("CUDA: {}", ctx.describe());
            Some(ctx)
        }
        Err(Error::NoAdapter(why)) => {
            eprintln!("skipped: no CUDA here ({why})");
            None
        }
        // The last path of `PATHS`: the other GPUs skip it.
        Err(Error::Unsupported(why)) if gemm == CudaGemm::Wgmma => {
            eprintln!("skipped the wgmma path: {why}");
            None
        }
        Err(e) => panic!("CUDA context: {e}"),
    }
}

#[test]
fn missing_cuda_is_a_clear_error_or_a_working_device() {
    match Context::with_options(ContextOptions {
        backend: Backend::Cuda,
        ..Default::default()
    }) {
        Ok(ctx) => assert_eq!(ctx.backend(), Backend::Cuda),
        Err(Error::NoAdapter(why)) => {
            assert!(
                why.contains("libcuda") || why.contains("NVRTC") || why.contains("device"),
                "{why}"
            );
            eprintln!("skipped the device part: {why}");
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Every tensor-core path (and the SIMT and GEMV kernels, by shape) on one GPU: integer
/// sums bit-exact with unit scales; with scales within 4ε·|a·w|·Σ|s_g·P_g|.
#[test]
fn both_gemm_paths_match_reference() {
    for path in PATHS {
        let Some(ctx) = cuda(path) else { return };
        let mut rng = Rng::new(21);
        for (m, n, k, group) in [
            (1, 300, 1024, 128),
            (16, 64, 4096, 128),
            (17, 70, 256, 64),
            (128, 128, 1024, 128),
            (200, 300, 2048, 128),
            // Several tiles with ragged edges, many K steps (wgmma's pipeline). Shapes this
            // small take wgmma's 256 × 64 tile with group scales (one wave of blocks either
            // way) ...
            (300, 260, 4096, 128),
            // ... and this one its 192 × 96 tile, ragged too (114 blocks against 145: fewer
            // waves on GPUs of 114 to 132 SMs).
            (1100, 1800, 256, 128),
            // One K step (the wgmma kernels' loop body never runs).
            (40, 72, 128, 128),
            // 3, 5, 6 and 7 K steps: step counts that are not multiples of the pipelines'
            // depths (their loops' last, peeled steps and ragged tails).
            (64, 136, 384, 128),
            (130, 120, 640, 128),
            (70, 200, 768, 128),
            (129, 64, 896, 128),
            (257, 129, 512, 256),
            (33, 65, 96, 32),
            // K steps of 64 (k = 9 · 64): plain, and groups of three steps.
            (40, 50, 576, 192),
            // Past the plain INT8 kernel's i32 range (k > 65536): the scaled kernel, unit scales.
            (20, 24, 131072, 128),
        ] {
            for unit in [true, false] {
                let (qa, sa, a) = packed(&ctx, &mut rng, m, k, unit);
                let (qw, sw, w) = packed(&ctx, &mut rng, n, k, unit);
                let gs: Vec<f32> = (0..k / group).map(|_| 0.5 + rng.uniform()).collect();
                let gt = Tensor::from_slice(&ctx, &gs, &[k / group]).unwrap();
                let opts = gemm::GemmOptions {
                    group,
                    group_scales: (!unit).then_some(&gt),
                    ..gemm::GemmOptions::plain(&ctx)
                };
                let y: Vec<f32> = gemm::gemm(&ctx, &a, &w, opts)
                    .unwrap()
                    .to_vec(&ctx)
                    .unwrap();
                let gref = (!unit).then_some(&gs[..]);
                let want = gemm::reference(&qa, &sa, &qw, &sw, k, group, gref, None);
                let what = format!("{path:?} m={m} n={n} k={k} group={group} unit={unit}");
                if unit {
                    assert_eq!(y, want, "{what}");
                    continue;
                }
                let (a, w) = ((&qa[..], &sa[..]), (&qw[..], &sw[..]));
                let bound = AnyOrder::decode(k);
                assert_within_bound(&y, &want, a, w, &gs, k, None, bound, &what);
            }
        }
    }
}

/// The whole layer on CUDA against its CPU reference, every path, every method.
#[test]
fn layer_matches_reference_on_both_paths() {
    // k = 2048: rotation written, then read; k = 4096: QuaRot's rotation fused into its
    // quantize (`cuda/rotate.cu`).
    let workloads = [2048, 4096].map(|channels| {
        Workload::new(&WorkloadConfig {
            tokens: 256,
            channels,
            out_features: 256,
            ..WorkloadConfig::default()
        })
    });
    for path in PATHS {
        let Some(ctx) = cuda(path) else { return };
        for (wl, method) in workloads
            .iter()
            .flat_map(|wl| Method::ALL.map(|method| (wl, method)))
        {
            let (n, k) = (wl.config.out_features, wl.config.channels);
            let cfg = Config::new(method)
                .reorder(Reorder::Dynamic)
                .calibration(wl.calibration.clone());
            let layer = RrsLinear::new(&ctx, &wl.w, n, k, cfg.clone()).unwrap();
            let y = layer.run(&wl.x).unwrap();
            let want = LinearReference::new(&wl.w, n, k, &cfg)
                .unwrap()
                .forward(&wl.x, true)
                .unwrap();
            let tol = if method.rotates() { 1e-3 } else { 1e-5 };
            let e = rel_error(&y, &want);
            eprintln!(
                "{path:?} k={k} {}: GPU vs CPU rel error {e:.2e}",
                method.name()
            );
            assert!(e <= tol, "{path:?} k={k} {method:?}: rel error {e}");
        }
    }
}

/// Every kernel source compiles for every architecture the backend targets: Turing, Ampere
/// and Ada RTX (sm_75, sm_86, sm_89), A100 (sm_80) and Hopper (sm_90), and the GEMM's PTX
/// holds each path's tensor-core instructions (four m8n8 MMAs per m16n8 one on sm_75). Needs
/// NVRTC only, not a GPU: CI gets it from PyPI (`scripts/ensure-nvrtc.sh`, CUDA 12 and 13).
#[test]
fn kernels_compile_for_every_target_architecture() {
    for arch in ["sm_75", "sm_80", "sm_86", "sm_89", "sm_90"] {
        for source in rrs::cuda::SOURCES {
            let ptx = match rrs::cuda::ptx(source, arch) {
                Ok(ptx) => ptx,
                Err(Error::NoAdapter(why)) => {
                    eprintln!("skipped: {why}");
                    return;
                }
                Err(e) => panic!("{e}"),
            };
            assert!(ptx.contains(".entry"), "{} for {arch}", source.name);
            assert_waits_for_the_kernel_before(&ptx, arch >= "sm_90", source.name, arch);
            if source.name != "gemm" {
                continue;
            }
            let mma: &[&str] = if arch == "sm_75" {
                &[
                    "m8n8k32.row.col.s32.s4.s4.s32",
                    "m8n8k16.row.col.s32.s8.s8.s32",
                ]
            } else {
                &[
                    "m16n8k64.row.col.s32.s4.s4.s32",
                    "m16n8k32.row.col.s32.s8.s8.s32",
                ]
            };
            for m in mma {
                assert!(ptx.contains(m), "{arch}: no {m} in the GEMM's PTX");
            }
            // The tile pipeline copies asynchronously where the GPU can (sm_80+).
            let copy = "cp.async.cg.shared.global";
            assert_eq!(ptx.contains(copy), arch != "sm_75", "{arch}: {copy}");
        }
        // Hopper's warpgroup GEMM: compiled for sm_90a, a trap elsewhere.
        let source = rrs::cuda::SOURCES
            .iter()
            .find(|s| s.name == "gemm_wgmma")
            .unwrap();
        let ptx = rrs::cuda::ptx(*source, arch).unwrap();
        // Its two kernels' tiles: 64 columns without group scales, 96 with.
        for wgmma in [
            "wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8",
            "wgmma.mma_async.sync.aligned.m64n96k32.s32.s8.s8",
        ] {
            assert_eq!(ptx.contains(wgmma), arch == "sm_90", "{arch}: {wgmma}");
        }
        assert_eq!(ptx.contains(".target sm_90a"), arch == "sm_90", "{arch}");
        eprintln!("{arch}: every source compiles");
    }
}

/// Programmatic dependent launch (sm_90 and newer) lets a kernel start before the one before
/// it has finished, so every kernel entry of `ptx` must wait for it (`griddepcontrol.wait`)
/// before its first access to memory outside its registers, parameters and shared memory:
/// a kernel without the wait would read its inputs before they are written. Below sm_90
/// there is no such launch and no such instruction.
fn assert_waits_for_the_kernel_before(ptx: &str, pdl: bool, source: &str, arch: &str) {
    // Global, atomic and asynchronous accesses, and generic loads and stores (`ld.u32`, …).
    const ACCESSES: [&str; 12] = [
        "ld.global",
        "st.global",
        "cp.async",
        "atom.",
        "red.",
        "ld.u",
        "st.u",
        "ld.f",
        "st.f",
        "ld.v",
        "st.v",
        "ld.b",
    ];
    for entry in ptx.split(".entry").skip(1) {
        let name = entry.split('(').next().unwrap_or("").trim();
        let wait = entry.find("griddepcontrol.wait");
        assert_eq!(
            wait.is_some(),
            pdl,
            "{source} {name} for {arch}: griddepcontrol.wait"
        );
        let Some(wait) = wait else { continue };
        for access in ACCESSES {
            if let Some(at) = entry.find(access) {
                assert!(
                    at > wait,
                    "{source} {name} for {arch}: {access} before the wait"
                );
            }
        }
    }
}

/// The FWHT of the rows of `x` ([rows, k], f32 or f16) is `want` bit for bit, out of place
/// and in place.
fn assert_fwht_bits<T: rrs::tensor::Element>(
    ctx: &Context,
    x: &[T],
    k: usize,
    want: &[T],
    bits: fn(T) -> u32,
    what: &str,
) {
    let as_bits = |v: &[T]| common::bits(v, bits);
    let want = as_bits(want);
    let xt = Tensor::from_slice(ctx, x, &[x.len() / k, k]).unwrap();
    let y = rrs::hadamard::hadamard(ctx, &xt).unwrap();
    assert!(as_bits(&y.to_vec::<T>(ctx).unwrap()) == want, "{what}");
    rrs::hadamard::hadamard_inplace(ctx, &xt).unwrap();
    assert!(
        as_bits(&xt.to_vec::<T>(ctx).unwrap()) == want,
        "in place, {what}"
    );
}

/// The CUDA FWHT runs its butterfly stages in the CPU reference's order (ascending bits,
/// 1/sqrt(k) at the end), so its output is bit-identical: rotated methods then quantize to
/// the same codes as the CPU fake-quant path.
#[test]
fn hadamard_is_bit_exact_with_reference() {
    let Some(ctx) = cuda(CudaGemm::Int8) else {
        return;
    };
    let mut rng = Rng::new(31);
    for (m, k) in [
        (3, 8),
        (2, 64),
        (5, 576),
        (3, 1536),
        (2, 4096),
        (3, 8192),
        (2, 16384),
        (2, 20 * 256),
        (1, 32768),
        // More vectors than SMs: 2^15 runs one streaming block per SM on sm_90 and newer,
        // each block taking every SM-count-th vector.
        (301, 32768),
        // m·2^n sizes in one pass (`fwht_mixed`: chunks of 16 … 1024; small models' 576,
        // 896, 1536, 2304 and 2560 among them), and past it. Chunks of 16 and 32 take H_m
        // as masks, 2 … 9 rows a task (12·16 … 36·32).
        (3, 12 * 16),
        (3, 36 * 16),
        (2, 20 * 32),
        (2, 28 * 32),
        (2, 36 * 32),
        (4, 28 * 64),
        (5, 12 * 128),
        (2, 36 * 64),
        (2, 20 * 128),
        (3, 12 * 256),
        (2, 20 * 512),
        (3, 28 * 512),
        (2, 28 * 1024),
        (1, 36 * 1024),
        (2, 12 * 2048),
    ] {
        let x = rng.normals(m * k, 1.0);
        let want = rrs::hadamard::reference(&x, k).unwrap();
        assert_fwht_bits(&ctx, &x, k, &want, F32_BITS, &format!("m={m} k={k}"));
    }
    // f16 (converted on load, rounded once on store): the two-pass kernels (2^12 … 2^14;
    // 2^13 holds pairs at the end), an m·2^n size past the one-pass kernel (two-pass into
    // f32, then the cross pass rounds), the streaming kernel's other entry, and m·2^n sizes
    // in one pass.
    for (m, k) in [
        (3, 4096),
        (3, 8192),
        (2, 16384),
        (2, 12 * 4096),
        (301, 32768),
        (3, 20 * 16),
        (3, 36 * 16),
        (2, 28 * 32),
        (2, 36 * 32),
        (2, 12 * 128),
        (2, 28 * 128),
        (3, 20 * 256),
        (3, 28 * 512),
        (2, 12 * 1024),
        (1, 36 * 1024),
    ] {
        let x: Vec<half::f16> = rng
            .normals(m * k, 1.0)
            .into_iter()
            .map(half::f16::from_f32)
            .collect();
        let want = rrs::hadamard::reference_f16(&x, k).unwrap();
        assert_fwht_bits(&ctx, &x, k, &want, F16_BITS, &format!("f16 m={m} k={k}"));
    }
}

/// The f16 FWHT fused with the channel maxima (`fwht_max_h_13`, k = 2^13, for Runtime
/// Smooth after a rotation): the rotated rows bit-identical to the reference's, and the
/// channel maxima of its partial maxima bit-identical to those of the rotated rows, with
/// fewer rows than blocks and more (each block then takes several), channel outliers, a
/// spike and a zero row; with an Inf and a NaN the statistics of both are a `NonFinite`
/// error.
#[test]
fn fused_channel_maxima_are_bit_exact_with_reference() {
    use rrs::channel_max::{self, Order};
    let Some(ctx) = cuda(CudaGemm::Int8) else {
        return;
    };
    let mut rng = Rng::new(35);
    let k = 8192;
    for (m, special) in [(1, false), (7, true), (1500, false), (2100, true)] {
        let mut x = rng.normals(m * k, 1.0);
        for row in x.chunks_mut(k) {
            for j in (0..k).step_by(89) {
                row[j] *= 40.0;
            }
        }
        x[(m / 2) * k + 123] = 3000.0;
        if special {
            x[(m - 1) * k..].fill(0.0);
            x[5] = f32::INFINITY;
            x[k + 9] = f32::NAN;
        }
        let x16: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
        let want = rrs::hadamard::reference_f16(&x16, k).unwrap();
        let xt = Tensor::from_slice(&ctx, &x16, &[m, k]).unwrap();
        let (y, partial) = rrs::hadamard::hadamard_with_maxima(&ctx, &xt)
            .unwrap()
            .unwrap_or_else(|| panic!("k = {k}: not fused on {}", ctx.describe()));
        let what = format!("m={m} special={special}");
        // NaN bits differ between the GPU and the CPU (Inf − Inf): NaN matches any NaN.
        let y16 = y.to_vec::<half::f16>(&ctx).unwrap();
        let same = |(a, b): (&half::f16, &half::f16)| {
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
        };
        assert!(y16.iter().zip(&want).all(same), "rotated rows, {what}");
        assert!(partial.shape()[0] <= m, "{what}: {:?}", partial.shape());
        let of = |t: &Tensor| {
            channel_max::channel_max(&ctx, t, 128, Order::Sorted).map(|st| {
                let absmax = st.absmax.to_vec::<f32>(&ctx).unwrap();
                (
                    common::bits(&absmax, F32_BITS),
                    st.perm.to_vec::<u32>(&ctx).unwrap(),
                )
            })
        };
        match (of(&partial), of(&y)) {
            (Ok(got), Ok(want)) if !special => {
                assert!(got == want, "channel maxima and order, {what}")
            }
            // Inf and NaN reach the maxima of both: the statistics say so, for both.
            (Err(Error::NonFinite(_)), Err(Error::NonFinite(_))) if special => {}
            (got, want) => panic!("{what}: {:?} against {:?}", got.err(), want.err()),
        }
    }
}

/// The FWHT fused with the quantize (`cuda/rotate.cu`, k = 2^12 … 2^14): codes and row
/// scales bit-identical to the CPU reference of the rotation followed by the quantize, with a
/// permutation and group multipliers (the statistics of the rotated rows) and without
/// either (QuaRot), with channel outliers, a spike and a zero row; for f32 rows and for f16
/// rows (rotated into f16 before the codes, as the unfused FWHT stores them).
#[test]
fn fused_rotation_is_bit_exact_with_reference() {
    use rrs::channel_max;
    use rrs::quantize::{self, Smooth};
    let Some(ctx) = cuda(CudaGemm::Int8) else {
        return;
    };
    let mut rng = Rng::new(33);
    let group = 128;
    for (m, k) in [(3, 4096), (300, 4096), (5, 8192), (2, 16384), (100, 16384)] {
        assert!(
            rrs::hadamard::fuses_rotation(&ctx, k),
            "k = {k}: not fused on {}",
            ctx.describe()
        );
        let mut x = rng.normals(m * k, 1.0);
        for row in x.chunks_mut(k) {
            for j in (0..k).step_by(97) {
                row[j] *= 30.0;
            }
        }
        x[k / 2 + 7] = 5000.0;
        x[(m - 1) * k..].fill(0.0);
        // f16 rows: rotated into f16 (one rounding) before the codes, as the unfused
        // kernels store them.
        let x16: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
        let rotated16: Vec<f32> = rrs::hadamard::reference_f16(&x16, k)
            .unwrap()
            .iter()
            .map(|v| v.to_f32())
            .collect();
        let rotated32 = rrs::hadamard::reference(&x, k).unwrap();
        for (smoothed, f16) in [(true, false), (false, false), (true, true), (false, true)] {
            let rotated = if f16 { &rotated16 } else { &rotated32 };
            let (_, perm, scales) = channel_max::reference(rotated, k, group, true, None).unwrap();
            let inv = channel_max::inverse(&scales);
            let xt = if f16 {
                Tensor::from_slice(&ctx, &x16, &[m, k]).unwrap()
            } else {
                Tensor::from_slice(&ctx, &x, &[m, k]).unwrap()
            };
            let pt = Tensor::from_slice(&ctx, &perm, &[k]).unwrap();
            let it = Tensor::from_slice(&ctx, &inv, &[k / group]).unwrap();
            let smooth = Smooth {
                perm: smoothed.then_some(&pt),
                multipliers: smoothed.then_some((&it, group)),
            };
            let q = quantize::quantize_rotated(&ctx, &xt, smooth).unwrap();
            let (want_q, want_s) = quantize::reference(
                rotated,
                k,
                smoothed.then_some(&perm[..]),
                smoothed.then_some((&inv[..], group)),
            )
            .unwrap();
            let what = format!("m={m} k={k} f16={f16} smoothed={smoothed}");
            assert!(
                q.packed.to_vec::<u32>(&ctx).unwrap() == want_q,
                "codes, {what}"
            );
            let got = common::bits(&q.scales.to_vec::<f32>(&ctx).unwrap(), F32_BITS);
            assert!(got == common::bits(&want_s, F32_BITS), "row scales, {what}");
        }
    }
}

/// A GPU whose blocks have less shared memory than the H100's (sm_86 and sm_89: 99 KiB),
/// mimicked with `max_workgroup_storage` (99 KiB, and 68 KiB, what the FWHT of 2^14 takes
/// here): the FWHT of 2^15 runs as two chunks of 2^14 and a cross pass, and the
/// quantize of permuted rows of 32768 reads them without staging, and the channel sort
/// reads its keys from device memory, all still bit-exact; a cap below what a kernel needs
/// is a clear error.
#[test]
fn smaller_shared_memory_takes_the_smaller_kernels() {
    if cuda(CudaGemm::Int8).is_none() {
        return;
    }
    let capped = |bytes: u32| {
        Context::with_options(ContextOptions {
            backend: Backend::Cuda,
            cuda_gemm: Some(CudaGemm::Int8),
            max_workgroup_storage: Some(bytes),
            ..Default::default()
        })
        .unwrap()
    };
    let mut rng = Rng::new(32);
    let (m, k) = (3, 32768);
    let x = rng.normals(m * k, 1.0);
    let want = rrs::hadamard::reference(&x, k).unwrap();
    let xh: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
    let want_h = rrs::hadamard::reference_f16(&xh, k).unwrap();
    let perm = common::permutation(&mut rng, k);
    let (want_q, want_s) = rrs::quantize::reference(&x, k, Some(&perm), None).unwrap();
    let (_, want_perm, _) = rrs::channel_max::reference(&x, k, 128, true, None).unwrap();
    // The channel sort stages its k keys (128 KiB here) where they fit, else reads them from
    // device memory: the same permutation either way.
    for cap in [None, Some(101376), Some(69632)] {
        let ctx = cap.map_or_else(|| cuda(CudaGemm::Int8).unwrap(), capped);
        let xt = Tensor::from_slice(&ctx, &x, &[m, k]).unwrap();
        let order = rrs::channel_max::Order::Sorted;
        let stats = rrs::channel_max::channel_max(&ctx, &xt, 128, order).unwrap();
        let perm_got = stats.perm.to_vec::<u32>(&ctx).unwrap();
        assert!(perm_got == want_perm, "cap {cap:?}: channel order");
    }
    for cap in [101376, 69632] {
        let ctx = capped(cap);
        assert_fwht_bits(&ctx, &x, k, &want, F32_BITS, &format!("cap {cap}: f32"));
        assert_fwht_bits(&ctx, &xh, k, &want_h, F16_BITS, &format!("cap {cap}: f16"));
        let xt = Tensor::from_slice(&ctx, &x, &[m, k]).unwrap();
        let pt = Tensor::from_slice(&ctx, &perm, &[k]).unwrap();
        let smooth = rrs::quantize::Smooth {
            perm: Some(&pt),
            multipliers: None,
        };
        let q = rrs::quantize::quantize(&ctx, &xt, smooth).unwrap();
        assert_eq!(
            q.packed.to_vec::<u32>(&ctx).unwrap(),
            want_q,
            "cap {cap}: codes"
        );
        assert_eq!(
            q.scales.to_vec::<f32>(&ctx).unwrap(),
            want_s,
            "cap {cap}: scales"
        );
    }
    // Below what the FWHT of 2^12 needs (16 KiB and its padding): an error that says so.
    let ctx = capped(16384);
    let xt = Tensor::from_slice(&ctx, &vec![1f32; 4096], &[1, 4096]).unwrap();
    match rrs::hadamard::hadamard(&ctx, &xt) {
        Err(Error::Unsupported(msg)) => assert!(msg.contains("shared memory"), "{msg}"),
        other => panic!(
            "a 16 KiB cap: expected Unsupported, got {:?}",
            other.map(|_| ())
        ),
    }
}

/// The constant-memory sign tables of the one-pass m·2^n FWHT (`cuda/hadamard_signs.cuh`)
/// are the reference's H_12, H_20, H_28 and H_36 entry for entry, as ±1 and as masks of
/// the −1 entries (needs no GPU).
#[test]
fn fused_cross_signs_are_the_reference_matrices() {
    let text = include_str!("../cuda/hadamard_signs.cuh");
    for m in rrs::hadamard::FACTORS {
        let h = rrs::hadamard::small_hadamard(m);
        let head = format!("__constant__ float RRS_H{m}[{m} * {m}] = {{");
        let got: Vec<i8> = c_array(text, &head).map(|v| v.parse().unwrap()).collect();
        assert_eq!(got, h.concat(), "H_{m}");
        // Bit b of RRS_H<m>_NEG[a]: H_m[a][b] = −1.
        let head = format!("__constant__ unsigned long long RRS_H{m}_NEG[{m}] = {{");
        let got: Vec<u64> = c_array(text, &head)
            .map(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap())
            .collect();
        let want: Vec<u64> = h
            .iter()
            .map(|row| (0..m).filter(|&b| row[b] < 0).map(|b| 1u64 << b).sum())
            .collect();
        assert_eq!(got, want, "the masks of H_{m}");
    }
}

/// The entries of the C array initializer in `text` that opens with `head` (up to `};`).
fn c_array<'a>(text: &'a str, head: &str) -> impl Iterator<Item = &'a str> {
    let body = text
        .split_once(head)
        .unwrap_or_else(|| panic!("no `{head}`"))
        .1;
    let body = body.split_once("};").expect("an unterminated array").0;
    body.split(',').map(str::trim).filter(|v| !v.is_empty())
}
