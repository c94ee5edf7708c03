//! The main job: every method on an embedded LLM-like workload, on the GPU.
//!
//! ```text
//! cargo run --release --example demo -- [--tokens 2048] [--channels 4096] [--out-features 1024]
//!     [--outlier-channels 16] [--outlier-strength 60] [--spikes 16] [--spike-strength 1000]
//!     [--group 128] [--reorder dynamic|static|none] [--seed 0] [--iters N]
//!     [--svg rrs-demo.svg] [--json]
//! ```
//! Prints, per method: the relative output error vs FP32 and SQNR of the GPU A4W4 layer,
//! the activation-only error (A4 with f32 weights, CPU reference, on the first
//! `A4_COLUMNS` output features) and the median time of a forward pass. `--json` prints
//! one JSON object per line instead. Writes an SVG with the error per method and the
//! per-channel magnitude of the activations before and after rotation and smoothing.

use std::time::Instant;

use plotters::prelude::*;
use rrs::compare::{channel_magnitudes, compare, CompareOptions, MethodResult};
use rrs::workload::{Workload, WorkloadConfig};
use rrs::{Context, Method, Reorder};

/// Output features used for the CPU activation-only error (keeps the CPU work small).
const A4_COLUMNS: usize = 128;

struct Args {
    workload: WorkloadConfig,
    group: usize,
    reorder: Reorder,
    iters: Option<usize>,
    svg: String,
    json: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: demo [--tokens N] [--channels K] [--out-features N] [--outlier-channels N] \
         [--outlier-strength X] [--spikes N] [--spike-strength X] [--group G] \
         [--reorder dynamic|static|none] [--seed S] [--iters N] [--svg PATH] [--json]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        workload: WorkloadConfig::default(),
        group: 128,
        reorder: Reorder::Dynamic,
        iters: None,
        svg: "rrs-demo.svg".into(),
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            a.json = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            usage();
        }
        let Some(v) = it.next() else { usage() };
        let num = |v: &str| -> f64 {
            v.parse().unwrap_or_else(|_| {
                eprintln!("{flag}: not a number: {v}");
                usage()
            })
        };
        let w = &mut a.workload;
        match flag.as_str() {
            "--tokens" => w.tokens = num(&v) as usize,
            "--channels" => w.channels = num(&v) as usize,
            "--out-features" => w.out_features = num(&v) as usize,
            "--outlier-channels" => w.outlier_channels = num(&v) as usize,
            "--outlier-strength" => w.outlier_strength = num(&v) as f32,
            "--spikes" => w.spikes = num(&v) as usize,
            "--spike-strength" => w.spike_strength = num(&v) as f32,
            "--seed" => w.seed = num(&v) as u64,
            "--group" => a.group = num(&v) as usize,
            "--iters" => a.iters = Some(num(&v) as usize),
            "--svg" => a.svg = v,
            "--reorder" => {
                a.reorder = match v.as_str() {
                    "dynamic" => Reorder::Dynamic,
                    "static" => Reorder::Static,
                    "none" => Reorder::None,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    a
}

/// SQNR with `digits` decimals; FP32 is the reference itself, its SQNR infinite: `none`.
fn sqnr_text(r: &MethodResult, digits: usize, none: &str) -> String {
    r.sqnr_db
        .map_or(none.to_string(), |v| format!("{v:.digits$}"))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> rrs::Result<()> {
    let args = parse_args();
    let c = &args.workload;
    let ctx = Context::new()?;
    let slow = ctx.adapter_info().device_type == wgpu::DeviceType::Cpu;
    let iters = args.iters.unwrap_or(if slow { 1 } else { 5 });
    eprintln!("adapter: {}", ctx.describe());
    eprintln!(
        "workload: {} tokens × {} channels → {} features; {} outlier channels ×{}, {} spikes ×{}, \
         seed {}; group {}, {:?} reorder{}",
        c.tokens,
        c.channels,
        c.out_features,
        c.outlier_channels,
        c.outlier_strength,
        c.spikes,
        c.spike_strength,
        c.seed,
        args.group,
        args.reorder,
        if slow {
            " (CPU adapter: this takes a few minutes)"
        } else {
            ""
        }
    );
    let wl = Workload::new(c);
    let opts = CompareOptions {
        group: args.group,
        reorder: args.reorder,
        iters,
        a4_columns: A4_COLUMNS,
        ..CompareOptions::default()
    };
    let start = Instant::now();
    let now = || start.elapsed().as_secs_f64() * 1e3;
    let rows = compare(&ctx, &wl, &opts, &now, &mut |i, count, r| {
        eprintln!(
            "[{}/{count}] {:<12} prepared + first run {:>7.0} ms, forward {:>8.2} ms, rel error {:.4}",
            i + 1,
            r.method.name(),
            r.prepare_ms,
            r.ms,
            r.rel_error
        );
    })?;
    if args.json {
        for r in &rows {
            let sqnr = sqnr_text(r, 3, "null");
            println!(
                "{{\"method\":\"{}\",\"rel_error\":{:.6},\"sqnr_db\":{sqnr},\"ms\":{:.3},\"a4_rel_error\":{:.6}}}",
                r.method.name(),
                r.rel_error,
                r.ms,
                r.a4_rel_error
            );
        }
    } else {
        println!(
            "\n{:<12} {:>16} {:>10} {:>18} {:>12}",
            "method", "rel error A4W4", "SQNR dB", "rel error A4 only", "time ms"
        );
        for r in &rows {
            let sqnr = sqnr_text(r, 2, "-");
            println!(
                "{:<12} {:>16.4} {:>10} {:>18.4} {:>12.2}",
                r.method.name(),
                r.rel_error,
                sqnr,
                r.a4_rel_error,
                r.ms
            );
        }
    }
    plot(&args, &wl, &rows)?;
    eprintln!("wrote {}", args.svg);
    Ok(())
}

fn plot(args: &Args, wl: &Workload, rows: &[MethodResult]) -> rrs::Result<()> {
    let err = |e: &dyn std::fmt::Display| rrs::Error::InvalidArgument(format!("plot: {e}"));
    let mags = channel_magnitudes(wl, args.group)?;
    let root = SVGBackend::new(&args.svg, (1100, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(380);

    // Error per method (quantized methods only).
    let q: Vec<&MethodResult> = rows.iter().filter(|r| r.method != Method::Fp32).collect();
    let ymax = q
        .iter()
        .map(|r| r.rel_error.max(r.a4_rel_error))
        .fold(0.0, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            "Relative output error vs FP32 (lower is better)",
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..q.len() as f64, 0f64..ymax.max(1e-6))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .draw()
        .map_err(|e| err(&e))?;
    for (i, r) in q.iter().enumerate() {
        let x = i as f64;
        chart
            .draw_series([
                Rectangle::new([(x + 0.1, 0.0), (x + 0.48, r.rel_error)], BLUE.filled()),
                Rectangle::new(
                    [(x + 0.52, 0.0), (x + 0.9, r.a4_rel_error)],
                    RED.mix(0.6).filled(),
                ),
            ])
            .map_err(|e| err(&e))?;
        let label = format!(
            "{} {:.3} / {:.3}",
            r.method.name(),
            r.rel_error,
            r.a4_rel_error
        );
        let y = r.rel_error.max(r.a4_rel_error) + ymax * 0.07;
        chart
            .draw_series([Text::new(label, (x + 0.08, y), ("sans-serif", 15))])
            .map_err(|e| err(&e))?;
    }
    chart
        .draw_series([Rectangle::new([(0.0, 0.0), (0.0, 0.0)], BLUE.filled())])
        .map_err(|e| err(&e))?
        .label("A4W4 (GPU)")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], BLUE.filled()));
    chart
        .draw_series([Rectangle::new(
            [(0.0, 0.0), (0.0, 0.0)],
            RED.mix(0.6).filled(),
        )])
        .map_err(|e| err(&e))?
        .label("A4, f32 weights (CPU reference)")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], RED.mix(0.6).filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;

    // Per-channel magnitude.
    let k = wl.config.channels;
    let hi = mags.iter().flatten().fold(1e-3f32, |m, v| m.max(*v)) * 2.0;
    let lo = mags
        .iter()
        .flatten()
        .fold(f32::MAX, |m, v| m.min(*v))
        .max(1e-4)
        * 0.5;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "Mean |x| per channel over tokens: original, rotated, rotated + smoothed (reordered)",
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0..k, (lo..hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("channel")
        .draw()
        .map_err(|e| err(&e))?;
    let series = [
        ("original", RED.mix(0.7)),
        ("rotated (Hadamard)", BLUE.mix(0.7)),
        ("rotated + runtime smooth", GREEN.mix(0.9)),
    ];
    for ((name, color), m) in series.into_iter().zip(&mags) {
        chart
            .draw_series(LineSeries::new(
                m.iter().enumerate().map(|(j, v)| (j, v.max(lo))),
                color,
            ))
            .map_err(|e| err(&e))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
