//! The RRS chain op by op, each GPU result checked against its CPU reference:
//! rotate → channel max + reorder + group scales → smooth + quantize + pack → GEMM.
//!
//! `cargo run --release --example ops`

use rrs::channel_max::{self, Order};
use rrs::gemm::{self, GemmOptions};
use rrs::pack_weights::{self, WeightPrep};
use rrs::quantize::{self, Smooth};
use rrs::workload::{rel_error, Workload, WorkloadConfig};
use rrs::{hadamard, Context, Tensor};

fn main() -> rrs::Result<()> {
    let wl = Workload::new(&WorkloadConfig {
        tokens: 32,
        channels: 512,
        out_features: 64,
        ..Default::default()
    });
    let (m, k, n, group) = (32, 512, 64, 128);
    let ctx = Context::new()?;
    println!("adapter: {}", ctx.describe());

    let x = Tensor::from_slice(&ctx, &wl.x, &[m, k])?;
    let xr = hadamard::hadamard(&ctx, &x)?;
    let xr_cpu = hadamard::reference(&wl.x, k)?;
    println!(
        "hadamard:    rel diff vs CPU {:.2e}",
        rel_error(&xr.to_vec(&ctx)?, &xr_cpu)
    );

    let stats = channel_max::channel_max(&ctx, &xr, group, Order::Sorted)?;
    let (_, perm, scales) = channel_max::reference(&xr.to_vec(&ctx)?, k, group, true, None)?;
    println!(
        "channel_max: permutation equal: {}, group scales {:?}",
        stats.perm.to_vec::<u32>(&ctx)? == perm,
        stats.scales.to_vec::<f32>(&ctx)?
    );
    assert_eq!(stats.scales.to_vec::<f32>(&ctx)?, scales);

    let smooth = Smooth {
        perm: Some(&stats.perm),
        multipliers: Some((&stats.inv_scales, group)),
    };
    let qa = quantize::quantize(&ctx, &xr, smooth)?;
    let packed: Vec<u32> = qa.packed.to_vec(&ctx)?;
    println!(
        "quantize:    first word {:#010x} = codes {:?}",
        packed[0],
        &quantize::unpack(&packed[..1])
    );

    let w = Tensor::from_slice(&ctx, &wl.w, &[n, k])?;
    let prep = WeightPrep {
        rotate: true,
        ..Default::default()
    };
    let qw = pack_weights::pack_weights(&ctx, &w, prep)?;
    let opts = GemmOptions {
        group,
        group_scales: Some(&stats.scales),
        weight_perm: Some(&stats.perm),
        dot: ctx.dot_kernel(),
        tile: None,
    };
    let y = gemm::gemm(&ctx, &qa, &qw, opts)?.to_vec::<f32>(&ctx)?;
    let exact = rrs::matmul::reference(&wl.x, &wl.w, k);
    println!(
        "gemm:        RRS output vs f32, rel error {:.4}",
        rel_error(&y, &exact)
    );
    Ok(())
}
