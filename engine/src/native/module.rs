//! Compiles regions into executable memory (one Cranelift JIT module per program).

use cranelift_codegen::ir::{AbiParam, InstBuilder, Signature, types};
use cranelift_codegen::isa::CallConv;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use super::helpers;
use super::lower::{Chain, Ctx, Env, Helpers, JumpCaches, signature, translate};
use super::region::Region;
use avm_interp::Machine;
use avm_runtime::Program;

/// A compiled region's entry (a function of the `tail` calling convention, entered from Rust
/// through [`Entry`]).
pub type RegionFn = *const u8;

/// A region as Cranelift saw it: its IR and the machine code emitted for it, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionText {
    /// The loaded pc the region is entered at.
    pub entry: u32,
    /// Its Cranelift IR, as built (before Cranelift's optimisations).
    pub clif: String,
    /// The machine instructions Cranelift emitted, in its own notation.
    pub disassembly: String,
}

/// A region just compiled.
#[derive(Debug)]
pub struct Compiled {
    pub entry: RegionFn,
    /// Bytes of machine code.
    pub code_bytes: usize,
    /// Its text, when the module keeps it.
    pub text: Option<RegionText>,
}

/// What a module does besides compiling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// Keep each region's [`RegionText`].
    pub keep_text: bool,
    /// Append each region's address, size and name to `/tmp/perf-PID.map`, where `perf`
    /// looks for the names of JIT code.
    pub perf_map: bool,
}

/// Runs the region at `region` (and the ones it goes on into), returning a code of
/// [`super::lower`] (`DONE`, `GUARD` or `SIDE`).
pub type Entry =
    unsafe extern "C" fn(machine: *mut Machine, ctx: *const Ctx, region: RegionFn) -> u32;

/// The helpers: symbol, address, parameters (all 64-bit words) and whether one word returns.
const HELPERS: [(&str, *const u8, usize, bool); 8] = [
    ("avm_drop_value", helpers::drop_value as *const u8, 2, false),
    (
        "avm_clone_value",
        helpers::clone_value as *const u8,
        2,
        false,
    ),
    ("avm_tuple_set", helpers::tuple_set as *const u8, 4, true),
    ("avm_reserve", helpers::reserve as *const u8, 3, false),
    (
        "avm_count_overflow",
        helpers::count_overflow as *const u8,
        0,
        false,
    ),
    (
        "avm_resolve_jump",
        helpers::resolve_jump as *const u8,
        2,
        true,
    ),
    (
        "avm_interpret_step",
        helpers::interpret_step as *const u8,
        1,
        true,
    ),
    ("avm_value_op", helpers::value_op as *const u8, 6, true),
];

/// Owns the executable memory of the regions it compiled.
pub struct RegionModule {
    module: Option<JITModule>,
    entry: Entry,
    context: cranelift_codegen::Context,
    builder_context: FunctionBuilderContext,
    helpers: Vec<FuncId>,
    compiled: u32,
    extras: Extras,
    /// The perf map, once opened (`None` if it cannot be).
    perf_map: Option<std::fs::File>,
    /// The jump caches of the compiled regions (freed with their code).
    caches: JumpCaches,
}

impl std::fmt::Debug for RegionModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionModule")
            .field("compiled", &self.compiled)
            .finish()
    }
}

