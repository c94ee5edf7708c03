//! The `cuda` feature: every op as a hand-written CUDA kernel (`cuda/*.cu`), compiled by
//! NVRTC at run time for the GPU present, behind the same [`Context`](crate::Context),
//! tensors, ops and [`RrsLinear`](crate::RrsLinear).
//!
//! libcuda and NVRTC are loaded when a CUDA context is created (cudarc's dynamic loading:
//! CUDA 13, falling back to 12), so the feature builds on machines without CUDA; there,
//! `Context::with_options(ContextOptions { backend: Backend::Cuda, .. })` is an
//! [`Error::NoAdapter`] that says what is missing.
//!
//! Each source is compiled once per process and architecture (the PTX is cached) and
//! loaded once per context. [`ptx`] returns the PTX for inspection; `examples/ptx.rs`
//! writes all of it to files.
//!
//! The GEMM has three tensor-core paths ([`CudaGemm`]): INT4 `mma.m16n8k64` (sm_75 to
//! sm_89); INT4 unpacked to INT8 in registers + `mma.m16n8k32` (sm_80 and newer, the
//! default after sm_90); and on Hopper (sm_90, which has no INT4 tensor cores, the
//! default there) INT4 unpacked to INT8 by a producer warpgroup + `wgmma.mma_async`
//! (`cuda/gemm_wgmma.cu`, compiled for `sm_90a`); a SIMT dp4a kernel for shapes whose k or
//! group is not a multiple of 64; and memory-bound GEMVs for up to 16 tokens.

mod ops;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream};

use crate::context::CudaGemm;
use crate::error::{Error, Result};

/// A CUDA C source of rrs (`cuda/<name>.cu`; `cuda/common.cuh` and the source's headers,
/// the device code it shares with other sources, are prepended).
#[derive(Clone, Copy, Debug)]
pub struct Source {
    /// File stem, e.g. `"gemm"`.
    pub name: &'static str,
    /// Texts of the `cuda/*.cuh` headers it uses, in order.
    headers: &'static [&'static str],
    text: &'static str,
    /// Uses architecture-specific instructions (Hopper's `wgmma`): compiled for `sm_90a`
    /// rather than `sm_90` (see [`Source::target`]).
    arch_specific: bool,
}

impl Source {
    /// The NVRTC target for this source on a GPU of `arch` (e.g. `"sm_90"` → `"sm_90a"`
    /// for the sources with architecture-specific instructions, which PTX of `sm_90a`
    /// loads on sm_90 only).
    pub fn target(&self, arch: &str) -> String {
        if self.arch_specific && arch == "sm_90" {
            "sm_90a".into()
        } else {
            arch.into()
        }
    }
}

const COMMON: &str = include_str!("../../cuda/common.cuh");

macro_rules! source {
    ($name:literal $(, $header:literal)*) => {
        source!(@ $name, false $(, $header)*)
    };
    (arch_specific $name:literal) => {
        source!(@ $name, true)
    };
    (@ $name:literal, $arch_specific:literal $(, $header:literal)*) => {
        Source {
            name: $name,
            headers: &[$(include_str!(concat!("../../cuda/", $header, ".cuh"))),*],
            text: include_str!(concat!("../../cuda/", $name, ".cu")),
            arch_specific: $arch_specific,
        }
    };
}

pub(crate) const HADAMARD: Source = source!("hadamard", "f16", "fwht", "hadamard_signs");
pub(crate) const ROTATE: Source = source!("rotate", "f16", "fwht", "quantize");
pub(crate) const CHANNEL_MAX: Source = source!("channel_max", "f16");
pub(crate) const QUANTIZE: Source = source!("quantize", "f16", "quantize");
pub(crate) const PERMUTE: Source = source!("permute");
pub(crate) const GEMM: Source = source!("gemm");
pub(crate) const GEMM_WGMMA: Source = source!(arch_specific "gemm_wgmma");
pub(crate) const MATMUL: Source = source!("matmul");
pub(crate) const WIDEN: Source = source!("widen", "f16");

/// Every CUDA source, for [`ptx`].
pub const SOURCES: [Source; 9] = [
    HADAMARD,
    ROTATE,
    CHANNEL_MAX,
    QUANTIZE,
    PERMUTE,
    GEMM,
    GEMM_WGMMA,
    MATMUL,
    WIDEN,
];

