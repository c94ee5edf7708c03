//! Criterion benches of every op and of the whole `RrsLinear` forward, on whatever
//! adapter `Context::new` finds. Each iteration submits the work and waits for the GPU.
//! Sizes shrink on a CPU adapter (lavapipe) so that a run stays short.

use criterion::{criterion_group, criterion_main, Criterion};
use rrs::channel_max::{self, Order};
use rrs::gemm::{self, GemmOptions};
use rrs::quantize::{self, Smooth};
use rrs::workload::{Workload, WorkloadConfig};
use rrs::{hadamard, Config, Context, Method, RrsLinear, Tensor};

fn benches(c: &mut Criterion) {
    let ctx = Context::new().expect("a GPU adapter");
    eprintln!("benches on {}", ctx.describe());
    let cpu = ctx.adapter_info().device_type == wgpu::DeviceType::Cpu;
    let (m, k, n) = if cpu {
        (256, 1024, 256)
    } else {
        (2048, 4096, 4096)
    };
    let wl = Workload::new(&WorkloadConfig {
        tokens: m,
        channels: k,
        out_features: n,
        ..Default::default()
    });
    let x = Tensor::from_slice(&ctx, &wl.x, &[m, k]).unwrap();
    let sync = |ctx: &Context| ctx.synchronize().unwrap();

    c.bench_function(&format!("hadamard {m}x{k}"), |b| {
        b.iter(|| {
            hadamard::hadamard_inplace(&ctx, &x).unwrap();
            sync(&ctx)
        })
    });
    c.bench_function(&format!("channel_max sorted {m}x{k}"), |b| {
        b.iter(|| channel_max::channel_max(&ctx, &x, 128, Order::Sorted).unwrap())
    });
    let stats = channel_max::channel_max(&ctx, &x, 128, Order::Sorted).unwrap();
    let smooth = Smooth {
        perm: Some(&stats.perm),
        multipliers: Some((&stats.inv_scales, 128)),
    };
    c.bench_function(&format!("quantize smoothed {m}x{k}"), |b| {
        b.iter(|| quantize::quantize(&ctx, &x, smooth).unwrap())
    });
    let qa = quantize::quantize(&ctx, &x, smooth).unwrap();
    let w = Tensor::from_slice(&ctx, &wl.w, &[n, k]).unwrap();
    let qw = rrs::pack_weights::pack_weights(&ctx, &w, Default::default()).unwrap();
    for (name, scales) in [("plain A4W4", None), ("RS scales", Some(&stats.scales))] {
        let opts = GemmOptions {
            group_scales: scales,
            ..GemmOptions::plain(&ctx)
        };
        c.bench_function(&format!("gemm {name} {m}x{n}x{k}"), |b| {
            b.iter(|| {
                let _y = gemm::gemm(&ctx, &qa, &qw, opts).unwrap();
                sync(&ctx)
            })
        });
    }
    for method in [Method::Rtn, Method::Rrs] {
        let layer = RrsLinear::new(&ctx, &wl.w, n, k, Config::new(method)).unwrap();
        c.bench_function(&format!("RrsLinear {} {m}x{n}x{k}", method.name()), |b| {
            b.iter(|| {
                let _y = layer.forward(&x).unwrap();
                sync(&ctx)
            })
        });
    }
}

criterion_group! {
    name = ops;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(ops);