impl RegionModule {
    /// A module for the host machine, doing `extras` besides compiling.
    pub fn new(extras: Extras) -> Result<RegionModule, String> {
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, name: &str, value: &str| {
            flags
                .set(name, value)
                .map_err(|e| format!("cranelift setting {name}: {e}"))
        };
        // Measured on evm_test_create at threshold 0 (1,096 regions, 40,489 instructions):
        // with the single-pass allocator compiling takes half the time (775 ms against
        // 1,528 ms) but the code keeps nearly every value in memory, and a warm run is 0.98x
        // the interpreter against 1.30x with the backtracking allocator (opt_level makes
        // under 5% difference either way).
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "regalloc_algorithm", "backtracking")?;
        set(&mut flags, "enable_verifier", "false")?;
        // Cranelift's tail calls (regions going on into regions) need frame pointers.
        set(&mut flags, "preserve_frame_pointers", "true")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(&mut flags, "is_pic", "false")?;
        let isa = cranelift_native::builder()
            .map_err(|e| format!("host not supported by cranelift: {e}"))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| format!("cranelift isa: {e}"))?;
        let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
        for (symbol, address, ..) in HELPERS {
            builder.symbol(symbol, address);
        }
        let mut module = JITModule::new(builder);
        let call_conv = module.isa().default_call_conv();
        let mut helpers = Vec::with_capacity(HELPERS.len());
        for (symbol, _, params, returns) in HELPERS {
            let mut sig = Signature::new(call_conv);
            sig.params
                .extend((0..params).map(|_| AbiParam::new(types::I64)));
            if returns {
                sig.returns.push(AbiParam::new(types::I64));
            }
            let id = module
                .declare_function(symbol, Linkage::Import, &sig)
                .map_err(|e| e.to_string())?;
            helpers.push(id);
        }
        let mut context = module.make_context();
        let mut builder_context = FunctionBuilderContext::new();
        let entry = entry_trampoline(&mut module, &mut context, &mut builder_context)?;
        Ok(RegionModule {
            context,
            module: Some(module),
            entry,
            builder_context,
            helpers,
            compiled: 0,
            extras,
            perf_map: extras.perf_map.then(open_perf_map).flatten(),
            caches: Vec::new(),
        })
    }

    /// The function through which Rust enters a region.
    pub fn entry(&self) -> Entry {
        self.entry
    }

    /// Compiles `region`, which goes on into the regions of `table` (one slot per loaded pc,
    /// a region's entry or null, alive as long as this module), and returns its entry point.
    pub fn compile(
        &mut self,
        program: &Program,
        region: &Region,
        table: *const u64,
    ) -> Result<Compiled, String> {
        let module = self.module.as_mut().expect("present until drop");
        let pointer = module.target_config().pointer_type();
        let sig = signature(pointer, CallConv::Tail);
        let name = format!("region{}_{}", region.entry, self.compiled);
        let id = module
            .declare_function(&name, Linkage::Local, &sig)
            .map_err(|e| e.to_string())?;
        self.context.func.signature = sig;
        let mut import = |id: FuncId| module.declare_func_in_func(id, &mut self.context.func);
        let helpers = Helpers {
            drop_value: import(self.helpers[0]),
            clone_value: import(self.helpers[1]),
            tuple_set: import(self.helpers[2]),
            reserve: import(self.helpers[3]),
            count_overflow: import(self.helpers[4]),
            resolve_jump: import(self.helpers[5]),
            interpret_step: import(self.helpers[6]),
            value_op: import(self.helpers[7]),
        };
        let chain = Chain {
            table: table as u64,
            signature: self
                .context
                .func
                .import_signature(signature(pointer, CallConv::Tail)),
        };
        let config = module.target_config();
        let env = Env {
            program,
            helpers: &helpers,
            chain,
            caches: &mut self.caches,
        };
        translate(
            region,
            &mut self.context.func,
            &mut self.builder_context,
            config,
            env,
        );
        let keep_text = self.extras.keep_text;
        let clif = keep_text.then(|| self.context.func.display().to_string());
        self.context.set_disasm(keep_text);
        module
            .define_function(id, &mut self.context)
            .map_err(|e| format!("{e:?}"))?;
        let code = self.context.compiled_code().expect("just compiled");
        let code_bytes = code.code_buffer().len();
        let text = clif.map(|clif| RegionText {
            entry: region.entry,
            clif,
            disassembly: code.vcode.clone().unwrap_or_default(),
        });
        module.clear_context(&mut self.context);
        module.finalize_definitions().map_err(|e| e.to_string())?;
        self.compiled += 1;
        let entry = module.get_finalized_function(id);
        if let Some(map) = &mut self.perf_map {
            use std::io::Write;
            // A failed write only costs perf a name.
            let _ = writeln!(map, "{:x} {code_bytes:x} avm::{name}", entry as usize);
        }
        Ok(Compiled {
            entry,
            code_bytes,
            text,
        })
    }
}

/// Opens `/tmp/perf-PID.map` for appending (perf's convention for JIT symbols).
fn open_perf_map() -> Option<std::fs::File> {
    let path = format!("/tmp/perf-{}.map", std::process::id());
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

/// Compiles the function through which Rust (the platform's calling convention) calls a
/// region (the `tail` convention): `entry(machine, ctx, region)` returns what the region does.
fn entry_trampoline(
    module: &mut JITModule,
    context: &mut cranelift_codegen::Context,
    builder_context: &mut FunctionBuilderContext,
) -> Result<Entry, String> {
    let pointer = module.target_config().pointer_type();
    let mut sig = signature(pointer, module.isa().default_call_conv());
    sig.params.push(AbiParam::new(pointer));
    let id = module
        .declare_function("avm_enter_region", Linkage::Local, &sig)
        .map_err(|e| e.to_string())?;
    context.func.signature = sig;
    let region_sig = context
        .func
        .import_signature(signature(pointer, CallConv::Tail));
    let mut b = FunctionBuilder::new(&mut context.func, builder_context);
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    let params = b.block_params(block).to_vec();
    let call = b
        .ins()
        .call_indirect(region_sig, params[2], &[params[0], params[1]]);
    let code = b.inst_results(call)[0];
    b.ins().return_(&[code]);
    b.finalize(module.target_config());
    module
        .define_function(id, context)
        .map_err(|e| format!("{e:?}"))?;
    module.clear_context(context);
    module.finalize_definitions().map_err(|e| e.to_string())?;
    let code = module.get_finalized_function(id);
    // SAFETY: `code` is the entry of the function just finalized with `Entry`'s signature
    // (three pointers in, a `u32` out, the platform's calling convention); it lives as long
    // as the module, which outlives every call through it (the JIT owns both).
    Ok(unsafe { std::mem::transmute::<*const u8, Entry>(code) })
}

impl Drop for RegionModule {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: the functions of this module are only called through the JIT that owns
            // it, so none runs or will run once it drops.
            unsafe { module.free_memory() };
        }
    }
}
