//! SmolLM2 (llama architecture) from its GGUF file: weights dequantized to f32 once (the
//! full-precision reference), the byte-level BPE tokenizer built from the GGUF's vocabulary
//! and merges, and the forward pass. Every linear layer of every block goes through a
//! caller-supplied function (`Linears`), so the same pass runs FP32, rrs on the GPU, or the
//! CPU reference; embeddings, RMSNorm, RoPE, attention and the tied LM head stay in f32 here,
//! with keys and values rounded to f16 (A4W4KV16).

use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::Device;

use crate::Result;

/// The seven linear layers of a block, in the order `Layer::weights` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proj {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Proj {
    pub const ALL: [Proj; 7] = [
        Proj::Q,
        Proj::K,
        Proj::V,
        Proj::O,
        Proj::Gate,
        Proj::Up,
        Proj::Down,
    ];
    fn gguf(self) -> &'static str {
        match self {
            Proj::Q => "attn_q",
            Proj::K => "attn_k",
            Proj::V => "attn_v",
            Proj::O => "attn_output",
            Proj::Gate => "ffn_gate",
            Proj::Up => "ffn_up",
            Proj::Down => "ffn_down",
        }
    }
    /// Which input the layer reads (layers with the same site share it).
    pub fn site(self) -> usize {
        match self {
            Proj::Q | Proj::K | Proj::V => 0,
            Proj::O => 1,
            Proj::Gate | Proj::Up => 2,
            Proj::Down => 3,
        }
    }
}

/// `(layer, proj, x) -> x · Wᵀ`: how the forward pass computes each linear layer.
pub type LinearFn<'a> = dyn FnMut(usize, Proj, &[f32]) -> Result<Vec<f32>> + 'a;

/// A linear layer's f32 weights, [n, k] row-major.
pub struct Linear {
    pub w: Vec<f32>,
    pub n: usize,
    pub k: usize,
}

pub struct Block {
    pub attn_norm: Vec<f32>,
    pub ffn_norm: Vec<f32>,
    /// In the order of [`Proj::ALL`].
    pub linears: Vec<Linear>,
}

/// Hyper-parameters read from the GGUF metadata.
#[derive(Clone, Debug)]
pub struct Hparams {
    pub hidden: usize,
    pub ffn: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub rope_base: f32,
    pub eps: f32,
    pub vocab: usize,
}

/// How keys and values are stored for attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kv {
    /// Rounded to f16 (A4W4KV16, the paper's setting).
    F16,
    /// Symmetric INT4 per token in groups of `group` channels (scale = max|x| / 7).
    Int4 { group: usize },
}

/// The relative size of [`Model::hidden_jittered`]'s perturbation: 2^-22, four f32 ulp at
/// most (f16 keys and values are rounded to 2^-11).
pub const JITTER: f32 = 2.384_185_8e-7;

pub struct Model {
    pub hp: Hparams,
    pub kv: Kv,
    /// [vocab, hidden]; also the LM head (tied).
    pub embed: Vec<f32>,
    pub blocks: Vec<Block>,
    pub final_norm: Vec<f32>,
    pub tokenizer: tokenizers::Tokenizer,
}

fn meta<'a>(c: &'a Content, key: &str) -> Result<&'a Value> {
    c.metadata
        .get(key)
        .ok_or_else(|| format!("GGUF metadata has no {key}").into())
}

