//! [`Context`]: the adapter, device and queue, the pipeline cache, and the shared helpers
//! every op uses to bind buffers, dispatch and read back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::pool::Pool;
use crate::tensor::{DType, Tensor};

/// Which runtime checks naga adds to the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShaderChecks {
    /// wgpu's defaults: index clamping on every array access and a counter in every loop.
    All,
    /// Index clamping, but no loop counters (every loop in rrs's kernels is bounded by a
    /// uniform parameter; the counters can stop the driver from unrolling). The FWHT kernels,
    /// whose indices are in range by construction, also run without clamping (30–50% faster
    /// on the H100).
    NoLoopBounding,
    /// No runtime checks. Out-of-range indices are ruled out by the host-side shape checks
    /// of every op, but a kernel bug would then read or write out of bounds.
    None,
}

impl ShaderChecks {
    /// From `RRS_SHADER_CHECKS` (`all`, `no-loop-bounding` or `none`); default
    /// `NoLoopBounding`: on the H100 the loop counters cost the GEMM 6.7× (9.9 vs 67 TOPS
    /// at 8192³) while index clamping costs nothing measurable.
    pub fn from_env() -> Self {
        match std::env::var("RRS_SHADER_CHECKS").as_deref() {
            Ok("none") => ShaderChecks::None,
            Ok("all") => ShaderChecks::All,
            _ => ShaderChecks::NoLoopBounding,
        }
    }
}

/// Which INT4 dot-product code the GEMM uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DotKernel {
    /// `dot4I8Packed` on nibbles expanded to i8×4 (native dp4a where the adapter has it).
    Dot4I8Packed,
    /// Shifts and multiplies only; works everywhere.
    Portable,
}

/// A WGSL kernel: shader source pieces (concatenated in order) and an entry point.
/// Pipelines are cached by `(name, entry)`, so `name` must identify the source.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernel {
    pub name: &'static str,
    pub sources: &'static [&'static str],
    pub entry: &'static str,
    /// Whether naga's index clamping stays on (unless [`ShaderChecks::All`] asks for every
    /// check). `false` only for kernels whose every index is in range by construction.
    pub bounds_checks: bool,
}

/// A compiled kernel: its pipeline and the layout of its bind group 0.
pub(crate) struct Compiled {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Compiled kernels by (shader name, entry point).
type PipelineCache = HashMap<(&'static str, &'static str), Arc<Compiled>>;

/// Constant buffers by (usage bits, contents).
type ConstantCache = HashMap<(u32, Vec<u8>), wgpu::Buffer>;

/// Most identity permutations a context keeps ([`Context::identity_perm`]; a model has a
/// few layer widths); past it the cache starts over.
const MAX_IDENTITIES: usize = 64;

/// Most constant buffers a context keeps ([`Context::constant`]; a model's layers need a
/// few dozen); past it the cache starts over.
const MAX_CONSTANTS: usize = 4096;

/// The device every op runs on: a wgpu adapter, device and queue with a cache of compute
/// pipelines, or (with the `cuda` feature and [`Backend::Cuda`]) a CUDA device with its
/// NVRTC-compiled kernels. Tensors and ops are the same on both.
///
/// Create it once and share it (`Context` is `Send + Sync`); every op takes `&Context`.
#[derive(Clone)]
pub struct Context {
    /// The wgpu device; `None` on the CUDA backend.
    wgpu: Option<Gpu>,
    /// The CUDA device; `None` on the wgpu backend.
    #[cfg(feature = "cuda")]
    pub(crate) cuda: Option<Arc<crate::cuda::Device>>,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    dot_kernel: DotKernel,
    /// The subgroup sizes (min, max) the WGSL kernels may rely on: `Some` where the device
    /// was created with `Features::SUBGROUP` and [`ContextOptions::disable_subgroups`] is off.
    subgroups: Option<(u32, u32)>,
    /// The GEMMs run on tensor cores ([`ContextOptions::disable_cooperative_matrix`]).
    coop: bool,
    /// The adapter offered cooperative matrices but the startup check failed.
    coop_failed: bool,
    checks: ShaderChecks,
    /// Identity permutations by length, uploaded once ([`Context::identity_perm`]).
    identities: Arc<Mutex<HashMap<usize, Tensor>>>,
    /// Unique per device (clones share it): tensors remember it, ops check it.
    pub(crate) id: u64,
}

/// The wgpu side of a [`Context`].
#[derive(Clone)]
pub(crate) struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pipelines: Arc<Mutex<PipelineCache>>,
    /// Read-only buffers by usage and contents (kernel parameters, sign tables), written
    /// once: a layer run again binds the same ones instead of creating and writing a
    /// buffer per dispatch.
    constants: Arc<Mutex<ConstantCache>>,
    /// The first uncaptured device error or device loss, reported by the next readback.
    fault: Arc<Mutex<Option<String>>>,
    /// Set once the device is lost: every later call fails with it.
    lost: Arc<Mutex<Option<String>>>,
    /// A small storage buffer bound where a kernel's optional input is unused.
    pub dummy: wgpu::Buffer,
    /// Free op-output buffers for reuse ([`crate::pool`]).
    pub pool: Arc<Pool>,
}

