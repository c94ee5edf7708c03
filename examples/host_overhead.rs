//! Host time and wall time per `RrsLinear` forward, against its GPU time: what the host
//! side (allocation, bind groups, submission) adds to a layer that is run over and over.
//!
//! `cargo run --release --example host_overhead [-- --no-pool] [--shapes 1x4096,16x8192]`.
//! For each shape (`m`x`n = k`; default 1, 16 × 4096, 8192 and 2048 × 8192) and method:
//! `host`, the time to record and submit one forward (200 in a row, without waiting);
//! `wall`, the time per forward until those 200 are done; `gpu`, the GPU timestamps of the
//! forward's work alone ([`rrs::Context::time_ms`], 10 forwards an encoder). `--no-pool`
//! turns off the reuse of freed output buffers ([`rrs::pool`]) to show what it saves.
//! Shapes too large for the adapter are skipped with a note.

use rrs::workload::Rng;
use rrs::{Config, Context, ContextOptions, Method, RrsLinear, Tensor};
use std::time::Instant;

fn main() -> rrs::Result<()> {
    let no_pool = std::env::args().any(|a| a == "--no-pool");
    let ctx = Context::with_options(ContextOptions {
        output_pool_bytes: no_pool.then_some(0),
        ..Default::default()
    })?;
    eprintln!("{} (output pool: {})", ctx.describe(), !no_pool);
    let args: Vec<String> = std::env::args().collect();
    let shapes = match args.iter().position(|a| a == "--shapes") {
        Some(i) => parse_shapes(args.get(i + 1).map_or("", String::as_str))?,
        None => vec![(1, 4096), (16, 4096), (1, 8192), (16, 8192), (2048, 8192)],
    };
    for (m, nk) in shapes {
        let mut rng = Rng::new(1);
        let w = rng.normals(nk * nk, 0.01);
        for method in [Method::Rtn, Method::Rrs] {
            let layer = match RrsLinear::new(&ctx, &w, nk, nk, Config::new(method)) {
                Err(rrs::Error::TooLarge(e)) => {
                    eprintln!("m={m} n=k={nk}: skipped ({e})");
                    continue;
                }
                other => other?,
            };
            let x = Tensor::from_slice(&ctx, &rng.normals(m * nk, 1.0), &[m, nk])?;
            for _ in 0..20 {
                layer.forward(&x)?;
            }
            ctx.synchronize()?;
            let n = 200;
            let t0 = Instant::now();
            for _ in 0..n {
                layer.forward(&x)?;
            }
            let host = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
            ctx.synchronize()?;
            let wall = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
            let gpu = ctx.time_ms(3, 10, |enc| {
                let status = rrs::tensor::status::new(&ctx)?;
                layer.encode(enc, &x, &status).map(|_| ())
            })? * 1e3;
            println!(
                "m={m} n=k={nk} {method:?}: host {host:.1} us/forward, wall {wall:.1} us/forward, \
                 gpu {gpu:.1} us"
            );
        }
    }
    Ok(())
}

/// `"1x4096,16x8192"` → `[(1, 4096), (16, 8192)]`.
fn parse_shapes(s: &str) -> rrs::Result<Vec<(usize, usize)>> {
    s.split(',')
        .map(|shape| {
            let parsed = shape
                .split_once('x')
                .and_then(|(m, nk)| Some((m.trim().parse().ok()?, nk.trim().parse().ok()?)));
            parsed.ok_or_else(|| {
                rrs::Error::Shape(format!("--shapes: `{shape}` is not MxK (e.g. 1x4096)"))
            })
        })
        .collect()
}