impl Model {
    /// Load `path`, keeping only the first `layers` blocks if given (for short tests).
    pub fn load(path: &Path, layers: Option<usize>) -> Result<Model> {
        let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
        let c = Content::read(&mut file)
            .map_err(|e| format!("reading GGUF {}: {e}", path.display()))?;
        let u = |k: &str| -> Result<usize> { Ok(meta(&c, k)?.to_u32()? as usize) };
        let f = |k: &str| -> Result<f32> { Ok(meta(&c, k)?.to_f32()?) };
        let all_layers = u("llama.block_count")?;
        let hp = Hparams {
            hidden: u("llama.embedding_length")?,
            ffn: u("llama.feed_forward_length")?,
            layers: layers.unwrap_or(all_layers).min(all_layers),
            heads: u("llama.attention.head_count")?,
            kv_heads: u("llama.attention.head_count_kv")?,
            rope_base: f("llama.rope.freq_base")?,
            eps: f("llama.attention.layer_norm_rms_epsilon")?,
            vocab: meta(&c, "tokenizer.ggml.tokens")?.to_vec()?.len(),
        };
        let mut tensor = |name: &str| -> Result<(Vec<f32>, Vec<usize>)> {
            let q = c
                .tensor(&mut file, name, &Device::Cpu)
                .map_err(|e| format!("GGUF tensor {name}: {e}"))?;
            let t = q.dequantize(&Device::Cpu)?;
            let dims = t.dims().to_vec();
            Ok((t.flatten_all()?.to_vec1::<f32>()?, dims))
        };
        let (embed, dims) = tensor("token_embd.weight")?;
        if dims != [hp.vocab, hp.hidden] {
            return Err(format!(
                "token_embd.weight is {dims:?}, expected [{}, {}]",
                hp.vocab, hp.hidden
            )
            .into());
        }
        let mut blocks = Vec::new();
        for l in 0..hp.layers {
            let mut linears = Vec::new();
            for p in Proj::ALL {
                let (w, dims) = tensor(&format!("blk.{l}.{}.weight", p.gguf()))?;
                linears.push(Linear {
                    w,
                    n: dims[0],
                    k: dims[1],
                });
            }
            blocks.push(Block {
                attn_norm: tensor(&format!("blk.{l}.attn_norm.weight"))?.0,
                ffn_norm: tensor(&format!("blk.{l}.ffn_norm.weight"))?.0,
                linears,
            });
        }
        let final_norm = tensor("output_norm.weight")?.0;
        let tokenizer = build_tokenizer(&c)?;
        Ok(Model {
            hp,
            kv: Kv::F16,
            embed,
            blocks,
            final_norm,
            tokenizer,
        })
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| e.to_string())?
            .get_ids()
            .to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(self
            .tokenizer
            .decode(ids, false)
            .map_err(|e| e.to_string())?)
    }

    /// Hidden states after the final norm for `tokens`, [T, hidden]. `linear(layer, proj,
    /// x)` computes y = x · Wᵀ for x: [T, k]; `tap(layer, site, x)` sees every linear input.
    pub fn hidden(
        &self,
        tokens: &[u32],
        linear: &mut LinearFn,
        tap: &mut dyn FnMut(usize, usize, &[f32]),
    ) -> Result<Vec<f32>> {
        self.hidden_jittered(tokens, None, linear, tap)
    }

    /// [`Model::hidden`] with every embedding element multiplied by 1 + ε, ε uniform in
    /// ±[`JITTER`] from the seed `jitter` (a few f32 ulp: a perturbation at the level of
    /// rounding, to measure how far a method's perplexity moves with rounding alone).
    pub fn hidden_jittered(
        &self,
        tokens: &[u32],
        jitter: Option<u64>,
        linear: &mut LinearFn,
        tap: &mut dyn FnMut(usize, usize, &[f32]),
    ) -> Result<Vec<f32>> {
        let hp = &self.hp;
        let (t, h) = (tokens.len(), hp.hidden);
        let mut x: Vec<f32> = tokens
            .iter()
            .flat_map(|&id| {
                self.embed[id as usize * h..(id as usize + 1) * h]
                    .iter()
                    .copied()
            })
            .collect();
        if let Some(seed) = jitter {
            let mut rng = rrs::workload::Rng::new(seed);
            for v in &mut x {
                *v *= 1.0 + JITTER * (2.0 * rng.uniform() - 1.0);
            }
        }
        for (l, b) in self.blocks.iter().enumerate() {
            let xn = rms_norm(&x, &b.attn_norm, hp.eps);
            tap(l, 0, &xn);
            let q = linear(l, Proj::Q, &xn)?;
            let k = linear(l, Proj::K, &xn)?;
            let v = linear(l, Proj::V, &xn)?;
            let attn = attention(hp, self.kv, t, q, k, v);
            tap(l, 1, &attn);
            let o = linear(l, Proj::O, &attn)?;
            for (a, d) in x.iter_mut().zip(&o) {
                *a += d;
            }
            let xn = rms_norm(&x, &b.ffn_norm, hp.eps);
            tap(l, 2, &xn);
            let g = linear(l, Proj::Gate, &xn)?;
            let u = linear(l, Proj::Up, &xn)?;
            let act: Vec<f32> = g
                .iter()
                .zip(&u)
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            tap(l, 3, &act);
            let d = linear(l, Proj::Down, &act)?;
            for (a, d) in x.iter_mut().zip(&d) {
                *a += d;
            }
        }
        Ok(rms_norm(&x, &self.final_norm, hp.eps))
    }

    /// Logits of one hidden row (the tied LM head), [vocab].
    pub fn logits(&self, hrow: &[f32]) -> Vec<f32> {
        self.embed
            .chunks(self.hp.hidden)
            .map(|e| dot(e, hrow))
            .collect()
    }

    /// Σ −log p(token[i+1] | ..i) over positions, and the count, from hidden states `hs`
    /// ([T, hidden]) of `tokens`. The LM head runs on all cores.
    pub fn nll(&self, hs: &[f32], tokens: &[u32]) -> (f64, usize) {
        let h = self.hp.hidden;
        let t = tokens.len();
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(16);
        let rows: Vec<usize> = (0..t - 1).collect();
        let parts: Vec<f64> = std::thread::scope(|s| {
            let handles: Vec<_> = rows
                .chunks((t - 1).div_ceil(threads).max(1))
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|&i| {
                                let logits = self.logits(&hs[i * h..(i + 1) * h]);
                                let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                                let lse = m as f64
                                    + logits
                                        .iter()
                                        .map(|&z| ((z - m) as f64).exp())
                                        .sum::<f64>()
                                        .ln();
                                lse - logits[tokens[i + 1] as usize] as f64
                            })
                            .sum::<f64>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        (parts.iter().sum(), t - 1)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums: lets the compiler vectorize.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

/// y = x · Wᵀ on the CPU (FP32 linears for generation checks).
pub fn matmul(x: &[f32], w: &Linear) -> Vec<f32> {
    x.chunks(w.k)
        .flat_map(|row| w.w.chunks(w.k).map(move |wr| dot(row, wr)))
        .collect()
}

fn rms_norm(x: &[f32], g: &[f32], eps: f32) -> Vec<f32> {
    let h = g.len();
    x.chunks(h)
        .flat_map(|row| {
            let ms = row.iter().map(|v| v * v).sum::<f32>() / h as f32;
            let r = 1.0 / (ms + eps).sqrt();
            row.iter().zip(g).map(move |(v, g)| v * r * g)
        })
        .collect()
}

/// Rotary embedding on adjacent pairs (2i, 2i+1) of each head (llama.cpp's layout: the
/// GGUF converter permutes the Q and K rows for it).
fn rope(x: &mut [f32], t: usize, heads: usize, d: usize, base: f32) {
    for pos in 0..t {
        for hd in 0..heads {
            let v = &mut x[(pos * heads + hd) * d..(pos * heads + hd + 1) * d];
            for i in 0..d / 2 {
                let theta = pos as f32 * base.powf(-2.0 * i as f32 / d as f32);
                let (s, c) = theta.sin_cos();
                let (a, b) = (v[2 * i], v[2 * i + 1]);
                v[2 * i] = a * c - b * s;
                v[2 * i + 1] = a * s + b * c;
            }
        }
    }
}

/// K or V as stored: f16, or INT4 in groups (each token's row is a multiple of the group).
fn store_kv(x: &mut [f32], kv: Kv) {
    match kv {
        Kv::F16 => {
            for a in x.iter_mut() {
                *a = half::f16::from_f32(*a).to_f32();
            }
        }
        Kv::Int4 { group } => {
            for g in x.chunks_mut(group) {
                let amax = g.iter().fold(0f32, |m, v| m.max(v.abs()));
                if amax > 0.0 {
                    let (s, inv) = (amax / 7.0, 7.0 / amax);
                    for a in g.iter_mut() {
                        *a = (*a * inv).round_ties_even().clamp(-8.0, 7.0) * s;
                    }
                }
            }
        }
    }
}

/// Causal multi-head attention with grouped KV heads; K (after RoPE) and V as stored.
fn attention(
    hp: &Hparams,
    kv: Kv,
    t: usize,
    mut q: Vec<f32>,
    mut k: Vec<f32>,
    mut v: Vec<f32>,
) -> Vec<f32> {
    let d = hp.hidden / hp.heads;
    rope(&mut q, t, hp.heads, d, hp.rope_base);
    rope(&mut k, t, hp.kv_heads, d, hp.rope_base);
    store_kv(&mut k, kv);
    store_kv(&mut v, kv);
    let group = hp.heads / hp.kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let mut out = vec![0f32; t * hp.hidden];
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(hp.heads);
    let heads: Vec<usize> = (0..hp.heads).collect();
    let per_head: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = heads
            .chunks(hp.heads.div_ceil(threads))
            .map(|hs| {
                let (q, k, v) = (&q, &k, &v);
                s.spawn(move || {
                    hs.iter()
                        .map(|&hd| {
                            let kvh = hd / group;
                            let mut o = vec![0f32; t * d];
                            let mut p = vec![0f32; t];
                            for i in 0..t {
                                let qi = &q[(i * hp.heads + hd) * d..][..d];
                                let mut m = f32::NEG_INFINITY;
                                for j in 0..=i {
                                    p[j] = dot(qi, &k[(j * hp.kv_heads + kvh) * d..][..d]) * scale;
                                    m = m.max(p[j]);
                                }
                                let mut sum = 0.0;
                                for pj in p[..=i].iter_mut() {
                                    *pj = (*pj - m).exp();
                                    sum += *pj;
                                }
                                let oi = &mut o[i * d..(i + 1) * d];
                                for j in 0..=i {
                                    let w = p[j] / sum;
                                    let vj = &v[(j * hp.kv_heads + kvh) * d..][..d];
                                    for (a, b) in oi.iter_mut().zip(vj) {
                                        *a += w * b;
                                    }
                                }
                            }
                            o
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for (hd, o) in per_head.iter().enumerate() {
        for i in 0..t {
            out[i * hp.hidden + hd * d..][..d].copy_from_slice(&o[i * d..(i + 1) * d]);
        }
    }
    out
}

/// The byte-level BPE tokenizer from the GGUF's vocabulary and merges, with SmolLM2's
/// pre-tokenization (digits split one by one, then GPT-2's byte-level regex) and the special
/// tokens (`<|endoftext|>`, `<|im_start|>`, …) matched whole.
fn build_tokenizer(c: &Content) -> Result<tokenizers::Tokenizer> {
    use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
    use tokenizers::models::bpe::BPE;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::pre_tokenizers::digits::Digits;
    use tokenizers::pre_tokenizers::sequence::Sequence;
    use tokenizers::{AddedToken, PreTokenizerWrapper};

    let tokens: Vec<String> = meta(c, "tokenizer.ggml.tokens")?
        .to_vec()?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<std::result::Result<_, _>>()?;
    let merges: Vec<(String, String)> = meta(c, "tokenizer.ggml.merges")?
        .to_vec()?
        .iter()
        .map(|v| {
            let s = v.to_string()?;
            let (a, b) = s
                .split_once(' ')
                .ok_or_else(|| candle_core::Error::Msg(format!("bad merge {s:?}")))?;
            Ok((a.to_string(), b.to_string()))
        })
        .collect::<std::result::Result<_, candle_core::Error>>()?;
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| format!("building the BPE model: {e}"))?;
    let mut tok = tokenizers::Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ])));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    let types = meta(c, "tokenizer.ggml.token_type")
        .ok()
        .and_then(|v| v.to_vec().ok());
    let special: Vec<AddedToken> = tokens
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            // GGUF token type 3 = control; fall back to the <|…|> spelling.
            types
                .and_then(|ty| ty.get(*i))
                .and_then(|v| v.to_i32().ok())
                .map_or(t.starts_with("<|") && t.ends_with("|>"), |ty| ty == 3)
        })
        .map(|(_, t)| AddedToken::from(t.clone(), true))
        .collect();
    tok.add_special_tokens(&special);
    Ok(tok)
}