/// Which implementation runs the kernels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// WGSL compute shaders through wgpu (Vulkan, Metal, DX12, WebGPU).
    #[default]
    Wgpu,
    /// Hand-written CUDA kernels for NVIDIA GPUs (the `cuda` feature; without it, asking for
    /// this is an [`Error::Unsupported`] that says how to get it, and without a CUDA driver an
    /// [`Error::NoAdapter`] naming what is missing).
    Cuda,
}

/// Options of [`Context::with_options`].
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    /// Which implementation runs the kernels; default [`Backend::Wgpu`].
    pub backend: Backend,
    /// Backends to look for an adapter on; default: `WGPU_BACKEND`, else Vulkan, Metal,
    /// DX12 and WebGPU.
    pub backends: Option<wgpu::Backends>,
    /// Cap on the workgroup memory kernels may use, in bytes (e.g. 16384, WebGPU's
    /// default, to exercise the small tiles); default: the adapter's limit. On CUDA, the
    /// shared memory a block may have, below the device's opt-in maximum (e.g. 101376, an
    /// sm_86 or sm_89 GPU's, or 65536, sm_75's): the FWHT of 2^15 and the staged quantize
    /// then take their smaller variants as on such a GPU, and a kernel that needs more than
    /// the cap is an [`Error::Unsupported`] naming both.
    pub max_workgroup_storage: Option<u32>,
    /// CUDA device ordinal (the `cuda` feature); default 0.
    pub cuda_ordinal: usize,
    /// Keep the WGSL kernels off subgroup operations even where the adapter has them: the
    /// device is created without `Features::SUBGROUP` and the probe does not run (the FWHT's
    /// first pass then exchanges through workgroup memory only; for A/B runs).
    pub disable_subgroups: bool,
    /// Force a CUDA GEMM path (to test both on one GPU); default: by compute capability,
    /// also settable with `RRS_CUDA_GEMM=int4|int8|wgmma`.
    pub cuda_gemm: Option<CudaGemm>,
    /// Cap on the bytes of free op-output buffers the context keeps for reuse
    /// ([`crate::pool`]); default [`crate::pool::DEFAULT_BYTES`] (1 GiB, 256 MiB in
    /// browsers); 0 turns reuse off.
    pub output_pool_bytes: Option<u64>,
    /// Keep the GEMMs off tensor cores even where the adapter offers wgpu's experimental
    /// cooperative matrices (also `RRS_COOP_MATRIX=0`; for A/B runs, or to stay off a
    /// feature that wgpu marks experimental). By default a context uses them where the
    /// adapter offers 16 × 16 × 16 f16 → f32 matrices, subgroups of exactly 32 and 44 KiB
    /// of workgroup memory ([`crate::gemm::COOP_WORKGROUP_BYTES`], after
    /// `max_workgroup_storage`), and a
    /// startup check of both kernels against exact integer sums passes: the GEMM for
    /// m > 16 (`shaders/gemm_coop.wgsl`) and decode for 12 ≤ m ≤ 16
    /// (`shaders/gemv_coop.wgsl`). [`Context::cooperative_matrix`] says whether it does.
    pub disable_cooperative_matrix: bool,
}

/// The features the cooperative-matrix kernels need.
const COOP_FEATURES: wgpu::Features =
    wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX.union(wgpu::Features::SHADER_F16);

/// Whether `adapter` offers what the cooperative-matrix kernels (`shaders/gemm_coop.wgsl`,
/// `shaders/gemv_coop.wgsl`) need: the features and a 16 × 16 × 16 f16 → f32
/// configuration (subgroups are checked once the device exists).
fn coop_matrix_offered(adapter: &wgpu::Adapter) -> bool {
    adapter.features().contains(COOP_FEATURES)
        && adapter.cooperative_matrix_properties().iter().any(|p| {
            (p.m_size, p.n_size, p.k_size) == (16, 16, 16)
                && p.ab_type == wgpu::CooperativeScalarType::F16
                && p.cr_type == wgpu::CooperativeScalarType::F32
        })
}

/// The tensor-core path of the CUDA GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CudaGemm {
    /// INT4 tensor cores, `mma.sync.aligned.m16n8k64.row.col.s32.s4.s4.s32`: the default on
    /// sm_75 to sm_89 (Turing, Ampere, Ada). Hopper emulates it (slow, but correct).
    Int4,
    /// INT4 unpacked to INT8 in registers, then `mma.sync.aligned.m16n8k32 … s8.s8`:
    /// the default after sm_90 (no INT4 tensor cores); needs sm_80 or newer.
    Int8,
    /// The default on Hopper (sm_90 only; compiled for `sm_90a`): a producer warpgroup
    /// unpacks W's INT4 to INT8 in shared memory, two consumer warpgroups unpack A's into
    /// registers and run `wgmma.mma_async.m64n128k32 … s8.s8`. It takes the prefill GEMMs
    /// whose k is a multiple of 128 with groups of 128 (or no group scales and k ≤ 65536);
    /// every other shape runs as on [`CudaGemm::Int8`].
    Wgmma,
}

