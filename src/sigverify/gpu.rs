//! GPU verifier: ZIP-215 Ed25519 verification in WGSL compute shaders (`shaders/`), run through wgpu.
//!
//! Division of labour. The host computes `k = SHA-512(R || A || M) mod l` (on rayon) and packs
//! `R, A, S, k` into 32 words per signature; the GPU does the rest: `S < l`, the lenient decompression
//! of `A` and `R`, the double-scalar multiplication and the cofactored check, and writes one word per
//! signature. The hash stays on the host because messages have any length (a GPU SHA-512 needs 64-bit
//! rotates and a variable-length upload), and it costs about 1 µs per signature on one core against
//! the 40–50 µs of the curve work the GPU takes over. That choice has not been measured on a GPU yet;
//! see docs/BENCHMARKS.md.
//!
//! Invariants:
//! - one answer per signature, in input order;
//! - the shaders are compiled once, when the verifier is created, and the multiples of B are built then;
//! - a batch is cut into dispatches of at most `dispatch_size_max` signatures and at least two
//!   dispatches are in flight when the batch is large enough, so upload and readback of one overlap
//!   the compute of another;
//! - any failure (validation error, device lost, mapping timeout) sends that whole batch to the CPU
//!   verifier, logs a warning and counts it: no signature is dropped and none is accepted without a
//!   check. After a device loss every later batch goes to the CPU.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use curve25519_dalek::scalar::Scalar;
use rayon::prelude::*;
use sha2::{Digest, Sha512};
use thiserror::Error;
use tracing::{info, warn};

mod kernel_timing;

use super::{timed_share, Backend, BatchReport, BatchVerifier, CpuVerifier, Share, SigItem};

/// The WGSL of the verifier, in dependency order (WGSL has no includes).
pub const VERIFY_SHADER: &str = concat!(
    include_str!("../../shaders/field.wgsl"),
    include_str!("../../shaders/curve.wgsl"),
    include_str!("../../shaders/verify.wgsl"),
);

/// The verifier's WGSL plus the entry points that expose the field and point layers to tests.
pub const TEST_SHADER: &str = concat!(
    include_str!("../../shaders/field.wgsl"),
    include_str!("../../shaders/curve.wgsl"),
    include_str!("../../shaders/verify.wgsl"),
    include_str!("../../shaders/testing.wgsl"),
);

/// Words of input per signature: R, A, S, k.
pub const WORDS_PER_SIG: usize = 32;
/// Invocations per workgroup (`@workgroup_size` in verify.wgsl).
const WORKGROUP_SIZE: u32 = 64;
/// Words of a table of multiples [1]P..[8]P: 8 points of 4 coordinates of 10 limbs. One for B,
/// built once, and one per signature for -A, in the `scratch` buffer.
const TABLE_WORDS: usize = 8 * 40;
/// Dispatches in flight at once.
const SLOTS: usize = 2;
/// How long a failed batch's leftovers may take to drain before the GPU is given up.
const RECOVERY_WAIT: Duration = Duration::from_secs(60);
/// How long the start-up self-test may take.
const SELF_TEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Below this many signatures a batch goes in one dispatch: splitting it would cost more in
/// submissions than the overlap saves.
const SPLIT_MIN: usize = 512;

#[derive(Debug, Error)]
pub enum GpuError {
    #[error("no usable GPU adapter ({0}); the GPU verifier needs a Vulkan, Metal or DX12 adapter with 64-bit shader integers (on Linux without a GPU, install Mesa's lavapipe: apt-get install mesa-vulkan-drivers libvulkan1)")]
    NoAdapter(String),
    #[error("could not open GPU device {adapter}: {reason}")]
    RequestDevice { adapter: String, reason: String },
    #[error("GPU shader or pipeline creation failed: {0}")]
    Shader(String),
    #[error("GPU device lost: {0}")]
    DeviceLost(String),
    #[error("GPU did not finish a dispatch within {0:?}")]
    Timeout(Duration),
    #[error("GPU readback failed: {0}")]
    Readback(String),
    #[error("GPU validation error: {0}")]
    Validation(String),
    #[error("the GPU verifier disagrees with the CPU on its start-up self-test on {adapter} ({cases}); this driver miscompiles the shaders, so it is not used (Mesa's lavapipe before 25.0 is known to: install a newer mesa-vulkan-drivers, e.g. from bookworm-backports)")]
    SelfTest { adapter: String, cases: String },
}