/// PTX by (source, architecture), shared by every context of the process.
fn ptx_cache() -> &'static Mutex<HashMap<(&'static str, String), String>> {
    static CACHE: OnceLock<Mutex<HashMap<(&'static str, String), String>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Fail unless NVRTC can be loaded.
fn nvrtc_present() -> Result<()> {
    // SAFETY: only tries to dlopen the library names cudarc knows.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(Error::NoAdapter(
            "NVRTC (libnvrtc.so.13 or .so.12) was not found: install the CUDA toolkit's \
             NVRTC, or add its lib directory (e.g. /usr/local/cuda/lib64) to LD_LIBRARY_PATH"
                .into(),
        ))
    }
}

/// The compute capability of an NVRTC target: `"sm_90a"` → (9, 0), `"sm_120"` → (12, 0).
fn compute_capability(arch: &str) -> Result<(i32, i32)> {
    let digits: String = arch
        .strip_prefix("sm_")
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    match (digits.len(), digits.parse::<i32>()) {
        (2.., Ok(v)) => Ok((v / 10, v % 10)),
        _ => Err(Error::Unsupported(format!(
            "CUDA architecture {arch:?} is not of the form sm_XY"
        ))),
    }
}

/// The PTX NVRTC makes of `source` for a GPU of `arch` (e.g. `"sm_90"`; the target is
/// [`Source::target`]), compiled once per process, with the host's launch facts for that
/// architecture as `-D` definitions that the source checks (`host_defines` in `ops.rs`).
///
/// The same source, options and NVRTC do not always give the same PTX from one process to
/// the next: with NVRTC 12.9 and 13.5, `hadamard` and `rotate` came out in two to six forms
/// over six to nine runs of `examples/ptx.rs` (the diffs read were equivalent code: in the
/// two-pass FWHT's first loads from shared memory, a 16-byte load, or one marked
/// `used_bytes_mask 255` and an 8-byte load of its upper half, the registers renumbered
/// after it); every other source came out the same each time. So diff PTX from one run of
/// each build, not across runs.
pub fn ptx(source: Source, arch: &str) -> Result<String> {
    let arch = source.target(arch);
    let key = (source.name, arch.clone());
    if let Some(p) = ptx_cache().lock().unwrap().get(&key) {
        return Ok(p.clone());
    }
    nvrtc_present()?;
    let text = [COMMON]
        .iter()
        .chain(source.headers)
        .chain([&source.text])
        .fold(String::new(), |t, part| t + part + "\n");
    let mut options = vec![format!("--gpu-architecture={arch}"), "-std=c++17".into()];
    options.extend(ops::host_defines(source.name, compute_capability(&arch)?));
    let opts = cudarc::nvrtc::CompileOptions {
        options,
        name: Some(format!("{}.cu", source.name)),
        ..Default::default()
    };
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(text, opts)
        .map_err(|e| {
            Error::Device(format!(
                "NVRTC compiling cuda/{}.cu for {arch}: {e}",
                source.name
            ))
        })?
        .to_src();
    ptx_cache().lock().unwrap().insert(key, ptx.clone());
    Ok(ptx)
}

/// Ops allocate their outputs from the stream-ordered allocator's default pool, which by
/// default hands freed memory back to the driver at every synchronization, so the next
/// allocation maps it again. Measured on the H100: an out-of-place FWHT at 4096 × 4096 took
/// 0.062 ms against 0.050 ms into a kept buffer. Keep it in the pool instead (as PyTorch's
/// caching allocator does). Where pools are unsupported this is a no-op.
fn keep_freed_memory(ctx: &CudaContext) {
    use cudarc::driver::sys;
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut threshold = u64::MAX;
    // SAFETY: plain driver calls on this context's device with valid out-pointers; the
    // attribute takes a u64.
    unsafe {
        if sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()) == sys::CUresult::CUDA_SUCCESS
        {
            sys::cuMemPoolSetAttribute(
                pool,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut threshold as *mut u64).cast(),
            );
        }
    }
}