/// How to install a software Vulkan driver where no GPU adapter exists.
#[cfg(not(target_arch = "wasm32"))]
const NO_ADAPTER_HINT: &str = "install a Vulkan driver; on a machine without a GPU, \
     Mesa's lavapipe CPU driver works: `apt-get install mesa-vulkan-drivers` (Debian/Ubuntu)";
/// How to get WebGPU in a browser.
#[cfg(target_arch = "wasm32")]
const NO_ADAPTER_HINT: &str = "this browser offers no WebGPU adapter: use a browser with \
     WebGPU enabled (Chrome or Edge 113+, Safari 26+, Firefox 141+ on Windows), or start \
     Chromium with --enable-unsafe-webgpu (plus --enable-features=Vulkan where it has no GPU)";

/// The error for a failed adapter request: natively wgpu's message (which names the
/// backends it tried) and then the hint; in a browser the hint first, since wgpu's message
/// lists native backends that a page never has.
fn no_adapter(e: wgpu::RequestAdapterError) -> Error {
    if cfg!(target_arch = "wasm32") {
        Error::NoAdapter(format!("{NO_ADAPTER_HINT} (wgpu: {e})"))
    } else {
        Error::NoAdapter(format!("{e}; {NO_ADAPTER_HINT}"))
    }
}

impl Context {
    /// Create a context on the best adapter available, blocking the current thread.
    pub fn new() -> Result<Self> {
        block_on(Self::new_async())
    }

    /// Create a context on the best adapter available.
    pub async fn new_async() -> Result<Self> {
        Self::with_options_async(ContextOptions::default()).await
    }

    /// Create a context with options, blocking the current thread.
    pub fn with_options(options: ContextOptions) -> Result<Self> {
        block_on(Self::with_options_async(options))
    }