/// Which adapters a caller accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterPolicy {
    /// Any adapter, software rasterizers (lavapipe/llvmpipe) included: for `backend = "gpu"` and tests.
    AnyIncludingSoftware,
    /// Real GPUs only: what `backend = "auto"` uses.
    HardwareOnly,
}

/// Settings of the GPU verifier (`[sigverify]` in the node's config).
#[derive(Debug, Clone)]
pub struct GpuConfig {
    /// Most signatures in one dispatch (bounded again by the adapter's buffer limits).
    pub dispatch_size_max: usize,
    /// How long to wait for one dispatch before the batch goes to the CPU.
    pub timeout: Duration,
}

impl Default for GpuConfig {
    fn default() -> Self {
        Self {
            dispatch_size_max: 65_536,
            timeout: Duration::from_secs(10),
        }
    }
}

/// An opened GPU: adapter, device and queue, and the sink for errors wgpu reports asynchronously.
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: String,
    software: bool,
    /// Whether the device was opened with timestamp queries (benchmarks time the kernel with them).
    timestamps: bool,
    limits: wgpu::Limits,
    errors: Arc<ErrorSink>,
}

/// Errors wgpu raises outside any call (validation, device loss) are kept here instead of panicking.
#[derive(Default)]
struct ErrorSink {
    last: Mutex<Option<String>>,
    lost: AtomicBool,
}

impl ErrorSink {
    fn record(&self, message: String) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(message);
        }
    }

    fn take(&self) -> Option<String> {
        self.last.lock().ok().and_then(|mut l| l.take())
    }
}

fn device_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

