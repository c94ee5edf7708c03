//! The rrs demo in the browser: the entry points `web/main.js` calls (through
//! wasm-bindgen), on the page's WebGPU adapter.
//!
//! * [`start`] creates the [`rrs::Context`] and describes the adapter and the kernel
//!   variants rrs picked for it.
//! * [`run`] generates the seeded demo workload ([`rrs::workload::Workload`], the same as
//!   `examples/demo.rs` for the same parameters), runs every chosen method through
//!   [`rrs::compare::compare_async`] and returns the table and the plot data as JSON.
//!
//! Every rrs call here is an `_async` one: the page's one thread must never block.

use std::cell::RefCell;

use rrs::compare::{channel_magnitudes, compare_async, CompareOptions, MethodResult};
use rrs::gemm::Tile;
use rrs::workload::{Workload, WorkloadConfig};
use rrs::{hadamard, Context, DotKernel, Method, Reorder};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

thread_local! {
    /// The page's context, created by [`start`].
    static CTX: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// What the page asks [`run`] for (JSON; every field optional, defaults as
/// `examples/demo.rs`).
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Params {
    tokens: usize,
    channels: usize,
    out_features: usize,
    outlier_channels: usize,
    outlier_strength: f32,
    spikes: usize,
    spike_strength: f32,
    seed: u64,
    group: usize,
    reorder: String,
    methods: Vec<String>,
    iters: usize,
}

impl Default for Params {
    fn default() -> Self {
        let w = WorkloadConfig::default();
        Params {
            tokens: w.tokens,
            channels: w.channels,
            out_features: w.out_features,
            outlier_channels: w.outlier_channels,
            outlier_strength: w.outlier_strength,
            spikes: w.spikes,
            spike_strength: w.spike_strength,
            seed: w.seed,
            group: 128,
            reorder: "dynamic".into(),
            methods: Method::ALL.iter().map(|m| m.name().to_string()).collect(),
            iters: 3,
        }
    }
}

/// The adapter and the kernel variants rrs uses on it.
#[derive(Serialize)]
struct Info {
    adapter: String,
    backend: String,
    description: String,
    dot_kernel: &'static str,
    gemm_tile: String,
    decode_kernel: &'static str,
    subgroups: &'static str,
    max_workgroup_storage: u32,
    max_invocations_per_workgroup: u32,
    max_storage_binding_mib: u64,
}

/// One method's row of the table.
#[derive(Serialize)]
struct Row {
    method: &'static str,
    rel_error: f64,
    sqnr_db: Option<f64>,
    a4_rel_error: f64,
    ms: f64,
    prepare_ms: f64,
}

impl From<&MethodResult> for Row {
    fn from(r: &MethodResult) -> Self {
        Row {
            method: r.method.name(),
            rel_error: r.rel_error,
            sqnr_db: r.sqnr_db,
            a4_rel_error: r.a4_rel_error,
            ms: r.ms,
            prepare_ms: r.prepare_ms,
        }
    }
}

/// What [`run`] returns.
#[derive(Serialize)]
struct Report {
    workload: String,
    fwht_tile: usize,
    results: Vec<Row>,
    /// Mean |x| per channel: original, rotated, rotated + smoothed (reordered).
    magnitudes: [Vec<f32>; 3],
    total_ms: f64,
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn context() -> Result<Context, JsError> {
    CTX.with(|c| c.borrow().clone())
        .ok_or_else(|| JsError::new("call start() first"))
}

/// Milliseconds from the page's clock.
fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Create the context on the browser's WebGPU adapter; returns [`Info`] as JSON.
#[wasm_bindgen]
pub async fn start() -> Result<String, JsError> {
    let ctx = Context::new_async().await.map_err(js_error)?;
    let info = ctx.adapter_info();
    let limits = ctx.limits();
    let report = Info {
        adapter: if info.name.is_empty() {
            "(the browser does not name it)".into()
        } else {
            info.name.clone()
        },
        backend: format!("{:?}", info.backend),
        description: ctx.describe(),
        dot_kernel: match ctx.dot_kernel() {
            DotKernel::Dot4I8Packed => {
                "dot4I8Packed (WGSL packed_4x8_integer_dot_product is available)"
            }
            DotKernel::Portable => "portable shifts and multiplies (no dot4I8Packed here)",
        },
        gemm_tile: match Tile::best(&ctx) {
            Ok(t) => format!(
                "{t:?}: {0}×{0} outputs per workgroup, {1} bytes of workgroup memory",
                t.side(),
                t.workgroup_bytes()
            ),
            Err(e) => e.to_string(),
        },
        decode_kernel: "GEMV for up to 16 tokens (one packed weight read per output)",
        subgroups:
            "not used (WGSL subgroups need `enable subgroups;` in browsers, which naga 30 rejects)",
        max_workgroup_storage: limits.max_compute_workgroup_storage_size,
        max_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
        max_storage_binding_mib: limits.max_storage_buffer_binding_size / (1 << 20),
    };
    CTX.with(|c| *c.borrow_mut() = Some(ctx));
    serde_json::to_string(&report).map_err(js_error)
}

/// Run the comparison for `params` (JSON, see [`Params`]). `progress` is called with
/// each method's row (JSON) as soon as it is done. Returns [`Report`] as JSON.
#[wasm_bindgen]
pub async fn run(params: &str, progress: &js_sys::Function) -> Result<String, JsError> {
    let t0 = now();
    let ctx = context()?;
    let p: Params =
        serde_json::from_str(params).map_err(|e| js_error(format!("parameters: {e}")))?;
    let reorder = match p.reorder.as_str() {
        "dynamic" => Reorder::Dynamic,
        "static" => Reorder::Static,
        "none" => Reorder::None,
        other => return Err(js_error(format!("unknown reorder {other:?}"))),
    };
    let methods = p
        .methods
        .iter()
        .map(|m| Method::parse(m))
        .collect::<rrs::Result<Vec<_>>>()
        .map_err(js_error)?;
    if p.tokens == 0 || p.out_features == 0 {
        return Err(js_error("tokens and output features must be at least 1"));
    }
    let config = WorkloadConfig {
        tokens: p.tokens,
        channels: p.channels,
        out_features: p.out_features,
        outlier_channels: p.outlier_channels,
        outlier_strength: p.outlier_strength,
        spikes: p.spikes,
        spike_strength: p.spike_strength,
        seed: p.seed,
    };
    // Check the sizes before generating anything.
    let fwht_tile = hadamard::tile_for(&ctx, p.channels).map_err(js_error)?;
    hadamard::factor(p.channels).map_err(js_error)?;
    let wl = Workload::new(&config);
    let opts = CompareOptions {
        methods,
        group: p.group,
        reorder,
        iters: p.iters.max(1),
        ..CompareOptions::default()
    };
    let results = compare_async(&ctx, &wl, &opts, &now, &mut |_, _, r| {
        if let Ok(row) = serde_json::to_string(&Row::from(r)) {
            let _ = progress.call1(&JsValue::NULL, &JsValue::from_str(&row));
        }
    })
    .await
    .map_err(js_error)?;
    let report = Report {
        workload: format!(
            "{} tokens × {} channels → {} features; {} outlier channels ×{}, {} spikes ×{}, \
             seed {}; group {}, {} reorder",
            p.tokens,
            p.channels,
            p.out_features,
            p.outlier_channels,
            p.outlier_strength,
            p.spikes,
            p.spike_strength,
            p.seed,
            p.group,
            p.reorder
        ),
        fwht_tile,
        results: results.iter().map(Row::from).collect(),
        magnitudes: channel_magnitudes(&wl, p.group).map_err(js_error)?,
        total_ms: now() - t0,
    };
    serde_json::to_string(&report).map_err(js_error)
}