    /// Create a context with options.
    pub async fn with_options_async(options: ContextOptions) -> Result<Self> {
        if options.backend == Backend::Cuda {
            #[cfg(feature = "cuda")]
            return crate::cuda::Device::open(
                options.cuda_ordinal,
                options.cuda_gemm,
                options.max_workgroup_storage,
            )
            .map(|d| Self::on_cuda(Arc::new(d)));
            #[cfg(not(feature = "cuda"))]
            return Err(Error::Unsupported(
                "the CUDA backend is not in this build of rrs: build with `--features cuda` \
                 (NVIDIA GPUs also run the default wgpu backend through Vulkan)"
                    .into(),
            ));
        }
        // In a browser without WebGPU (no `navigator.gpu`, or a null adapter) wgpu 30's
        // WebGPU backend fails `request_adapter` like any other missing adapter, so no
        // separate support check (which would request an adapter of its own) is needed.
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if let Some(b) = options.backends {
            desc.backends = b;
        } else if std::env::var_os("WGPU_BACKEND").is_none() {
            desc.backends = wgpu::Backends::PRIMARY;
        }
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(no_adapter)?;
        let packed_dot = instance
            .wgsl_language_features()
            .contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct);
        let subgroups = !options.disable_subgroups;
        let coop = !options.disable_cooperative_matrix
            && !matches!(std::env::var("RRS_COOP_MATRIX").as_deref(), Ok("0"));
        let mut ctx = Self::on_adapter(
            adapter,
            packed_dot,
            options.max_workgroup_storage,
            subgroups,
            coop,
        )
        .await?;
        if let (Some(bytes), Some(g)) = (options.output_pool_bytes, ctx.wgpu.as_mut()) {
            g.pool = Pool::new(bytes);
        }
        Ok(ctx)
    }

    /// Whether the adapter's subgroups number a workgroup's invocations the way the
    /// subgroup kernels assume (`shaders/subgroup_probe.wgsl`): full subgroups, and
    /// subgroup_id · size + lane a permutation of the invocations.
    async fn subgroups_are_full(&self) -> Result<bool> {
        const INVOCATIONS: usize = 256;
        const PROBE: Kernel = Kernel {
            name: "subgroup_probe",
            sources: &[include_str!("../shaders/subgroup_probe.wgsl")],
            entry: "probe",
            bounds_checks: true,
        };
        let numbers = Tensor::zeros(self, DType::U32, &[INVOCATIONS])?;
        let params = [INVOCATIONS as u32, 0, 0, 0];
        self.record(|enc| {
            let bufs = [(1, numbers.buffer())];
            self.dispatch(&mut Rec::wgpu(enc), PROBE, &params, &bufs, [1, 1, 1])
        })?;
        let mut got: Vec<u32> = numbers.to_vec_async(self).await?;
        got.sort_unstable();
        Ok(got.into_iter().eq(0..INVOCATIONS as u32))
    }

    /// Whether both cooperative-matrix kernels give the exact sums of a small GEMM (48 rows
    /// for `gemm_coop.wgsl`, 16 for `gemv_coop.wgsl`; 24 columns, k = 256, every code
    /// value), with unit scales and with two group scales that are powers of two (every
    /// order of summation, and the tiled kernel's Horner form, is then exact). A check of
    /// the driver's experimental feature, layouts and scalar products included, before the
    /// context relies on it.
    async fn coop_sums_are_exact(&self) -> Result<bool> {
        use crate::gemm::{self, GemmOptions};
        let (n, k, group) = (24, 256, 128);
        let mut rng = crate::workload::Rng::new(5);
        // `rows` random packed rows with unit row scales: the words and the operand.
        let mut operand = |rows: usize| -> Result<(Vec<u32>, crate::Quantized)> {
            let words: Vec<u32> = (0..rows * k / 8).map(|_| rng.next_u64() as u32).collect();
            let q = crate::Quantized {
                packed: Tensor::from_slice(self, &words, &[rows, k / 8])?,
                scales: Tensor::from_slice(self, &vec![1f32; rows], &[rows])?,
                rows,
                k,
            };
            Ok((words, q))
        };
        let (qw, w) = operand(n)?;
        let scales = [0.25, 8.0];
        let group_scales = Tensor::from_slice(self, &scales, &[k / group])?;
        for m in [48, 16] {
            let (qa, a) = operand(m)?;
            let plain = GemmOptions {
                group,
                ..GemmOptions::plain(self)
            };
            let scaled = GemmOptions {
                group_scales: Some(&group_scales),
                ..plain
            };
            let p = gemm::partial_sums(&qa, &qw, k, group, None);
            for (opts, s) in [(plain, [1.0; 2]), (scaled, scales)] {
                let y: Vec<f32> = gemm::gemm(self, &a, &w, opts)?.to_vec_async(self).await?;
                // Σ_g s_g·P_g: integers times powers of two below 2^24, exact in f32.
                let want = p
                    .chunks(k / group)
                    .map(|pg| pg.iter().zip(s).map(|(v, s)| *v as f32 * s).sum::<f32>());
                if !y.iter().zip(want).all(|(g, r)| *g == r) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Create a context on a given adapter. `packed_dot` says whether WGSL's
    /// `dot4I8Packed` may be used (see `wgpu::Instance::wgsl_language_features`);
    /// `max_workgroup_storage` caps the workgroup memory the kernels may use.
    pub async fn from_adapter(
        adapter: wgpu::Adapter,
        packed_dot: bool,
        max_workgroup_storage: Option<u32>,
    ) -> Result<Self> {
        Self::on_adapter(adapter, packed_dot, max_workgroup_storage, true, true).await
    }

    /// [`Context::from_adapter`]; `subgroups: false` neither requests the subgroup feature
    /// nor probes it ([`ContextOptions::disable_subgroups`]); `coop: false` keeps off the
    /// cooperative-matrix kernels ([`ContextOptions::disable_cooperative_matrix`]).
    async fn on_adapter(
        adapter: wgpu::Adapter,
        packed_dot: bool,
        max_workgroup_storage: Option<u32>,
        subgroups: bool,
        coop: bool,
    ) -> Result<Self> {
        let info = adapter.get_info();
        let mut limits = adapter.limits();
        if let Some(cap) = max_workgroup_storage {
            limits.max_compute_workgroup_storage_size =
                limits.max_compute_workgroup_storage_size.min(cap);
        }
        // Subgroups natively only: browsers want `enable subgroups;`, which naga 30 rejects.
        let subgroup = if cfg!(target_arch = "wasm32") || !subgroups {
            wgpu::Features::empty()
        } else {
            wgpu::Features::SUBGROUP
        };
        let mut features = adapter.features()
            & (wgpu::Features::TIMESTAMP_QUERY
                | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
                | subgroup);
        // Natively only (browsers have no cooperative matrices), with subgroups (the kernels
        // map invocations to subgroups of 32, which the probe below confirms), and where
        // the kernels' workgroup memory fits (also under a `max_workgroup_storage` cap).
        let coop = coop
            && !subgroup.is_empty()
            && limits.max_compute_workgroup_storage_size >= crate::gemm::COOP_WORKGROUP_BYTES
            && coop_matrix_offered(&adapter);
        if coop {
            features |= COOP_FEATURES;
        }
        let subgroups = features
            .contains(wgpu::Features::SUBGROUP)
            .then_some((info.subgroup_min_size, info.subgroup_max_size));
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("rrs"),
                required_features: features,
                required_limits: limits.clone(),
                // SAFETY: wgpu marks cooperative matrices experimental (documented at
                // `disable_cooperative_matrix`, which turns them off); two kernels use them,
                // `gemm_coop.wgsl` and `gemv_coop.wgsl`, checked at startup below and by the
                // parity tests against the CPU reference.
                experimental_features: if coop {
                    unsafe { wgpu::ExperimentalFeatures::enabled() }
                } else {
                    wgpu::ExperimentalFeatures::disabled()
                },
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Device(format!("request_device on {}: {e}", info.name)))?;
        let fault = Arc::new(Mutex::new(None));
        let sink = fault.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().get_or_insert(format!("{e:?}"));
        }));
        let lost = Arc::new(Mutex::new(None));
        let (sink, lost_sink) = (fault.clone(), lost.clone());
        device.set_device_lost_callback(move |reason, msg| {
            let msg = format!("device lost ({reason:?}): {msg}");
            sink.lock().unwrap().get_or_insert(msg.clone());
            lost_sink.lock().unwrap().get_or_insert(msg);
        });
        let dot_kernel = if packed_dot {
            DotKernel::Dot4I8Packed
        } else {
            DotKernel::Portable
        };
        let dummy = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("unused binding"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let mut ctx = Self {
            id: next_id(),
            wgpu: Some(Gpu {
                dummy,
                pool: Pool::new(crate::pool::DEFAULT_BYTES),
                device,
                queue,
                pipelines: Arc::new(Mutex::new(HashMap::new())),
                constants: Arc::new(Mutex::new(HashMap::new())),
                fault,
                lost,
            }),
            #[cfg(feature = "cuda")]
            cuda: None,
            info,
            limits,
            dot_kernel,
            subgroups,
            coop,
            coop_failed: false,
            checks: ShaderChecks::from_env(),
            identities: Arc::default(),
        };
        if ctx.subgroups.is_some() && !ctx.subgroups_are_full().await? {
            // Kernels that map invocations to lanes would read and write the wrong elements.
            ctx.subgroups = None;
        }
        ctx.coop = coop && ctx.subgroups == Some((32, 32));
        if ctx.coop && !ctx.coop_sums_are_exact().await? {
            ctx.coop = false;
            ctx.coop_failed = true;
        }
        Ok(ctx)
    }

    /// A context on a CUDA device. Its `adapter_info` names the GPU (backend `Noop`: not a
    /// wgpu adapter) and its `limits` are wgpu's defaults with the binding sizes raised to
    /// what CUDA allows (tensor sizes are then bounded by device memory).
    #[cfg(feature = "cuda")]
    fn on_cuda(device: Arc<crate::cuda::Device>) -> Self {
        let info = wgpu::AdapterInfo {
            name: device.name.clone(),
            vendor: 0x10de,
            device: 0,
            device_type: wgpu::DeviceType::DiscreteGpu,
            device_pci_bus_id: String::new(),
            driver: "CUDA".into(),
            driver_info: device.describe(),
            backend: wgpu::Backend::Noop,
            subgroup_min_size: 32,
            subgroup_max_size: 32,
            transient_saves_memory: None,
            limit_bucket: None,
        };
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: u64::MAX,
            max_buffer_size: u64::MAX,
            ..wgpu::Limits::default()
        };
        Self {
            id: next_id(),
            wgpu: None,
            cuda: Some(device),
            info,
            limits,
            dot_kernel: DotKernel::Dot4I8Packed,
            subgroups: None,
            coop: false,
            coop_failed: false,
            checks: ShaderChecks::from_env(),
            identities: Arc::default(),
        }
    }

    /// The backend this context runs on.
    pub fn backend(&self) -> Backend {
        #[cfg(feature = "cuda")]
        if self.cuda.is_some() {
            return Backend::Cuda;
        }
        Backend::Wgpu
    }

    /// The wgpu side, or an error naming `what` needed it on a CUDA context.
    pub(crate) fn gpu(&self) -> Result<&Gpu> {
        self.wgpu.as_ref().ok_or_else(|| {
            Error::Unsupported(
                "this Context runs on CUDA: recording into a wgpu command encoder (`encode`, \
                 `record`, `time_ms`) needs a wgpu Context; call the ops themselves"
                    .into(),
            )
        })
    }

    /// The adapter's name, backend and driver.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The device limits (requested equal to the adapter's).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The smallest and largest subgroup size of the adapter, where the WGSL kernels may use
    /// subgroup operations: `Features::SUBGROUP`, natively (not in browsers, nor with
    /// [`ContextOptions::disable_subgroups`], nor on the CUDA backend), and full subgroups
    /// numbering a workgroup's invocations as subgroup_id · size + lane, which a probe
    /// kernel checks once when the context is created.
    pub fn subgroup_sizes(&self) -> Option<(u32, u32)> {
        self.subgroups
    }

    /// Whether the GEMMs (m > 16, and decode at 12 ≤ m ≤ 16) run on tensor cores through
    /// wgpu's experimental cooperative matrices: offered by the adapter (16 × 16 × 16
    /// f16 → f32, subgroups of 32), passing the startup check, and not turned off with
    /// [`ContextOptions::disable_cooperative_matrix`] or `RRS_COOP_MATRIX=0`.
    pub fn cooperative_matrix(&self) -> bool {
        self.coop
    }

    /// The dot-product kernel the GEMM uses by default on this adapter.
    pub fn dot_kernel(&self) -> DotKernel {
        self.dot_kernel
    }

    /// The wgpu device, for interop (`None` on the CUDA backend).
    pub fn device(&self) -> Option<&wgpu::Device> {
        self.wgpu.as_ref().map(|g| &g.device)
    }

    /// The wgpu queue, for interop (`None` on the CUDA backend).
    pub fn queue(&self) -> Option<&wgpu::Queue> {
        self.wgpu.as_ref().map(|g| &g.queue)
    }

    /// One-line description: adapter, backend, driver, GEMM dot kernel, shader checks.
    pub fn describe(&self) -> String {
        if self.backend() == Backend::Cuda {
            return format!("{} (CUDA, {})", self.info.name, self.info.driver_info);
        }
        let subgroups = match self.subgroups {
            Some((min, max)) if min == max => format!("{min} lanes"),
            Some((min, max)) => format!("{min}-{max} lanes"),
            None => "not used".into(),
        };
        let coop = if self.coop {
            ", GEMM on cooperative matrices"
        } else if self.coop_failed {
            ", cooperative matrices failed the startup check (not used)"
        } else {
            ""
        };
        format!(
            "{} ({:?}, {:?}, driver {} {}), GEMM dot kernel: {:?}{coop}, subgroups: \
             {subgroups}, shader checks: {:?}",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info,
            self.dot_kernel,
            self.checks
        )
    }

    /// The runtime checks compiled into the kernels.
    pub fn shader_checks(&self) -> ShaderChecks {
        self.checks
    }

    /// Fail if the device has been lost (and stays lost).
    pub(crate) fn check_alive(&self) -> Result<()> {
        let Some(g) = &self.wgpu else { return Ok(()) };
        match g.lost.lock().unwrap().as_ref() {
            Some(msg) => Err(Error::Device(msg.clone())),
            None => Ok(()),
        }
    }

    /// Write `data` into a new buffer of `usage` (plus COPY_DST) through the queue; unlike
    /// `create_buffer_init` it cannot panic on a lost device.
    pub(crate) fn upload(
        &self,
        data: &[u8],
        usage: wgpu::BufferUsages,
        label: &str,
    ) -> Result<wgpu::Buffer> {
        self.check_alive()?;
        let g = self.gpu()?;
        let buffer = g.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (data.len().max(4) as u64).next_multiple_of(4),
            usage: usage | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if !data.is_empty() {
            g.queue.write_buffer(&buffer, 0, data);
        }
        Ok(buffer)
    }

    /// Fail if the device reported an error or was lost since the last check.
    pub(crate) fn check_fault(&self) -> Result<()> {
        let Some(g) = &self.wgpu else { return Ok(()) };
        match g.fault.lock().unwrap().take() {
            Some(msg) => Err(Error::Device(msg)),
            None => Ok(()),
        }
    }

    /// The compute pipeline for `kernel`, compiled once per context.
    pub(crate) fn pipeline(&self, kernel: Kernel) -> Result<Arc<Compiled>> {
        let key = (kernel.name, kernel.entry);
        let g = self.gpu()?;
        if let Some(p) = g.pipelines.lock().unwrap().get(&key) {
            return Ok(p.clone());
        }
        let source: String = kernel.sources.concat();
        let (pipeline, error) = self.scoped(g, || self.compile(g, kernel, source));
        if let Some(e) = error {
            return Err(Error::Device(format!(
                "compiling {}::{}: {}",
                kernel.name,
                kernel.entry,
                describe_error(&e)
            )));
        }
        let layout = pipeline.get_bind_group_layout(0);
        let compiled = Arc::new(Compiled { pipeline, layout });
        g.pipelines.lock().unwrap().insert(key, compiled.clone());
        Ok(compiled)
    }

    /// Compile `source` (the concatenated sources of `kernel`) into a pipeline.
    fn compile(&self, g: &Gpu, kernel: Kernel, source: String) -> wgpu::ComputePipeline {
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        let module = match self.checks {
            ShaderChecks::All => g.device.create_shader_module(desc),
            checks => {
                let mut rt = wgpu::ShaderRuntimeChecks::checked();
                rt.force_loop_bounding = false;
                rt.bounds_checks = checks == ShaderChecks::NoLoopBounding && kernel.bounds_checks;
                // SAFETY: every loop in rrs's kernels is bounded by a uniform parameter.
                // Without index clamping (`ShaderChecks::None`, or a kernel marked
                // `bounds_checks: false`) indices stay in range because each op checks its
                // tensors' shapes on the host before dispatching, and the unclamped kernels
                // index workgroup memory only from the invocation id under constant bounds
                // and device memory only behind explicit range checks.
                unsafe { g.device.create_shader_module_trusted(desc, rt) }
            }
        };
        g.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.entry),
                layout: None,
                module: &module,
                entry_point: Some(kernel.entry),
                compilation_options: Default::default(),
                cache: None,
            })
    }

    /// Run `f` inside validation and out-of-memory error scopes and return the first error
    /// it raised. In the browser a scope resolves only after the page yields to its event
    /// loop, so there `f` runs unscoped: its errors reach the uncaptured-error handler and
    /// fail the next readback ([`Tensor::to_vec_async`](crate::Tensor::to_vec_async),
    /// [`Context::synchronize_async`]) instead.
    fn scoped<T>(&self, g: &Gpu, f: impl FnOnce() -> T) -> (T, Option<wgpu::Error>) {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let oom = g.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
            let validation = g.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let out = f();
            let errors = [
                pollster::block_on(validation.pop()),
                pollster::block_on(oom.pop()),
            ];
            (out, errors.into_iter().flatten().next())
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = g;
            (f(), None)
        }
    }

    /// Record one dispatch of `kernel` into `rec`'s compute pass. `params` (a `#[repr(C)]`
    /// Pod struct) binds as a uniform at binding 0, each `(binding, buffer)` of `buffers` at
    /// its index.
    pub(crate) fn dispatch<P: bytemuck::Pod>(
        &self,
        rec: &mut Rec,
        kernel: Kernel,
        params: &P,
        buffers: &[(u32, &wgpu::Buffer)],
        grid: [u32; 3],
    ) -> Result<()> {
        let max = self.limits.max_compute_workgroups_per_dimension;
        if grid.iter().any(|&g| g > max) {
            return Err(Error::TooLarge(format!(
                "{}::{} needs a grid of {grid:?} workgroups; the adapter allows {max} per dimension",
                kernel.name, kernel.entry
            )));
        }
        if grid.contains(&0) {
            return Ok(());
        }
        let compiled = self.pipeline(kernel)?;
        let uniform = self.constant(bytemuck::bytes_of(params), wgpu::BufferUsages::UNIFORM)?;
        let entries: Vec<wgpu::BindGroupEntry> = std::iter::once((0, &uniform))
            .chain(buffers.iter().copied())
            .map(|(binding, b)| wgpu::BindGroupEntry {
                binding,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bind = self
            .gpu()?
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.entry),
                layout: &compiled.layout,
                entries: &entries,
            });
        let pass = rec.pass();
        pass.set_pipeline(&compiled.pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        Ok(())
    }

    /// The identity permutation `[k]` u32 (0, 1, …, k − 1), uploaded on first use and
    /// shared after (the kernels only read it): what Runtime Smooth without reorder forms
    /// its groups in, without an upload every forward.
    pub(crate) fn identity_perm(&self, k: usize) -> Result<Tensor> {
        if let Some(t) = self.identities.lock().unwrap().get(&k) {
            return Ok(t.clone());
        }
        let t = Tensor::from_slice(self, &(0..k as u32).collect::<Vec<_>>(), &[k])?;
        let mut cache = self.identities.lock().unwrap();
        if cache.len() >= MAX_IDENTITIES {
            cache.clear();
        }
        cache.insert(k, t.clone());
        Ok(t)
    }

    /// A buffer of `usage` holding `bytes`, which no kernel writes: the cached one, or a new
    /// one written through the queue (ordered before the submission that first binds it).
    pub(crate) fn constant(&self, bytes: &[u8], usage: wgpu::BufferUsages) -> Result<wgpu::Buffer> {
        let g = self.gpu()?;
        let key = (usage.bits(), bytes.to_vec());
        if let Some(b) = g.constants.lock().unwrap().get(&key) {
            return Ok(b.clone());
        }
        let buffer = self.upload(bytes, usage, "constant")?;
        let mut cache = g.constants.lock().unwrap();
        if cache.len() >= MAX_CONSTANTS {
            cache.clear();
        }
        cache.insert(key, buffer.clone());
        Ok(buffer)
    }

    /// Record commands with `f` into a fresh encoder and submit them (the ops' `encode`
    /// functions record into such an encoder, so several ops can share one submission). Validation and
    /// out-of-memory errors raised while recording or submitting come back as `Err` of
    /// this call (wgpu's error scopes are per thread, so concurrent callers do not see
    /// each other's errors).
    pub fn record<T>(&self, f: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<T>) -> Result<T> {
        let g = self.gpu()?;
        // Op outputs dropped while this recording is open stay out of other recordings
        // until it is submitted ([`crate::pool`]); the guard also ends it on a panic.
        struct Open<'a>(&'a Pool, u64);
        impl Drop for Open<'_> {
            fn drop(&mut self) {
                self.0.end(self.1);
            }
        }
        let (out, error) = self.scoped(g, || {
            let _open = Open(&g.pool, g.pool.begin());
            let mut enc = g
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("rrs") });
            let out = f(&mut enc);
            if out.is_ok() {
                g.queue.submit(std::iter::once(enc.finish()));
            }
            out
        });
        if let Some(e) = error {
            return Err(match e {
                wgpu::Error::OutOfMemory { .. } => {
                    Error::TooLarge(format!("out of GPU memory: {e}"))
                }
                e => Error::Device(describe_error(&e)),
            });
        }
        out
    }

    /// Run `f` on this context's backend: recorded into one wgpu submission (see
    /// [`Context::record`]), or launched on the CUDA stream.
    pub(crate) fn run<T>(&self, f: impl FnOnce(&mut Rec) -> Result<T>) -> Result<T> {
        #[cfg(feature = "cuda")]
        if let Some(cu) = &self.cuda {
            return f(&mut Rec::Cuda(cu));
        }
        self.record(|enc| f(&mut Rec::wgpu(enc)))
    }

    /// Bytes held in free op-output buffers kept for reuse ([`crate::pool`]; 0 on CUDA).
    pub fn pooled_bytes(&self) -> u64 {
        self.wgpu.as_ref().map_or(0, |g| g.pool.bytes())
    }

    /// Free the op-output buffers kept for reuse ([`crate::pool`]), for example after a
    /// model of other shapes has run.
    pub fn trim_pool(&self) {
        if let Some(g) = &self.wgpu {
            g.pool.clear();
        }
    }

    /// Wait until the GPU has finished all submitted work, blocking; fails with the first
    /// device error raised since the last check.
    pub fn synchronize(&self) -> Result<()> {
        block_on(self.synchronize_async())
    }

    /// Wait until the GPU has finished all submitted work; fails with the first device
    /// error raised since the last check.
    pub async fn synchronize_async(&self) -> Result<()> {
        #[cfg(feature = "cuda")]
        if let Some(cu) = &self.cuda {
            return cu.synchronize();
        }
        let (tx, rx) = futures::channel::oneshot::channel();
        self.gpu()?.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        self.poll()?;
        rx.await
            .map_err(|_| Error::Device("the queue was dropped while waiting".into()))?;
        self.check_fault()
    }

    /// Drive the device until submitted work and pending callbacks complete. Native
    /// backends need it; in the browser it returns at once and the page's event loop
    /// runs the callbacks.
    pub(crate) fn poll(&self) -> Result<()> {
        self.gpu()?
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Device(format!("poll: {e}")))
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("adapter", &self.info.name)
            .field("backend", &self.info.backend)
            .field("dot_kernel", &self.dot_kernel)
            .field("shader_checks", &self.checks)
            .finish_non_exhaustive()
    }
}