impl GpuContext {
    /// Finds the best adapter the policy allows (discrete before integrated before software) that
    /// supports 64-bit shader integers, and opens it.
    pub fn open(policy: AdapterPolicy) -> Result<Self, GpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let mut seen = Vec::new();
        let mut candidates = Vec::new();
        for adapter in adapters {
            let info = adapter.get_info();
            let label = if info.driver_info.is_empty() {
                format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend)
            } else {
                format!(
                    "{} ({:?}, {:?}, {})",
                    info.name, info.device_type, info.backend, info.driver_info
                )
            };
            let software = info.device_type == wgpu::DeviceType::Cpu;
            if !adapter.features().contains(wgpu::Features::SHADER_INT64) {
                seen.push(format!("{label}: no 64-bit shader integers"));
            } else if software && policy == AdapterPolicy::HardwareOnly {
                seen.push(format!("{label}: software adapter, not used by auto"));
            } else {
                seen.push(label.clone());
                candidates.push((device_rank(info.device_type), label, software, adapter));
            }
        }
        candidates.sort_by_key(|(rank, ..)| *rank);
        let Some((_, label, software, adapter)) = candidates.into_iter().next() else {
            let found = if seen.is_empty() {
                "none found".to_string()
            } else {
                format!("found: {}", seen.join("; "))
            };
            return Err(GpuError::NoAdapter(found));
        };
        let limits = adapter.limits();
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let mut features = wgpu::Features::SHADER_INT64;
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("mameynode-sigverify"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| GpuError::RequestDevice {
            adapter: label.clone(),
            reason: e.to_string(),
        })?;
        let errors = Arc::new(ErrorSink::default());
        {
            let errors = errors.clone();
            device
                .on_uncaptured_error(Arc::new(move |e: wgpu::Error| errors.record(e.to_string())));
        }
        {
            let errors = errors.clone();
            device.set_device_lost_callback(move |reason, message| {
                errors.lost.store(true, Ordering::SeqCst);
                errors.record(format!("{reason:?}: {message}"));
            });
        }
        Ok(Self {
            device,
            queue,
            adapter: label,
            software,
            timestamps,
            limits,
            errors,
        })
    }

    /// The adapter's name, type and API, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Cpu, Vulkan)`.
    pub fn adapter(&self) -> &str {
        &self.adapter
    }

    /// Whether the adapter is a software rasterizer (for tests only, never chosen by `auto`).
    pub fn is_software(&self) -> bool {
        self.software
    }

    fn check_errors(&self) -> Result<(), GpuError> {
        if self.errors.lost.load(Ordering::SeqCst) {
            return Err(GpuError::DeviceLost(
                self.errors.take().unwrap_or_else(|| "device lost".into()),
            ));
        }
        match self.errors.take() {
            Some(e) => Err(GpuError::Validation(e)),
            None => Ok(()),
        }
    }

    fn module(&self, source: &str) -> Result<wgpu::ShaderModule, GpuError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("ed25519"),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Shader(e.to_string()));
        }
        Ok(module)
    }

    fn layout(&self, entries: &[(u32, wgpu::BufferBindingType)]) -> wgpu::BindGroupLayout {
        let entries: Vec<wgpu::BindGroupLayoutEntry> = entries
            .iter()
            .map(|&(binding, ty)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        self.device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: None,
                entries: &entries,
            })
    }

    fn pipeline(
        &self,
        module: &wgpu::ShaderModule,
        layout: &wgpu::BindGroupLayout,
        entry: &str,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: None,
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Shader(format!("{entry}: {e}")));
        }
        Ok(pipeline)
    }

    fn buffer(&self, label: &str, bytes: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4),
            usage,
            mapped_at_creation: false,
        })
    }

    fn bind(
        &self,
        layout: &wgpu::BindGroupLayout,
        buffers: &[(u32, &wgpu::Buffer)],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .map(|&(binding, buffer)| wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout,
            entries: &entries,
        })
    }

    /// Workgroup counts covering `count` invocations; the shader linearizes (x, y).
    fn workgroups(&self, count: usize) -> (u32, u32) {
        let groups = count.div_ceil(WORKGROUP_SIZE as usize).max(1) as u32;
        let x_max = self.limits.max_compute_workgroups_per_dimension.max(1);
        if groups <= x_max {
            (groups, 1)
        } else {
            (x_max, groups.div_ceil(x_max))
        }
    }

    /// Runs `build_base_table` once: fills the table of [1]B..[8]B.
    fn build_base_table(
        &self,
        module: &wgpu::ShaderModule,
        layout: &wgpu::BindGroupLayout,
        bind_group: &wgpu::BindGroup,
    ) -> Result<(), GpuError> {
        let pipeline = self.pipeline(module, layout, "build_base_table")?;
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
        let index = self.queue.submit([encoder.finish()]);
        self.wait(index, Duration::from_secs(60))?;
        self.check_errors()
    }

    fn wait(&self, index: wgpu::SubmissionIndex, timeout: Duration) -> Result<(), GpuError> {
        match self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: Some(timeout),
        }) {
            Ok(_) => Ok(()),
            Err(wgpu::PollError::Timeout) => Err(GpuError::Timeout(timeout)),
            Err(e) => Err(GpuError::DeviceLost(e.to_string())),
        }
    }

    /// Maps `readback`, copies out its first `words` words and unmaps it.
    fn read(
        &self,
        readback: &wgpu::Buffer,
        words: usize,
        index: wgpu::SubmissionIndex,
        timeout: Duration,
    ) -> Result<Vec<u32>, GpuError> {
        let bytes = (words * 4) as u64;
        let slice = readback.slice(..bytes);
        let (tx, rx) = mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait(index, timeout)?;
        // The callback runs inside poll; after a completed wait it has been called.
        let mapped = match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(_) => return Err(GpuError::Timeout(timeout)),
        };
        mapped.map_err(|e| GpuError::Readback(e.to_string()))?;
        let out = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            bytemuck_u32(&view)
        };
        readback.unmap();
        self.check_errors()?;
        Ok(out)
    }
}

