//! Cranelift JIT module: compiles blocks into executable memory.

use avm_runtime::jit_abi::BUILTINS;
use cranelift_codegen::ir::FuncRef;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use super::translate::{signature, translate};
use crate::analysis::{Block, IntOp};

/// A compiled block: reads Int inputs, writes Int results, returns 0 or 1 (an AVM error on the
/// way: run the block in the interpreter). See [`super::translate`].
pub type BlockFn = unsafe extern "C" fn(inputs: *const u64, results: *mut u64) -> u32;

/// Owns the executable memory of every block it compiled.
pub struct CodeModule {
    module: Option<JITModule>,
    context: cranelift_codegen::Context,
    builder_context: FunctionBuilderContext,
    /// Each builtin's opcode and its import in this module.
    builtins: Vec<(u8, FuncId)>,
    compiled: u32,
}

impl std::fmt::Debug for CodeModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeModule")
            .field("compiled", &self.compiled)
            .finish()
    }
}

impl CodeModule {
    /// A module for the host machine, tuned for compile speed (blocks are small and many).
    pub fn new() -> Result<CodeModule, String> {
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, name: &str, value: &str| {
            flags
                .set(name, value)
                .map_err(|e| format!("cranelift setting {name}: {e}"))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "enable_verifier", "false")?;
        set(&mut flags, "regalloc_algorithm", "single_pass")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(&mut flags, "is_pic", "false")?;
        let isa = cranelift_native::builder()
            .map_err(|e| format!("host not supported by cranelift: {e}"))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| format!("cranelift isa: {e}"))?;
        let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
        for builtin in BUILTINS {
            builder.symbol(builtin.symbol, builtin.function as *const u8);
        }
        let mut module = JITModule::new(builder);
        let call_conv = module.isa().default_call_conv();
        let sig = signature(module.target_config().pointer_type(), call_conv);
        let mut builtins = Vec::with_capacity(BUILTINS.len());
        for builtin in BUILTINS {
            let id = module
                .declare_function(builtin.symbol, Linkage::Import, &sig)
                .map_err(|e| e.to_string())?;
            builtins.push((builtin.opcode, id));
        }
        Ok(CodeModule {
            context: module.make_context(),
            module: Some(module),
            builtins,
            builder_context: FunctionBuilderContext::new(),
            compiled: 0,
        })
    }

    /// Compiles `block` and returns its entry point.
    pub fn compile(&mut self, block: &Block) -> Result<BlockFn, String> {
        let module = self.module.as_mut().expect("present until drop");
        let call_conv = module.isa().default_call_conv();
        let pointer = module.target_config().pointer_type();
        let sig = signature(pointer, call_conv);
        let name = format!("block{}_{}", block.entry, self.compiled);
        let id = module
            .declare_function(&name, Linkage::Local, &sig)
            .map_err(|e| e.to_string())?;
        self.context.func.signature = sig;
        let config = module.target_config();
        let used: Vec<(u8, FuncRef)> = self
            .builtins
            .iter()
            .filter(|(opcode, _)| {
                block
                    .ops
                    .iter()
                    .any(|op| matches!(op, IntOp::Builtin(o, _) if o == opcode))
            })
            .map(|&(opcode, id)| {
                (
                    opcode,
                    module.declare_func_in_func(id, &mut self.context.func),
                )
            })
            .collect();
        translate(
            block,
            &mut self.context.func,
            &mut self.builder_context,
            config,
            &used,
        );
        module
            .define_function(id, &mut self.context)
            .map_err(|e| format!("{e:?}"))?;
        module.clear_context(&mut self.context);
        module.finalize_definitions().map_err(|e| e.to_string())?;
        self.compiled += 1;
        let code = module.get_finalized_function(id);
        // SAFETY: `code` is the entry of a function just finalized by this module with the
        // signature `signature()` builds, which is `BlockFn`'s ABI (two pointers, a `u32`,
        // the platform's default calling convention); the memory stays mapped as long as
        // this `CodeModule`, which every holder of the pointer keeps alive (a compiled block
        // owns a handle on its module, see `shared.rs`).
        Ok(unsafe { std::mem::transmute::<*const u8, BlockFn>(code) })
    }
}

impl Drop for CodeModule {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: every `BlockFn` this module handed out lives in a `Compiled` block that
            // holds a handle on this module (`shared.rs`), so the module drops only once no
            // block, and so no pointer into this memory, is left to be called.
            unsafe { module.free_memory() };
        }
    }
}