/// Where an op's work goes: into a wgpu command encoder, or onto the CUDA stream. Every op
/// checks its arguments once and then dispatches on this, so both backends share one path.
// One per recording, on the stack: the open pass's size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Rec<'e> {
    Wgpu(Recording<'e>),
    #[cfg(feature = "cuda")]
    Cuda(&'e crate::cuda::Device),
}

/// Commands being recorded into a wgpu encoder. Consecutive dispatches share one compute
/// pass (wgpu orders them by their bindings' reads and writes), which ends before a copy
/// and when the recording is dropped. A pass per dispatch cost host time in recording and
/// GPU time between the passes: on the H200 an RRS decode step at k = 4096 took 96 µs of
/// GPU time with a pass per dispatch, 58 µs with one pass.
pub(crate) struct Recording<'e> {
    enc: &'e mut wgpu::CommandEncoder,
    pass: Option<wgpu::ComputePass<'static>>,
}

impl Recording<'_> {
    /// The encoder, for commands outside compute passes (the open pass ends first).
    pub(crate) fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        self.pass = None;
        self.enc
    }
}

impl<'e> Rec<'e> {
    /// Record into `enc`.
    pub(crate) fn wgpu(enc: &'e mut wgpu::CommandEncoder) -> Self {
        Rec::Wgpu(Recording { enc, pass: None })
    }