fn bytemuck_u32(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn words_to_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Packs one signature as R, A, S, k (32 words).
fn pack_one(item: &SigItem<'_>, out: &mut [u32]) {
    debug_assert_eq!(out.len(), WORDS_PER_SIG);
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(&item.signature[..32])
            .chain_update(item.public_key)
            .chain_update(item.message),
    );
    let fields: [&[u8]; 4] = [
        &item.signature[..32],
        &item.public_key[..],
        &item.signature[32..],
        k.as_bytes(),
    ];
    for (f, bytes) in fields.iter().enumerate() {
        for (w, chunk) in bytes.chunks_exact(4).enumerate() {
            out[f * 8 + w] = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
    }
}

/// Packs a batch on the rayon pool (the SHA-512 of every message happens here).
pub fn pack(items: &[SigItem<'_>]) -> Vec<u32> {
    let mut words = vec![0u32; items.len() * WORDS_PER_SIG];
    words
        .par_chunks_mut(WORDS_PER_SIG)
        .zip(items.par_iter())
        .with_min_len(64)
        .for_each(|(out, item)| pack_one(item, out));
    words
}

/// Public key, signature and message of each self-test case: valid signatures over empty, short and
/// long messages, and the adversarial kinds ZIP-215 decides (wrong message, flipped S and R bits,
/// S >= l, the identity as key and as R), repeated so that they fill more than one workgroup.
fn self_test_cases() -> Vec<([u8; 32], [u8; 64], Vec<u8>)> {
    use ed25519_dalek::{Signer, SigningKey};
    // l, little-endian.
    const ORDER_L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut base = Vec::new();
    for (seed, message) in [
        (1u8, Vec::new()),
        (2, b"mameynode".to_vec()),
        (3, (0..1000u32).map(|i| (i * 7) as u8).collect()),
    ] {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let public = key.verifying_key().to_bytes();
        let signature = key.sign(&message).to_bytes();
        base.push((public, signature, message.clone()));
        let mut other = message.clone();
        other.push(seed);
        base.push((public, signature, other));
        let mut s_flipped = signature;
        s_flipped[40] ^= 1;
        base.push((public, s_flipped, message.clone()));
        let mut r_flipped = signature;
        r_flipped[3] ^= 0x10;
        base.push((public, r_flipped, message.clone()));
        // S + l: the same point, a non-canonical scalar, which ZIP-215 rejects.
        let mut s_plus_l = signature;
        let mut carry = 0u16;
        for (i, l) in ORDER_L.iter().enumerate() {
            let v = u16::from(s_plus_l[32 + i]) + u16::from(*l) + carry;
            s_plus_l[32 + i] = v as u8;
            carry = v >> 8;
        }
        base.push((public, s_plus_l, message));
    }
    // A = R = the identity and S = 0: valid under ZIP-215's cofactored equation.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&identity);
    base.push((identity, signature, b"small order".to_vec()));
    base.iter()
        .cycle()
        .take(2 * WORKGROUP_SIZE as usize + 3)
        .cloned()
        .collect()
}

/// The self-test cases as items to verify.
fn case_items(cases: &[([u8; 32], [u8; 64], Vec<u8>)]) -> Vec<SigItem<'_>> {
    cases
        .iter()
        .map(|(public_key, signature, message)| SigItem {
            public_key,
            signature,
            message,
        })
        .collect()
}

/// The buffers of one dispatch in flight.
struct Slot {
    input: wgpu::Buffer,
    output: wgpu::Buffer,
    readback: wgpu::Buffer,
    params: wgpu::Buffer,
    /// Per-signature tables of multiples of -A; only the shader touches it.
    _scratch: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

struct Inflight {
    slot: usize,
    count: usize,
    index: wgpu::SubmissionIndex,
}

pub struct GpuVerifier {
    ctx: GpuContext,
    pipeline: wgpu::ComputePipeline,
    slots: Mutex<Vec<Slot>>,
    dispatch_size_max: usize,
    /// Nanoseconds to wait for one dispatch (atomic so that tests can shorten it).
    timeout_ns: AtomicU64,
    fallback: CpuVerifier,
    /// Set after a device loss: every later batch goes to the CPU.
    disabled: AtomicBool,
}

impl GpuVerifier {
    /// Opens an adapter the policy allows and compiles the pipelines.
    pub fn open(
        policy: AdapterPolicy,
        config: &GpuConfig,
        fallback: CpuVerifier,
    ) -> Result<Self, GpuError> {
        Self::new(GpuContext::open(policy)?, config, fallback)
    }

    pub fn new(
        ctx: GpuContext,
        config: &GpuConfig,
        fallback: CpuVerifier,
    ) -> Result<Self, GpuError> {
        use wgpu::BufferBindingType as T;
        use wgpu::BufferUsages as U;
        assert!(
            config.dispatch_size_max > 0,
            "dispatch size must be positive"
        );
        let started = Instant::now();
        let binding_max = ctx.limits.max_storage_buffer_binding_size as usize;
        let buffer_max = ctx.limits.max_buffer_size as usize;
        let dispatch_size_max = config
            .dispatch_size_max
            .min(binding_max.min(buffer_max) / (TABLE_WORDS * 4))
            .max(1);
        let module = ctx.module(VERIFY_SHADER)?;
        let layout = ctx.layout(&[
            (0, T::Storage { read_only: true }),
            (1, T::Storage { read_only: false }),
            (2, T::Storage { read_only: false }),
            (3, T::Uniform),
            (6, T::Storage { read_only: false }),
        ]);
        let pipeline = ctx.pipeline(&module, &layout, "verify_main")?;
        let base_table = ctx.buffer("base_table", TABLE_WORDS as u64 * 4, U::STORAGE);
        let mut slots = Vec::with_capacity(SLOTS);
        for _ in 0..SLOTS {
            let input = ctx.buffer(
                "sig_inputs",
                (dispatch_size_max * WORDS_PER_SIG * 4) as u64,
                U::STORAGE | U::COPY_DST,
            );
            let output = ctx.buffer(
                "sig_answers",
                (dispatch_size_max * 4) as u64,
                U::STORAGE | U::COPY_SRC,
            );
            let readback = ctx.buffer(
                "sig_readback",
                (dispatch_size_max * 4) as u64,
                U::MAP_READ | U::COPY_DST,
            );
            let params = ctx.buffer("params", 16, U::UNIFORM | U::COPY_DST);
            let scratch = ctx.buffer(
                "sig_scratch",
                (dispatch_size_max * TABLE_WORDS * 4) as u64,
                U::STORAGE,
            );
            let bind_group = ctx.bind(
                &layout,
                &[
                    (0, &input),
                    (1, &output),
                    (2, &base_table),
                    (3, &params),
                    (6, &scratch),
                ],
            );
            slots.push(Slot {
                input,
                output,
                readback,
                params,
                _scratch: scratch,
                bind_group,
            });
        }
        ctx.build_base_table(&module, &layout, &slots[0].bind_group)?;
        let verifier = Self {
            ctx,
            pipeline,
            slots: Mutex::new(slots),
            dispatch_size_max,
            timeout_ns: AtomicU64::new(0),
            fallback,
            disabled: AtomicBool::new(false),
        };
        // The first dispatch may include the driver's own compilation (lavapipe's takes minutes):
        // the self-test gets a start-up allowance, later batches the configured timeout.
        verifier.set_timeout(SELF_TEST_TIMEOUT.max(config.timeout));
        verifier.self_test()?;
        verifier.set_timeout(config.timeout);
        let ctx = &verifier.ctx;
        info!(
            adapter = ctx.adapter(),
            dispatch_size_max,
            setup_ms = started.elapsed().as_millis() as u64,
            "GPU signature verifier ready"
        );
        Ok(verifier)
    }

    /// Known answers before the verifier is used: a mix of valid and adversarial signatures must get
    /// exactly the CPU's answers. A driver that miscompiles the shaders (Mesa 22.3's lavapipe
    /// rejected valid signatures) is refused here instead of deciding signatures.
    fn self_test(&self) -> Result<(), GpuError> {
        let cases = self_test_cases();
        let items = case_items(&cases);
        let want = CpuVerifier::verify_chunk(&items);
        let got = self.verify_packed(&pack(&items))?;
        let wrong: Vec<String> = (0..items.len())
            .filter(|&i| got[i] != want[i])
            .map(|i| format!("case {i}: GPU {} CPU {}", got[i], want[i]))
            .collect();
        if wrong.is_empty() {
            return Ok(());
        }
        Err(GpuError::SelfTest {
            adapter: self.ctx.adapter.clone(),
            cases: format!(
                "{} of {} answers differ, first: {}",
                wrong.len(),
                items.len(),
                wrong[..wrong.len().min(4)].join(", ")
            ),
        })
    }

    pub fn adapter(&self) -> &str {
        self.ctx.adapter()
    }

    /// Changes how long a dispatch may take before its batch goes to the CPU.
    pub fn set_timeout(&self, timeout: Duration) {
        let ns = timeout.as_nanos().min(u64::MAX as u128) as u64;
        self.timeout_ns.store(ns, Ordering::Relaxed);
    }

    fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns.load(Ordering::Relaxed))
    }

    /// Signatures per dispatch for a batch of `n`: at most the limit, and split in two when the
    /// batch is big enough that overlapping transfers with compute pays.
    fn dispatch_size(&self, n: usize) -> usize {
        if n >= SPLIT_MIN {
            n.div_ceil(SLOTS).min(self.dispatch_size_max)
        } else {
            n.min(self.dispatch_size_max)
        }
        .max(1)
    }

    /// Verifies already packed signatures on the GPU.
    pub fn verify_packed(&self, words: &[u32]) -> Result<Vec<bool>, GpuError> {
        assert_eq!(words.len() % WORDS_PER_SIG, 0, "whole signatures only");
        let n = words.len() / WORDS_PER_SIG;
        let mut answers = Vec::with_capacity(n);
        if n == 0 {
            return Ok(answers);
        }
        if self.disabled.load(Ordering::SeqCst) {
            return Err(GpuError::DeviceLost(
                "disabled after an earlier device loss".into(),
            ));
        }
        let slots = self
            .slots
            .lock()
            .map_err(|_| GpuError::Validation("slot lock poisoned".into()))?;
        let per = self.dispatch_size(n);
        let mut inflight: VecDeque<Inflight> = VecDeque::with_capacity(SLOTS);
        for (j, chunk) in words.chunks(per * WORDS_PER_SIG).enumerate() {
            if inflight.len() == SLOTS {
                if let Some(done) = inflight.pop_front() {
                    self.finish(&slots, done, &mut answers)?;
                }
            }
            let s = j % SLOTS;
            let count = chunk.len() / WORDS_PER_SIG;
            let slot = &slots[s];
            self.ctx
                .queue
                .write_buffer(&slot.params, 0, &words_to_bytes(&[count as u32, 0, 0, 0]));
            self.ctx
                .queue
                .write_buffer(&slot.input, 0, &words_to_bytes(chunk));
            let mut encoder = self
                .ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
                pass.set_pipeline(&self.pipeline);
                pass.set_bind_group(0, &slot.bind_group, &[]);
                let (x, y) = self.ctx.workgroups(count);
                pass.dispatch_workgroups(x, y, 1);
            }
            encoder.copy_buffer_to_buffer(&slot.output, 0, &slot.readback, 0, (count * 4) as u64);
            let index = self.ctx.queue.submit([encoder.finish()]);
            inflight.push_back(Inflight {
                slot: s,
                count,
                index,
            });
        }
        while let Some(done) = inflight.pop_front() {
            self.finish(&slots, done, &mut answers)?;
        }
        assert_eq!(answers.len(), n, "one answer per signature");
        Ok(answers)
    }

    fn finish(
        &self,
        slots: &[Slot],
        done: Inflight,
        answers: &mut Vec<bool>,
    ) -> Result<(), GpuError> {
        let words = self.ctx.read(
            &slots[done.slot].readback,
            done.count,
            done.index,
            self.timeout(),
        )?;
        for w in words {
            // Anything but exactly 1 is a rejection: a corrupted answer never accepts.
            answers.push(w == 1);
        }
        Ok(())
    }

    /// After a failed batch: lets the device drain what is still queued and cancels pending
    /// mappings, so the slots can be used again. False when the device does not come back.
    fn recover(&self) -> bool {
        let Ok(slots) = self.slots.lock() else {
            return false;
        };
        let drained = self.ctx.device.poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: Some(RECOVERY_WAIT),
        });
        if drained.is_err() {
            return false;
        }
        for slot in slots.iter() {
            slot.readback.unmap();
        }
        // Errors raised by the failed batch are its own; the cancelled mappings may add some.
        let _ = self.ctx.errors.take();
        !self.ctx.errors.lost.load(Ordering::SeqCst)
    }

    /// Verifies on the GPU, or on the CPU when the GPU fails; says which in the report.
    fn verify_with_fallback(&self, items: &[SigItem<'_>]) -> (Vec<bool>, BatchReport) {
        let started = Instant::now();
        let result = self.verify_packed(&pack(items));
        match result {
            Ok(answers) => {
                let report = BatchReport {
                    shares: vec![Share {
                        backend: Backend::Gpu,
                        signatures: items.len(),
                        elapsed: started.elapsed(),
                    }],
                    fallback: None,
                };
                (answers, report)
            }
            Err(e) => {
                if matches!(e, GpuError::DeviceLost(_)) || !self.recover() {
                    warn!("GPU verifier disabled; every later batch is verified on the CPU");
                    self.disabled.store(true, Ordering::SeqCst);
                }
                warn!(error = %e, signatures = items.len(), "GPU verification failed; batch verified on the CPU");
                let (answers, mut report) = cpu_report(&self.fallback, items);
                report.fallback = Some(e.to_string());
                (answers, report)
            }
        }
    }
}