/// A loaded kernel, the dynamic shared memory it has been allowed so far, and what the
/// driver said about it (asked once: launches reuse the answers).
struct Loaded {
    f: CudaFunction,
    allowed: u32,
    /// Its `__launch_bounds__` block size (`CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK`).
    max_threads: Option<u32>,
    /// Blocks an SM holds at (threads, dynamic shared memory), from the occupancy API.
    resident: HashMap<(u32, u32), usize>,
}

/// A CUDA device, its stream, its loaded modules and kernels.
pub(crate) struct Device {
    /// The GPU's name.
    pub name: String,
    /// Compute capability (major, minor).
    pub cc: (i32, i32),
    /// The GEMM path in use.
    pub gemm: CudaGemm,
    /// Streaming multiprocessors.
    pub sms: usize,
    /// The most dynamic shared memory a block may be given (bytes): the device's opt-in
    /// maximum, or less under `ContextOptions::max_workgroup_storage`.
    pub smem_limit: u32,
    /// Whether the FWHT is fused with the quantize where `cuda/rotate.cu` has kernels for k
    /// (`RRS_CUDA_FUSE_ROTATION=0` turns it off, for A/B runs).
    pub fuse_rotation: bool,
    /// Whether the FWHT of an m·2^n size runs in one pass where `cuda/hadamard.cu` has a
    /// kernel for it (`fwht_mixed`; `RRS_CUDA_FUSE_CROSS=0` runs the chunk and cross passes
    /// instead, for A/B runs).
    pub fuse_cross: bool,
    /// Whether the f16 FWHT of rows of 2^13 before Runtime Smooth also takes their channel
    /// maxima (`fwht_max_h_13` in `cuda/hadamard.cu`; `RRS_CUDA_FUSE_MAX=0` turns it off,
    /// for A/B runs).
    pub fuse_max: bool,
    /// Tile columns a band of the tiled GEMMs' tile order (`banded_tile` in
    /// `cuda/common.cuh`): the tuned default (`ops::GEMM_BAND`), or what
    /// `RRS_CUDA_GEMM_BAND` sets for A/B runs (`0`: row-major, as before bands).
    pub gemm_band: u32,
    /// Whether kernels are launched as programmatic dependents of the kernel before them
    /// (sm_90 and newer; `grid_dependency` in `cuda/common.cuh`), so that each one's launch
    /// overlaps the end of the one before; `RRS_CUDA_PDL=0` turns it off, for A/B runs.
    pub pdl: bool,
    ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    /// Kernels by (source, entry), looked up once: launches reuse them.
    functions: Mutex<HashMap<(&'static str, String), Loaded>>,
}

impl Device {
    /// Open device `ordinal`; `gemm` forces a GEMM path (else `RRS_CUDA_GEMM`, else by
    /// compute capability); `max_smem` caps the shared memory a block may have.
    pub fn open(ordinal: usize, gemm: Option<CudaGemm>, max_smem: Option<u32>) -> Result<Self> {
        // SAFETY: only tries to dlopen the library names cudarc knows.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(Error::NoAdapter(
                "the CUDA driver library (libcuda.so.1) was not found: the CUDA backend needs \
                 an NVIDIA GPU and its driver (the default wgpu backend runs elsewhere)"
                    .into(),
            ));
        }
        nvrtc_present()?;
        let driver = |e: cudarc::driver::DriverError| Error::Device(format!("CUDA: {e}"));
        let count = CudaContext::device_count().map_err(driver)?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::NoAdapter(format!(
                "CUDA device {ordinal} requested but {count} CUDA device(s) are present"
            )));
        }
        let gemm_band =
            ops::gemm_band_setting(std::env::var("RRS_CUDA_GEMM_BAND").ok().as_deref())?;
        let ctx = CudaContext::new(ordinal).map_err(driver)?;
        let name = ctx.name().map_err(driver)?;
        let cc = ctx.compute_capability().map_err(driver)?;
        if cc < (7, 5) {
            return Err(Error::Unsupported(format!(
                "{name} is sm_{}{}: rrs's CUDA kernels need sm_75 or newer (INT4/INT8 mma)",
                cc.0, cc.1
            )));
        }
        let gemm = gemm
            .or_else(|| match std::env::var("RRS_CUDA_GEMM").as_deref() {
                Ok("int4") => Some(CudaGemm::Int4),
                Ok("int8") => Some(CudaGemm::Int8),
                Ok("wgmma") => Some(CudaGemm::Wgmma),
                _ => None,
            })
            .unwrap_or(if cc == (9, 0) {
                CudaGemm::Wgmma
            } else if cc > (9, 0) {
                CudaGemm::Int8
            } else {
                CudaGemm::Int4
            });
        if gemm == CudaGemm::Int8 && cc < (8, 0) {
            return Err(Error::Unsupported(format!(
                "the INT8 GEMM path needs sm_80 or newer; {name} is sm_{}{}",
                cc.0, cc.1
            )));
        }
        if gemm == CudaGemm::Wgmma && cc != (9, 0) {
            return Err(Error::Unsupported(format!(
                "the wgmma GEMM path needs sm_90 (Hopper's wgmma instructions exist on sm_90a \
                 only); {name} is sm_{}{}",
                cc.0, cc.1
            )));
        }
        let attribute = |a| ctx.attribute(a).map_err(driver);
        use cudarc::driver::sys::CUdevice_attribute as A;
        let sms = attribute(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?.max(1) as usize;
        let smem_optin =
            attribute(A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)?.max(0) as u32;
        let smem_limit = smem_optin.min(max_smem.unwrap_or(u32::MAX));
        // SAFETY: rrs launches everything on one stream, so cudarc's per-buffer events
        // (for ordering across streams) are not needed.
        unsafe { ctx.disable_event_tracking() };
        keep_freed_memory(&ctx);
        let stream = ctx.default_stream();
        Ok(Device {
            name,
            cc,
            gemm,
            sms,
            smem_limit,
            fuse_rotation: std::env::var("RRS_CUDA_FUSE_ROTATION").as_deref() != Ok("0"),
            fuse_cross: std::env::var("RRS_CUDA_FUSE_CROSS").as_deref() != Ok("0"),
            fuse_max: std::env::var("RRS_CUDA_FUSE_MAX").as_deref() != Ok("0"),
            gemm_band,
            pdl: cc >= (9, 0) && std::env::var("RRS_CUDA_PDL").as_deref() != Ok("0"),
            ctx,
            stream,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
        })
    }

    /// The architecture NVRTC compiles for, e.g. `"sm_90"`.
    pub fn arch(&self) -> String {
        format!("sm_{}{}", self.cc.0, self.cc.1)
    }

    /// "sm_90, CUDA GEMM path Wgmma, programmatic dependent launch".
    pub fn describe(&self) -> String {
        let pdl = if self.pdl {
            ", programmatic dependent launch"
        } else {
            ""
        };
        format!("{}, CUDA GEMM path {:?}{pdl}", self.arch(), self.gemm)
    }

    /// Launch `f` on the stream with `cfg`; `args` holds the address of each kernel
    /// argument, in the kernel's parameter order. Where [`Device::pdl`] is set the launch is
    /// a programmatic dependent of the kernel before it: every rrs kernel waits for that one
    /// (`grid_dependency`) before it touches global memory.
    ///
    /// # Safety
    /// `args` must match the kernel's parameters in number, order and types, and the
    /// buffers they point to must be as large as the kernel's indexing for `cfg` needs.
    pub unsafe fn launch(
        &self,
        f: &CudaFunction,
        cfg: cudarc::driver::LaunchConfig,
        args: &mut [*mut std::ffi::c_void],
    ) -> std::result::Result<(), cudarc::driver::DriverError> {
        use cudarc::driver::sys;
        self.ctx.bind_to_thread()?;
        // SAFETY: a zeroed attribute value is a valid union (its widest member is bytes).
        let mut attr = sys::CUlaunchAttribute {
            id: sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION,
            pad: [0; 4],
            value: unsafe { std::mem::zeroed() },
        };
        attr.value.programmaticStreamSerializationAllowed = 1;
        let config = sys::CUlaunchConfig {
            gridDimX: cfg.grid_dim.0,
            gridDimY: cfg.grid_dim.1,
            gridDimZ: cfg.grid_dim.2,
            blockDimX: cfg.block_dim.0,
            blockDimY: cfg.block_dim.1,
            blockDimZ: cfg.block_dim.2,
            sharedMemBytes: cfg.shared_mem_bytes,
            hStream: self.stream.cu_stream(),
            attrs: &mut attr,
            numAttrs: u32::from(self.pdl),
        };
        // SAFETY: the caller's contract; the config and the attribute outlive the call.
        unsafe {
            sys::cuLaunchKernelEx(
                &config,
                f.cu_function(),
                args.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        }
        .result()
    }

    /// Kernel `entry` of `source`, compiled and loaded on first use, allowed `dynamic_smem`
    /// bytes of dynamic shared memory (the opt-in above 48 KiB is set once per size; more
    /// than [`Device::smem_limit`] is an [`Error::Unsupported`]).
    pub fn function(&self, source: Source, entry: &str, dynamic_smem: u32) -> Result<CudaFunction> {
        self.with_loaded(source, entry, dynamic_smem, |l| Ok(l.f.clone()))
    }

    /// The block size `entry` was compiled for, asked once: the FWHT kernels'
    /// `__launch_bounds__(…)` (their registers are laid out for exactly that many threads),
    /// read back from the loaded function rather than the rule repeated on the host.
    pub fn max_threads(&self, source: Source, entry: &str, dynamic_smem: u32) -> Result<u32> {
        self.with_loaded(source, entry, dynamic_smem, |l| {
            if let Some(t) = l.max_threads {
                return Ok(t);
            }
            let t =
                l.f.max_threads_per_block()
                    .map_err(|e| Error::Device(format!("{entry}: block size: {e}")))?
                    as u32;
            l.max_threads = Some(t);
            Ok(t)
        })
    }

    /// How many blocks of `threads` threads and `dynamic_smem` bytes of `entry` an SM holds
    /// at once (at least 1; the occupancy API, asked once per shape).
    pub fn blocks_per_sm(
        &self,
        source: Source,
        entry: &str,
        threads: u32,
        dynamic_smem: u32,
    ) -> Result<usize> {
        self.with_loaded(source, entry, dynamic_smem, |l| {
            if let Some(&n) = l.resident.get(&(threads, dynamic_smem)) {
                return Ok(n);
            }
            let n =
                l.f.occupancy_max_active_blocks_per_multiprocessor(
                    threads,
                    dynamic_smem as usize,
                    None,
                )
                .map_err(|e| Error::Device(format!("{entry}: occupancy: {e}")))?
                .max(1) as usize;
            l.resident.insert((threads, dynamic_smem), n);
            Ok(n)
        })
    }

    /// `f` on the loaded kernel `entry` of `source` (loaded on first use), once it is
    /// allowed `dynamic_smem` bytes of dynamic shared memory.
    fn with_loaded<T>(
        &self,
        source: Source,
        entry: &str,
        dynamic_smem: u32,
        f: impl FnOnce(&mut Loaded) -> Result<T>,
    ) -> Result<T> {
        if dynamic_smem > self.smem_limit {
            return Err(Error::Unsupported(format!(
                "CUDA kernel {entry} needs {dynamic_smem} bytes of shared memory a block; {} \
                 allows {} (its opt-in maximum, or ContextOptions::max_workgroup_storage)",
                self.name, self.smem_limit
            )));
        }
        let mut functions = self.functions.lock().unwrap();
        let key = (source.name, entry.to_string());
        let loaded = match functions.get_mut(&key) {
            Some(loaded) => loaded,
            None => {
                let f = self.load(source, entry)?;
                functions.entry(key).or_insert(Loaded {
                    f,
                    allowed: 48 * 1024,
                    max_threads: None,
                    resident: HashMap::new(),
                })
            }
        };
        if dynamic_smem > loaded.allowed {
            loaded
                .f
                .set_attribute(
                    cudarc::driver::sys::CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    dynamic_smem as i32,
                )
                .map_err(|e| Error::Device(format!("{entry}: shared memory: {e}")))?;
            loaded.allowed = dynamic_smem;
        }
        f(loaded)
    }

    /// Look kernel `entry` up in `source`'s module, compiling and loading the module first.
    fn load(&self, source: Source, entry: &str) -> Result<CudaFunction> {
        let module = {
            let mut modules = self.modules.lock().unwrap();
            match modules.get(source.name) {
                Some(m) => m.clone(),
                None => {
                    let ptx = ptx(source, &self.arch())?;
                    let m = self
                        .ctx
                        .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
                        .map_err(|e| {
                            Error::Device(format!("loading cuda/{}.cu: {e}", source.name))
                        })?;
                    modules.insert(source.name, m.clone());
                    m
                }
            }
        };
        module.load_function(entry).map_err(|e| {
            Error::Device(format!(
                "cuda/{}.cu has no kernel {entry}: {e}",
                source.name
            ))
        })
    }

    /// Upload words.
    pub fn upload(&self, data: &[u32]) -> Result<CudaSlice<u32>> {
        let data = if data.is_empty() { &[0u32][..] } else { data };
        self.stream.clone_htod(data).map_err(|e| {
            Error::TooLarge(format!("CUDA allocation of {} bytes: {e}", data.len() * 4))
        })
    }

    /// `n` zeroed words.
    pub fn zeros(&self, n: usize) -> Result<CudaSlice<u32>> {
        self.stream
            .alloc_zeros::<u32>(n.max(1))
            .map_err(|e| Error::TooLarge(format!("CUDA allocation of {} bytes: {e}", n * 4)))
    }

    /// `n` words left uninitialized, for outputs a kernel writes in full.
    pub fn uninit(&self, n: usize) -> Result<CudaSlice<u32>> {
        // SAFETY: u32 has no invalid bit patterns, and callers only use the memory as the
        // output of a kernel that writes every word before anything reads it.
        unsafe { self.stream.alloc::<u32>(n.max(1)) }
            .map_err(|e| Error::TooLarge(format!("CUDA allocation of {} bytes: {e}", n * 4)))
    }

    /// Read words back (waits for the stream).
    pub fn download(&self, s: &CudaSlice<u32>) -> Result<Vec<u32>> {
        self.stream
            .clone_dtoh(s)
            .map_err(|e| Error::Device(format!("CUDA readback: {e}")))
    }

    /// Wait for the stream; fails with the first error of the work on it.
    pub fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(|e| Error::Device(format!("CUDA: {e}")))
    }

    /// Milliseconds of `f`'s work on the stream (CUDA events), median of `samples` runs
    /// after untimed runs for at least `timing::CLOCK_WARM_UP` (and at least two: the
    /// first compiles and loads the kernels); each run does `f` `reps` times and the time is
    /// divided by `reps`.
    pub fn time_ms(
        &self,
        samples: usize,
        reps: usize,
        mut f: impl FnMut() -> Result<()>,
    ) -> Result<f64> {
        let driver = |e: cudarc::driver::DriverError| Error::Device(format!("CUDA: {e}"));
        crate::timing::warm_up(|| {
            for _ in 0..reps.max(1) {
                f()?;
            }
            self.stream.synchronize().map_err(driver)
        })?;
        let mut times = Vec::new();
        for _ in 0..samples {
            let flags = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
            let start = self.ctx.new_event(flags).map_err(driver)?;
            let end = self.ctx.new_event(flags).map_err(driver)?;
            start.record(&self.stream).map_err(driver)?;
            for _ in 0..reps.max(1) {
                f()?;
            }
            end.record(&self.stream).map_err(driver)?;
            end.synchronize().map_err(driver)?;
            times.push(start.elapsed_ms(&end).map_err(driver)? as f64 / reps.max(1) as f64);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    }
}

impl crate::Context {
    /// Milliseconds of `f`'s work on the CUDA stream (CUDA events): the median of `samples`
    /// runs after two warm-ups, each run doing `f` `reps` times, divided by `reps`. An error
    /// on a wgpu context.
    pub fn cuda_time_ms(
        &self,
        samples: usize,
        reps: usize,
        f: impl FnMut() -> Result<()>,
    ) -> Result<f64> {
        match &self.cuda {
            Some(cu) => cu.time_ms(samples, reps, f),
            None => Err(Error::Unsupported(
                "cuda_time_ms needs a CUDA context".into(),
            )),
        }
    }

    /// The CUDA GEMM path of this context (`None` on wgpu).
    pub fn cuda_gemm(&self) -> Option<CudaGemm> {
        self.cuda.as_ref().map(|c| c.gemm)
    }

    /// The architecture NVRTC compiles for here, e.g. `"sm_90"` (`None` on wgpu).
    pub fn cuda_arch(&self) -> Option<String> {
        self.cuda.as_ref().map(|c| c.arch())
    }
}