    /// The wgpu encoder, for commands outside compute passes; ops call it after handling
    /// [`Rec::Cuda`] (a CUDA context never reaches a wgpu command).
    pub(crate) fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        match self {
            Rec::Wgpu(r) => r.encoder(),
            #[cfg(feature = "cuda")]
            Rec::Cuda(_) => unreachable!("a wgpu command on a CUDA context"),
        }
    }

    /// The open compute pass, begun if there is none.
    fn pass(&mut self) -> &mut wgpu::ComputePass<'static> {
        match self {
            Rec::Wgpu(r) => r.pass.get_or_insert_with(|| {
                r.enc
                    .begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("rrs"),
                        timestamp_writes: None,
                    })
                    .forget_lifetime()
            }),
            #[cfg(feature = "cuda")]
            Rec::Cuda(_) => unreachable!("a wgpu dispatch on a CUDA context"),
        }
    }
}

/// A fresh [`Context::id`].
fn next_id() -> u64 {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Run `f` to completion on this thread: the blocking entry points are this around their
/// `_async` twins. In the browser the page's one thread must not wait (the GPU's answers
/// arrive through its event loop), so there it is an [`Error::Unsupported`] naming the
/// way out.
pub(crate) fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        pollster::block_on(f)
    }
    #[cfg(target_arch = "wasm32")]
    {
        drop(f);
        Err(Error::Unsupported(
            "blocking calls cannot run in the browser; use the `_async` variant \
             (e.g. `Context::new_async`, `Tensor::to_vec_async`, `RrsLinear::run_async`)"
                .into(),
        ))
    }
}

/// A wgpu error's full description (its `Display` is only "Validation Error").
fn describe_error(e: &wgpu::Error) -> String {
    match e {
        wgpu::Error::Validation { description, .. } => description.clone(),
        e => format!("{e:?}"),
    }
}

/// A 1-D grid of `groups` workgroups folded into x and y so that no dimension exceeds
/// 65535; shaders number workgroups `wid.x + wid.y * num_workgroups.x`.
pub(crate) fn grid_1d(groups: u32) -> [u32; 3] {
    const MAX: u32 = 65535;
    if groups <= MAX {
        [groups, 1, 1]
    } else {
        [MAX, groups.div_ceil(MAX), 1]
    }
}