impl BatchVerifier for GpuVerifier {
    fn backend(&self) -> Backend {
        Backend::Gpu
    }

    fn describe(&self) -> String {
        self.adapter().to_string()
    }

    fn verify_batch_report(&self, items: &[SigItem<'_>]) -> (Vec<bool>, BatchReport) {
        if items.is_empty() {
            return (Vec::new(), BatchReport::default());
        }
        self.verify_with_fallback(items)
    }
}

/// `backend = "auto"`: a real GPU when there is one, sharing large batches with the CPU in
/// proportion to the rates each has shown; the CPU alone for small batches or without a GPU.
pub struct AutoVerifier {
    gpu: Option<GpuVerifier>,
    cpu: CpuVerifier,
    /// Batches smaller than this stay on the CPU: a GPU round trip costs more than it saves.
    gpu_batch_min: usize,
    /// Signatures per second each side verified lately (exponential average); 0 = not measured.
    gpu_rate: AtomicU64,
    cpu_rate: AtomicU64,
}

impl AutoVerifier {
    pub fn new(config: &GpuConfig, cpu: CpuVerifier, gpu_batch_min: usize) -> Self {
        let gpu = match GpuVerifier::open(AdapterPolicy::HardwareOnly, config, cpu.clone()) {
            Ok(g) => {
                info!(
                    adapter = g.adapter(),
                    "auto: verifying on the GPU and the CPU"
                );
                Some(g)
            }
            Err(e) => {
                info!(reason = %e, "auto: no GPU; verifying on the CPU");
                None
            }
        };
        Self {
            gpu,
            cpu,
            gpu_batch_min,
            gpu_rate: AtomicU64::new(0),
            cpu_rate: AtomicU64::new(0),
        }
    }

    /// The adapter in use, if any.
    pub fn adapter(&self) -> Option<&str> {
        self.gpu.as_ref().map(|g| g.adapter())
    }

    fn update_rate(rate: &AtomicU64, signatures: usize, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if signatures == 0 || secs <= 0.0 {
            return;
        }
        let now = (signatures as f64 / secs) as u64;
        let old = rate.load(Ordering::Relaxed);
        let new = if old == 0 { now } else { (old * 7 + now) / 8 };
        rate.store(new.max(1), Ordering::Relaxed);
    }

    /// How many of `n` signatures go to the GPU.
    fn gpu_share(&self, n: usize) -> usize {
        let g = self.gpu_rate.load(Ordering::Relaxed);
        let c = self.cpu_rate.load(Ordering::Relaxed);
        if g == 0 || c == 0 {
            // Not measured yet: half each, which measures both.
            return n / 2;
        }
        ((n as u128 * g as u128) / (g as u128 + c as u128)) as usize
    }
}

impl BatchVerifier for AutoVerifier {
    fn backend(&self) -> Backend {
        Backend::Auto
    }

    fn describe(&self) -> String {
        match self.adapter() {
            Some(a) => format!("auto: {a} + cpu"),
            None => "auto: cpu".into(),
        }
    }

    fn verify_batch_report(&self, items: &[SigItem<'_>]) -> (Vec<bool>, BatchReport) {
        let gpu = match &self.gpu {
            Some(g) if items.len() >= self.gpu_batch_min => g,
            _ => return cpu_report(&self.cpu, items),
        };
        let split = self.gpu_share(items.len());
        let (gpu_items, cpu_items) = items.split_at(split);
        let ((mut answers, mut report), (cpu_answers, cpu)) = rayon::join(
            || gpu.verify_batch_report(gpu_items),
            || cpu_report(&self.cpu, cpu_items),
        );
        for s in &report.shares {
            if s.backend == Backend::Gpu {
                Self::update_rate(&self.gpu_rate, s.signatures, s.elapsed);
            }
        }
        for s in &cpu.shares {
            Self::update_rate(&self.cpu_rate, s.signatures, s.elapsed);
        }
        answers.extend(cpu_answers);
        report.shares.extend(cpu.shares);
        (answers, report)
    }
}

/// Verifies on the CPU and reports it.
fn cpu_report(cpu: &CpuVerifier, items: &[SigItem<'_>]) -> (Vec<bool>, BatchReport) {
    timed_share(Backend::Cpu, items.len(), || cpu.verify_all(items))
}

/// Runs one of the test entry points of `shaders/testing.wgsl` (`field_ops`, `point_ops`) over
/// `count` cases and returns `out_words` words per case. For the test suite.
#[doc(hidden)]
pub fn run_test_kernel(
    ctx: &GpuContext,
    entry: &str,
    inputs: &[u32],
    count: usize,
    out_words: usize,
) -> Result<Vec<u32>, GpuError> {
    use wgpu::BufferBindingType as T;
    use wgpu::BufferUsages as U;
    let module = ctx.module(TEST_SHADER)?;
    let layout = ctx.layout(&[
        (2, T::Storage { read_only: false }),
        (3, T::Uniform),
        (4, T::Storage { read_only: true }),
        (5, T::Storage { read_only: false }),
        (6, T::Storage { read_only: false }),
    ]);
    let out_bytes = (count * out_words * 4) as u64;
    let base_table = ctx.buffer("base_table", TABLE_WORDS as u64 * 4, U::STORAGE);
    let params = ctx.buffer("params", 16, U::UNIFORM | U::COPY_DST);
    let input = ctx.buffer(
        "test_inputs",
        (inputs.len() * 4) as u64,
        U::STORAGE | U::COPY_DST,
    );
    let output = ctx.buffer("test_outputs", out_bytes, U::STORAGE | U::COPY_SRC);
    let readback = ctx.buffer("test_readback", out_bytes, U::MAP_READ | U::COPY_DST);
    let scratch = ctx.buffer(
        "test_scratch",
        (count.max(1) * TABLE_WORDS * 4) as u64,
        U::STORAGE,
    );
    let bind_group = ctx.bind(
        &layout,
        &[
            (2, &base_table),
            (3, &params),
            (4, &input),
            (5, &output),
            (6, &scratch),
        ],
    );
    ctx.build_base_table(&module, &layout, &bind_group)?;
    let pipeline = ctx.pipeline(&module, &layout, entry)?;
    ctx.queue
        .write_buffer(&params, 0, &words_to_bytes(&[count as u32, 0, 0, 0]));
    ctx.queue.write_buffer(&input, 0, &words_to_bytes(inputs));
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(count.div_ceil(WORKGROUP_SIZE as usize) as u32, 1, 1);
    }
    encoder.copy_buffer_to_buffer(&output, 0, &readback, 0, out_bytes);
    let index = ctx.queue.submit([encoder.finish()]);
    ctx.read(
        &readback,
        count * out_words,
        index,
        Duration::from_secs(300),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The self-test only catches a miscompiling driver if it asks questions with both answers and
    /// spans more than one workgroup.
    #[test]
    fn self_test_cases_have_both_answers() {
        let cases = self_test_cases();
        let items = case_items(&cases);
        let answers = CpuVerifier::verify_chunk(&items);
        assert!(items.len() > 2 * WORKGROUP_SIZE as usize);
        let valid = answers.iter().filter(|a| **a).count();
        // Per round of 16 cases: three honest signatures and the identity case are valid.
        assert_eq!(answers[..16].iter().filter(|a| **a).count(), 4);
        assert!(valid > 20 && answers.len() - valid > 60, "{valid} valid");
    }
}
