//! A region to Cranelift IR: native code that runs the machine in place.
//!
//! The function takes the machine and the run's [`Ctx`] and returns a code (the `tail` calling
//! convention; Rust enters through the module's trampoline). Its entry guard checks what the
//! longest path of the region needs (stack depths, step budget, gas and the gas bound) and
//! returns [`GUARD`] with nothing changed if anything is missing. Then stack values live in SSA:
//! moves cost nothing, and only values that end somewhere new are written back when control
//! leaves. Counts change lazily: a ledger per path ([`State`]) records the handles held to each
//! counted value, and settling makes them true where they must be (before a tuple update and
//! where control leaves); the rare paths (the last handle, buffers, values of unknown kind,
//! shared or hashed tuples, wide arithmetic) go through [`super::helpers`].
//!
//! Control leaves at a path's end ([`DONE`]: the pc is where the interpreter or the next region,
//! entered by a tail call through the table of [`Chain`], goes on), or before an instruction
//! whose operands raise an error ([`SIDE`]: wrong kind, missing slot): then the stacks, steps,
//! gas and pc are exactly the interpreter's before that instruction, which the interpreter
//! executes next. A plain instruction native code has no code for runs in the interpreter in
//! place, on the machine written back.

use avm_interp::layout::{self as machine, stack};
use avm_runtime::heap::layout as node;
use avm_runtime::opcode;
use avm_runtime::value::layout as value;
use avm_runtime::{Frozen, Program, Value};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    self, AbiParam, BlockArg, FuncRef, Function, InstBuilder, MemFlagsData, Signature, types,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

use super::region::{Block, End, Inst, Region, Step, Target};

/// Control left at the end of a path, or before an instruction native code leaves to the
/// interpreter at the end of one; the machine's pc says where.
pub const DONE: u32 = 0;
/// The entry guard failed: nothing ran, nothing changed.
pub const GUARD: u32 = 1;
/// Control left before an instruction whose operands native code does not handle.
pub const SIDE: u32 = 2;

/// What the caller tells region code about the run.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// The machine's step count at which the run must stop (its steps since the program
    /// started, plus the run's budget): regions chained one into another all check it.
    pub step_limit: u64,
    /// The most gas used the machine may reach (see [`avm_interp::GasBound`]), low half.
    pub ceiling_lo: u64,
    /// High half of the ceiling.
    pub ceiling_hi: u64,
}

/// How a region goes on into the next one: the per-instruction table of compiled regions
/// (the address of a slot per loaded pc, each a function pointer or null) and the region
/// signature (the `tail` calling convention, so that going on is a jump, not a deeper call).
#[derive(Clone, Copy, Debug)]
pub struct Chain {
    /// The table's address.
    pub table: u64,
    /// The region signature, imported into the function being built.
    pub signature: ir::SigRef,
}

/// The cache of one jump from the stack: the last codepoint (its payload word, 0 at first)
/// that resolved to a loaded pc there, and that pc. Only the program's own codepoints resolve,
/// and they are immortal, so a cached address is never reused for another codepoint. Region
/// code reads and writes it on the machine's thread alone.
pub type JumpCache = [std::sync::atomic::AtomicU64; 2];

/// Where the jump caches of the regions being compiled live (as long as their code).
pub type JumpCaches = Vec<Box<JumpCache>>;

/// What a region's code is built against: its program, the helpers and the chaining table
/// imported into its function, and where its jump caches go.
#[derive(Debug)]
pub struct Env<'a> {
    /// The program the region is of.
    pub program: &'a Program,
    /// The helpers, imported.
    pub helpers: &'a Helpers,
    /// How it goes on into other regions.
    pub chain: Chain,
    /// Where its jump caches go (they must live as long as its code).
    pub caches: &'a mut JumpCaches,
}

/// The signature of a region function.
pub fn signature(pointer: ir::Type, call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.push(AbiParam::new(pointer));
    sig.params.push(AbiParam::new(pointer));
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

/// The helpers a region calls, imported into its function ([`super::helpers`]).
#[derive(Clone, Copy, Debug)]
pub struct Helpers {
    /// Drops a handle (the last one, or a buffer's).
    pub drop_value: FuncRef,
    /// Adds a handle (a buffer's, or one that would overflow the count).
    pub clone_value: FuncRef,
    /// `tset`/`xset` on a shared or hashed tuple.
    pub tuple_set: FuncRef,
    /// Makes room on the stacks.
    pub reserve: FuncRef,
    /// Aborts: a count would reach the immortal mark.
    pub count_overflow: FuncRef,
    /// The loaded pc of a codepoint, or `u64::MAX`.
    pub resolve_jump: FuncRef,
    /// Runs the instruction at the machine's pc in the interpreter.
    pub interpret_step: FuncRef,
    /// An arithmetic or compare opcode on values the inline code does not take.
    pub value_op: FuncRef,
}

/// What a region needs from the machine, over all its paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Data-stack values it reads below its own pushes.
    pub data: usize,
    /// Aux-stack values it reads below its own pushes.
    pub aux: usize,
    /// The most data-stack values it adds at once.
    pub data_growth: usize,
    /// The most aux-stack values it adds at once.
    pub aux_growth: usize,
    /// Steps on its longest path.
    pub steps: u64,
    /// Gas on its costliest path.
    pub gas: u64,
}

/// What one step does to the stacks, from the opcode table: (whether an immediate goes on
/// first, data pops, data pushes, aux pops, aux pushes).
fn effect(step: &Step) -> (bool, usize, usize, usize, usize) {
    let info = step.info;
    (
        step.immediate,
        usize::from(info.pops),
        usize::from(info.pushes),
        usize::from(info.aux_pops),
        usize::from(info.aux_pushes),
    )
}

/// The needs of `region`'s paths.
pub fn needs(region: &Region) -> Needs {
    #[derive(Clone, Copy)]
    struct Path {
        height: isize,
        aux_height: isize,
        steps: u64,
        gas: u64,
    }
    fn walk(region: &Region, index: usize, mut at: Path, needs: &mut Needs) {
        let block = &region.blocks[index];
        for step in &block.steps {
            let (first, pops, pushes, aux_pops, aux_pushes) = effect(step);
            let first = isize::from(first);
            // The immediate goes on first; then the instruction's operands are taken.
            let low = at.height + first - pops as isize;
            needs.data = needs.data.max((-low).max(0) as usize);
            at.height += first + pushes as isize - pops as isize;
            needs.data_growth = needs.data_growth.max(at.height.max(0) as usize);
            needs.data_growth = needs.data_growth.max((low + pops as isize).max(0) as usize);
            let aux_low = at.aux_height - aux_pops as isize;
            needs.aux = needs.aux.max((-aux_low).max(0) as usize);
            at.aux_height += aux_pushes as isize - aux_pops as isize;
            needs.aux_growth = needs.aux_growth.max(at.aux_height.max(0) as usize);
            at.steps += 1;
            at.gas += step.info.gas;
        }
        needs.steps = needs.steps.max(at.steps);
        needs.gas = needs.gas.max(at.gas);
        let targets = match block.end {
            End::Goto(t) => [Some(t), None],
            End::Branch { taken, fall } => [Some(taken), Some(fall)],
        };
        for target in targets.into_iter().flatten() {
            if let Target::Block(next) = target {
                walk(region, next, at, needs);
            }
        }
    }
    let mut needs = Needs::default();
    if !region.blocks.is_empty() {
        let start = Path {
            height: 0,
            aux_height: 0,
            steps: 0,
            gas: 0,
        };
        walk(region, 0, start, &mut needs);
    }
    needs
}

/// What native code knows of a value's kind.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Known when compiling.
    Known(u64),
    /// In this SSA value.
    Dynamic(ir::Value),
}

/// A stack value as the code being built sees it.
#[derive(Clone, Debug)]
enum Val {
    /// Position `index` above the base of the data or aux stack at entry, not read yet.
    Input { aux: bool, index: usize },
    /// A value in SSA.
    Held {
        kind: Kind,
        payload: ir::Value,
        /// Whether it may be a counted handle (else an Int below 2^64 or immortal).
        counted: bool,
        /// The stack position it was read from, if it is that entry value.
        home: Option<(bool, usize)>,
        /// The value itself, when it is a program constant.
        constant: Option<Frozen>,
    },
}

/// A tuple slot: known when compiling, or an Int in SSA (checked to be in range).
#[derive(Clone, Copy, Debug)]
enum Index {
    Known(u8),
    Dynamic(ir::Value),
}

/// The stacks along one path, from the base (the entry depth minus what the region reads).
#[derive(Clone, Debug)]
struct State {
    data: Vec<Val>,
    aux: Vec<Val>,
    steps: u64,
    gas: u64,
    /// The handles the code holds to each counted value in SSA. Counts change lazily: a
    /// `dup` or a `pop` only moves stack entries, and [`Lower::settle`] makes the handles held
    /// equal to the entries (adding handles first, then dropping the extra ones) where counts
    /// must be true: when control leaves, and before a tuple update.
    ledger: Vec<Holding>,
}

/// The handles held to one counted value, known by its payload.
#[derive(Clone, Copy, Debug)]
struct Holding {
    payload: ir::Value,
    kind: Kind,
    handles: u32,
}

impl State {
    /// Records that `handles` handles are held to `v` (if it is counted and not yet known).
    fn hold(&mut self, v: &Val, handles: u32) {
        if let Val::Held {
            kind,
            payload,
            counted: true,
            ..
        } = *v
            && !self.ledger.iter().any(|h| h.payload == payload)
        {
            self.ledger.push(Holding {
                payload,
                kind,
                handles,
            });
        }
    }

    /// Records that one handle to `v` left the code's hands (moved into a tuple or given to a
    /// helper that takes it).
    fn release(&mut self, v: &Val) {
        if let Val::Held {
            payload,
            counted: true,
            ..
        } = *v
            && let Some(h) = self.ledger.iter_mut().find(|h| h.payload == payload)
        {
            h.handles -= 1;
        }
    }
}

/// Builds the function of `region` into `func`.
pub fn translate(
    region: &Region,
    func: &mut Function,
    context: &mut FunctionBuilderContext,
    config: TargetFrontendConfig,
    env: Env<'_>,
) {
    let Env {
        program,
        helpers,
        chain,
        caches,
    } = env;
    let needs = needs(region);
    let mut b = FunctionBuilder::new(func, context);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let (m, ctx) = (b.block_params(entry)[0], b.block_params(entry)[1]);
    let mut lower = Lower {
        b,
        m,
        data_base: Variable::from_u32(0),
        aux_base: Variable::from_u32(0),
        data_floor: m,
        aux_floor: m,
        helpers,
        branch: None,
        dynamic: None,
        tail: None,
        chain,
        ctx,
        scratch: None,
        side: None,
        caches,
        program,
    };
    let fail = lower.guard(ctx, &needs);
    let state = State {
        data: (0..needs.data)
            .map(|index| Val::Input { aux: false, index })
            .collect(),
        aux: (0..needs.aux)
            .map(|index| Val::Input { aux: true, index })
            .collect(),
        steps: 0,
        gas: 0,
        ledger: Vec::new(),
    };
    lower.block(region, 0, state);
    lower.b.switch_to_block(fail);
    lower.ret(GUARD);
    lower.b.seal_all_blocks();
    lower.b.finalize(config);
}

struct Lower<'a> {
    b: FunctionBuilder<'a>,
    /// The machine.
    m: ir::Value,
    /// The address of the data stack's base slot (the first the region may change).
    data_base: Variable,
    aux_base: Variable,
    /// The stack lengths at the base.
    data_floor: ir::Value,
    aux_floor: ir::Value,
    helpers: &'a Helpers,
    /// The condition of the `cjump` that ends the current block.
    branch: Option<ir::Value>,
    /// The jump from the stack that ends the current block: its codepoint, and the state and
    /// step before it (where control leaves if the codepoint is not the program's).
    dynamic: Option<(Val, State, Step)>,
    /// The block every exit ends in, once made.
    tail: Option<ir::Block>,
    chain: Chain,
    /// The run's context.
    ctx: ir::Value,
    /// Room for a helper's two-word result.
    scratch: Option<ir::StackSlot>,
    /// The side exit of the step being emitted, once made.
    side: Option<(*const Step, ir::Block)>,
    /// Where new jump caches go.
    caches: &'a mut JumpCaches,
    /// The program the region is of (to resolve constant codepoints).
    program: &'a Program,
}

fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Lower<'_> {
    fn iconst(&mut self, x: u64) -> ir::Value {
        self.b.ins().iconst(types::I64, x as i64)
    }

    fn load(&mut self, base: ir::Value, offset: usize) -> ir::Value {
        self.b.ins().load(types::I64, flags(), base, offset as i32)
    }

    fn store(&mut self, x: ir::Value, base: ir::Value, offset: usize) {
        self.b.ins().store(flags(), x, base, offset as i32);
    }

    /// Returns `code` from the function.
    fn ret(&mut self, code: u32) {
        let code = self.b.ins().iconst(types::I32, i64::from(code));
        self.b.ins().return_(&[code]);
    }

    /// Starts a new block that `cond` false leads to, `cond` true leading to `cold`.
    fn branch_off(&mut self, cond: ir::Value) -> ir::Block {
        let cold = self.b.create_block();
        let next = self.b.create_block();
        self.b.set_cold_block(cold);
        self.b.ins().brif(cond, cold, &[], next, &[]);
        self.b.switch_to_block(cold);
        next
    }

    /// The entry: the guard, the staleness marks, the stack bases.
    /// The entry guard jumps to the returned block (filled last: the entry block must come
    /// first in the layout) when it fails.
    fn guard(&mut self, ctx: ir::Value, needs: &Needs) -> ir::Block {
        let fail = self.b.create_block();
        self.b.set_cold_block(fail);
        let check = |this: &mut Self, bad: ir::Value| {
            let next = this.b.create_block();
            this.b.ins().brif(bad, fail, &[], next, &[]);
            this.b.switch_to_block(next);
        };
        let limit = self.load(ctx, std::mem::offset_of!(Ctx, step_limit));
        let steps = self.load(self.m, machine::STEPS);
        let budget = self.b.ins().isub(limit, steps);
        let short = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, budget, needs.steps as i64);
        check(self, short);
        // Gas: the low limb covers it, or a higher limb is set.
        let g0 = self.load(self.m, machine::GAS);
        let g1 = self.load(self.m, machine::GAS + 8);
        let g2 = self.load(self.m, machine::GAS + 16);
        let g3 = self.load(self.m, machine::GAS + 24);
        let high = self.b.ins().bor(g1, g2);
        let high = self.b.ins().bor(high, g3);
        let no_high = self.b.ins().icmp_imm_u(IntCC::Equal, high, 0);
        let low_short = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, g0, needs.gas as i64);
        let gas_short = self.b.ins().band(no_high, low_short);
        check(self, gas_short);
        // The gas bound: gas used + the path's gas within the ceiling.
        let used = self
            .b
            .ins()
            .load(types::I128, flags(), self.m, machine::GAS_USED as i32);
        let gas = self.iconst(needs.gas);
        let gas = self.b.ins().uextend(types::I128, gas);
        let after = self.b.ins().iadd(used, gas);
        let lo = self.load(ctx, std::mem::offset_of!(Ctx, ceiling_lo));
        let hi = self.load(ctx, std::mem::offset_of!(Ctx, ceiling_hi));
        let ceiling = self.b.ins().iconcat(lo, hi);
        let over = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThan, after, ceiling);
        check(self, over);
        // Stack depths.
        let data_len = self.load(self.m, machine::STACK + stack::LEN_OFFSET);
        let aux_len = self.load(self.m, machine::AUX + stack::LEN_OFFSET);
        let shallow = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, data_len, needs.data as i64);
        check(self, shallow);
        let aux_shallow =
            self.b
                .ins()
                .icmp_imm_u(IntCC::UnsignedLessThan, aux_len, needs.aux as i64);
        check(self, aux_shallow);
        // Room for the growth (the helper reallocates; nothing else has changed yet).
        let data_cap = self.load(self.m, machine::STACK + stack::CAP_OFFSET);
        let aux_cap = self.load(self.m, machine::AUX + stack::CAP_OFFSET);
        let data_room = self.b.ins().isub(data_cap, data_len);
        let aux_room = self.b.ins().isub(aux_cap, aux_len);
        let data_tight =
            self.b
                .ins()
                .icmp_imm_u(IntCC::UnsignedLessThan, data_room, needs.data_growth as i64);
        let aux_tight =
            self.b
                .ins()
                .icmp_imm_u(IntCC::UnsignedLessThan, aux_room, needs.aux_growth as i64);
        let tight = self.b.ins().bor(data_tight, aux_tight);
        let next = self.branch_off(tight);
        let data_growth = self.iconst(needs.data_growth as u64);
        let aux_growth = self.iconst(needs.aux_growth as u64);
        let m = self.m;
        self.b
            .ins()
            .call(self.helpers.reserve, &[m, data_growth, aux_growth]);
        self.b.ins().jump(next, &[]);
        self.b.switch_to_block(next);
        // Mark the cached stack hashes that include anything the region may change stale.
        let data_floor = self.b.ins().iadd_imm_s(data_len, -(needs.data as i64));
        let aux_floor = self.b.ins().iadd_imm_s(aux_len, -(needs.aux as i64));
        for (offset, floor) in [(machine::STACK, data_floor), (machine::AUX, aux_floor)] {
            let fresh = self.load(self.m, offset + stack::FRESH_OFFSET);
            let lower = self.b.ins().umin(fresh, floor);
            self.store(lower, self.m, offset + stack::FRESH_OFFSET);
        }
        let data_ptr = self.load(self.m, machine::STACK + stack::PTR_OFFSET);
        let aux_ptr = self.load(self.m, machine::AUX + stack::PTR_OFFSET);
        let data_off = self.b.ins().imul_imm_u(data_floor, value::SIZE as i64);
        let aux_off = self.b.ins().imul_imm_u(aux_floor, value::SIZE as i64);
        let data_base = self.b.ins().iadd(data_ptr, data_off);
        let aux_base = self.b.ins().iadd(aux_ptr, aux_off);
        self.data_base = self.b.declare_var(types::I64);
        self.aux_base = self.b.declare_var(types::I64);
        self.b.def_var(self.data_base, data_base);
        self.b.def_var(self.aux_base, aux_base);
        self.data_floor = data_floor;
        self.aux_floor = aux_floor;
        fail
    }

    /// Emits block `index` of `region` and everything after it, from `state`.
    fn block(&mut self, region: &Region, index: usize, mut state: State) {
        let block: &Block = &region.blocks[index];
        for step in &block.steps {
            self.step(step, &mut state);
        }
        let dynamic = self.dynamic.take();
        match block.end {
            End::Goto(target) => self.go(region, target, state, dynamic.as_ref()),
            End::Branch { taken, fall } => {
                let cond = self.branch.take().expect("a branch ends with its cjump");
                let (taken_block, fall_block) = (self.b.create_block(), self.b.create_block());
                self.b.ins().brif(cond, taken_block, &[], fall_block, &[]);
                self.b.switch_to_block(fall_block);
                self.go(region, fall, state.clone(), None);
                self.b.switch_to_block(taken_block);
                self.go(region, taken, state, dynamic.as_ref());
            }
        }
    }

    /// Emits where control goes: `dynamic` is the codepoint operand, state and step of a
    /// jump from the stack that ended the block.
    fn go(
        &mut self,
        region: &Region,
        target: Target,
        state: State,
        dynamic: Option<&(Val, State, Step)>,
    ) {
        match target {
            Target::Block(next) => self.block(region, next, state),
            Target::Exit(pc) => {
                let pc = self.b.ins().iconst(types::I32, i64::from(pc));
                self.leave(&state, pc, DONE);
            }
            Target::Dynamic => {
                let (target, pre, step) = dynamic.expect("a jump from the stack");
                // A fresh side exit: this path's, whatever was emitted in between.
                self.side = None;
                let pc = match self.constant_target(target) {
                    Some(pc) => self.b.ins().iconst(types::I32, i64::from(pc)),
                    None => {
                        let payload = Self::payload(target);
                        let pc = self.resolve_cached(payload, pre, step);
                        self.b.ins().ireduce(types::I32, pc)
                    }
                };
                self.leave(&state, pc, DONE);
            }
        }
    }

    /// The loaded pc of `target` if it is a constant codepoint of the program (a return
    /// address pushed in the region, say).
    fn constant_target(&self, target: &Val) -> Option<u32> {
        match target {
            Val::Held {
                constant: Some(frozen),
                ..
            } => match frozen.get() {
                Value::CodePoint(cp) => self.program.index_of(cp).map(|pc| pc as u32),
                _ => None,
            },
            _ => None,
        }
    }

    /// The loaded pc of the codepoint `payload` jumped to (a new [`JumpCache`] remembers the
    /// last one); control leaves before `step` if it is not one of the program's.
    fn resolve_cached(&mut self, payload: ir::Value, pre: &State, step: &Step) -> ir::Value {
        let cache: Box<JumpCache> = Box::default();
        let address = self.iconst(cache.as_ptr() as u64);
        self.caches.push(cache);
        let (miss, join) = (self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(miss);
        self.b.append_block_param(join, types::I64);
        let cached = self.load(address, 0);
        let hit = self.b.ins().icmp(IntCC::Equal, cached, payload);
        let cached_pc = self.load(address, 8);
        self.b
            .ins()
            .brif(hit, join, &[BlockArg::Value(cached_pc)], miss, &[]);
        self.b.switch_to_block(miss);
        let m = self.m;
        let call = self.b.ins().call(self.helpers.resolve_jump, &[m, payload]);
        let pc = self.b.inst_results(call)[0];
        let foreign = self.b.ins().icmp_imm_u(IntCC::Equal, pc, u64::MAX as i64);
        self.side_exit_if(foreign, pre, step);
        self.store(payload, address, 0);
        self.store(pc, address, 8);
        self.b.ins().jump(join, &[BlockArg::Value(pc)]);
        self.b.switch_to_block(join);
        self.b.block_params(join)[0]
    }

    /// Writes `state` back to the machine, with the pc at loaded instruction `pc` (an `i32`),
    /// and returns `code`.
    fn leave(&mut self, state: &State, pc: ir::Value, code: u32) {
        let (data_len, aux_len) = self.write_back(state);
        let steps = self.iconst(state.steps);
        let gas = self.iconst(state.gas);
        let code = self.b.ins().iconst(types::I32, i64::from(code));
        let tail = self.tail();
        let args = [data_len, aux_len, steps, gas, pc, code].map(BlockArg::Value);
        self.b.ins().jump(tail, &args);
    }

    /// Settles the counts of `state` and writes its values back to the machine's stacks;
    /// returns the stack lengths they make (not yet stored).
    fn write_back(&mut self, state: &State) -> (ir::Value, ir::Value) {
        let mut state = state.clone();
        self.settle(&mut state, &[]);
        let state = &state;
        let mut data = Vec::with_capacity(state.data.len());
        for (i, v) in state.data.iter().enumerate() {
            data.push(self.resolve_for_store(v, false, i));
        }
        let mut aux = Vec::with_capacity(state.aux.len());
        for (i, v) in state.aux.iter().enumerate() {
            aux.push(self.resolve_for_store(v, true, i));
        }
        for (i, words) in data.into_iter().enumerate() {
            if let Some((kind, payload)) = words {
                let at = i * value::SIZE;
                let base = self.b.use_var(self.data_base);
                self.store(kind, base, at + value::KIND_OFFSET);
                self.store(payload, base, at + value::PAYLOAD_OFFSET);
            }
        }
        for (i, words) in aux.into_iter().enumerate() {
            if let Some((kind, payload)) = words {
                let at = i * value::SIZE;
                let base = self.b.use_var(self.aux_base);
                self.store(kind, base, at + value::KIND_OFFSET);
                self.store(payload, base, at + value::PAYLOAD_OFFSET);
            }
        }
        let data_len = self
            .b
            .ins()
            .iadd_imm_s(self.data_floor, state.data.len() as i64);
        let aux_len = self
            .b
            .ins()
            .iadd_imm_s(self.aux_floor, state.aux.len() as i64);
        (data_len, aux_len)
    }

    /// Has the interpreter run `step` on the machine written back, then goes on natively after
    /// it with every stack value read from memory again; if control went elsewhere (the
    /// instruction raised an error), returns [`DONE`] from there.
    fn interpret(&mut self, step: &Step, state: &mut State) {
        let (data_len, aux_len) = self.write_back(state);
        self.store(data_len, self.m, machine::STACK + stack::LEN_OFFSET);
        self.store(aux_len, self.m, machine::AUX + stack::LEN_OFFSET);
        let steps = self.iconst(state.steps);
        let gas = self.iconst(state.gas);
        self.account(steps, gas);
        let pc = self.b.ins().iconst(types::I32, i64::from(step.pc));
        self.b
            .ins()
            .store(flags(), pc, self.m, machine::PC_INDEX as i32);
        let m = self.m;
        let call = self.b.ins().call(self.helpers.interpret_step, &[m]);
        let left = self.b.inst_results(call)[0];
        let next = self.branch_off(left);
        let done = self.b.ins().iconst(types::I32, i64::from(DONE));
        self.b.ins().return_(&[done]);
        self.b.switch_to_block(next);
        // The interpreter may have moved the stacks' buffers; their floors stay where they are.
        for (offset, floor, var) in [
            (machine::STACK, self.data_floor, self.data_base),
            (machine::AUX, self.aux_floor, self.aux_base),
        ] {
            let ptr = self.load(self.m, offset + stack::PTR_OFFSET);
            let at = self.b.ins().imul_imm_u(floor, value::SIZE as i64);
            let base = self.b.ins().iadd(ptr, at);
            self.b.def_var(var, base);
        }
        let (first, pops, pushes, aux_pops, aux_pushes) = effect(step);
        let data = state.data.len() + usize::from(first) + pushes - pops;
        let aux = state.aux.len() + aux_pushes - aux_pops;
        *state = State {
            data: (0..data)
                .map(|index| Val::Input { aux: false, index })
                .collect(),
            aux: (0..aux)
                .map(|index| Val::Input { aux: true, index })
                .collect(),
            steps: 0,
            gas: 0,
            ledger: Vec::new(),
        };
    }

    /// The block every exit ends in (made on first use): it takes the stack lengths, the
    /// steps and gas of the path, the pc and the return code, and finishes the machine's
    /// counters.
    fn tail(&mut self) -> ir::Block {
        if let Some(tail) = self.tail {
            return tail;
        }
        let here = self.b.current_block().expect("emitting an exit");
        let tail = self.b.create_block();
        for ty in [
            types::I64,
            types::I64,
            types::I64,
            types::I64,
            types::I32,
            types::I32,
        ] {
            self.b.append_block_param(tail, ty);
        }
        self.b.switch_to_block(tail);
        let params = self.b.block_params(tail).to_vec();
        let [data_len, aux_len, steps, gas, pc, code] = params[..] else {
            unreachable!("six parameters")
        };
        self.store(data_len, self.m, machine::STACK + stack::LEN_OFFSET);
        self.store(aux_len, self.m, machine::AUX + stack::LEN_OFFSET);
        self.account(steps, gas);
        let kind = self
            .b
            .ins()
            .iconst(types::I32, i64::from(machine::PC_LOADED));
        self.b
            .ins()
            .store(flags(), kind, self.m, machine::PC_KIND as i32);
        self.b
            .ins()
            .store(flags(), pc, self.m, machine::PC_INDEX as i32);
        // Going on at a pc where a region starts: into it (its guard checks all again).
        let done = self.b.ins().icmp_imm_u(IntCC::Equal, code, i64::from(DONE));
        let chain = self.b.create_block();
        let back = self.b.create_block();
        self.b.ins().brif(done, chain, &[], back, &[]);
        self.b.switch_to_block(chain);
        let index = self.b.ins().uextend(types::I64, pc);
        let offset = self.b.ins().imul_imm_u(index, 8);
        let table = self.iconst(self.chain.table);
        let slot = self.b.ins().iadd(table, offset);
        let next = self.load(slot, 0);
        let none = self.b.ins().icmp_imm_u(IntCC::Equal, next, 0);
        let call = self.b.create_block();
        self.b.ins().brif(none, back, &[], call, &[]);
        self.b.switch_to_block(call);
        let (m, ctx) = (self.m, self.ctx);
        self.b
            .ins()
            .return_call_indirect(self.chain.signature, next, &[m, ctx]);
        self.b.switch_to_block(back);
        self.b.ins().return_(&[code]);
        self.b.switch_to_block(here);
        self.tail = Some(tail);
        tail
    }

    /// The words to store for `v` at position `i` of its stack, or `None` when it is already
    /// there (an entry value that did not move).
    fn resolve_for_store(
        &mut self,
        v: &Val,
        aux: bool,
        i: usize,
    ) -> Option<(ir::Value, ir::Value)> {
        match *v {
            Val::Input { aux: a, index } if a == aux && index == i => None,
            Val::Held {
                home: Some((a, index)),
                ..
            } if a == aux && index == i => None,
            Val::Input { aux, index } => Some(self.read_input(aux, index)),
            Val::Held { kind, payload, .. } => Some((self.kind_value(kind), payload)),
        }
    }

    /// Adds the path's steps and gas to the machine's counters.
    fn account(&mut self, steps: ir::Value, gas: ir::Value) {
        let done = self.load(self.m, machine::STEPS);
        let done = self.b.ins().iadd(done, steps);
        self.store(done, self.m, machine::STEPS);
        let wide = self.b.ins().uextend(types::I128, gas);
        let used = self
            .b
            .ins()
            .load(types::I128, flags(), self.m, machine::GAS_USED as i32);
        let used = self.b.ins().iadd(used, wide);
        self.b
            .ins()
            .store(flags(), used, self.m, machine::GAS_USED as i32);
        // Remaining gas, 256 bits as two 128-bit halves; the guard saw that it covers `gas`.
        let lo = self
            .b
            .ins()
            .load(types::I128, flags(), self.m, machine::GAS as i32);
        let hi = self
            .b
            .ins()
            .load(types::I128, flags(), self.m, machine::GAS as i32 + 16);
        let borrow = self.b.ins().icmp(IntCC::UnsignedLessThan, lo, wide);
        let lo = self.b.ins().isub(lo, wide);
        let borrow = self.b.ins().uextend(types::I128, borrow);
        let hi = self.b.ins().isub(hi, borrow);
        self.b.ins().store(flags(), lo, self.m, machine::GAS as i32);
        self.b
            .ins()
            .store(flags(), hi, self.m, machine::GAS as i32 + 16);
    }

    fn kind_value(&mut self, kind: Kind) -> ir::Value {
        match kind {
            Kind::Known(k) => self.iconst(k),
            Kind::Dynamic(v) => v,
        }
    }

    /// The words of entry value `index` of a stack (memory is unchanged until control leaves).
    fn read_input(&mut self, aux: bool, index: usize) -> (ir::Value, ir::Value) {
        let base = self
            .b
            .use_var(if aux { self.aux_base } else { self.data_base });
        let at = index * value::SIZE;
        (
            self.load(base, at + value::KIND_OFFSET),
            self.load(base, at + value::PAYLOAD_OFFSET),
        )
    }

    /// `v` in SSA (reading it if it is an entry value).
    fn held(&mut self, v: Val) -> Val {
        match v {
            Val::Input { aux, index } => {
                let (kind, payload) = self.read_input(aux, index);
                Val::Held {
                    kind: Kind::Dynamic(kind),
                    payload,
                    counted: true,
                    home: Some((aux, index)),
                    constant: None,
                }
            }
            held => held,
        }
    }

    /// The value `depth` below the top of `stack`, read into SSA in place.
    fn peek(&mut self, state: &mut State, aux: bool, depth: usize) -> Val {
        let stack = if aux { &mut state.aux } else { &mut state.data };
        let at = stack.len() - 1 - depth;
        let v = stack[at].clone();
        if matches!(v, Val::Input { .. }) {
            let v = self.held(v);
            // The entry's stack slot held a handle, which the code now holds.
            state.hold(&v, 1);
            let stack = if aux { &mut state.aux } else { &mut state.data };
            stack[at] = v.clone();
            return v;
        }
        v
    }

    fn pop(&mut self, state: &mut State, aux: bool) -> Val {
        let v = self.peek(state, aux, 0);
        let stack = if aux { &mut state.aux } else { &mut state.data };
        stack.pop();
        v
    }

    /// A program constant as a held value, borrowed from the program (a new handle to it must
    /// be cloned: [`Lower::clone_handle`] counts buffers, and nothing else).
    fn constant(&mut self, frozen: &Frozen) -> Val {
        let [kind, payload] = words_of(frozen.get());
        Val::Held {
            kind: Kind::Known(kind),
            payload: self.iconst(payload),
            // A program's values are immortal, but for buffers, which count atomically.
            counted: kind == value::BUFFER,
            home: None,
            constant: Some(frozen.clone()),
        }
    }

    /// Leaves the function before `step` with `pre` (the state before it) if `bad` is true.
    /// All the checks of one step share its side exit (the same state leaves from each); a
    /// step starts without one.
    fn side_exit_if(&mut self, bad: ir::Value, pre: &State, step: &Step) {
        let next = self.b.create_block();
        let key = step as *const Step;
        let exit = match self.side {
            Some((at, exit)) if at == key => exit,
            _ => {
                let exit = self.b.create_block();
                self.b.set_cold_block(exit);
                let here = self.b.current_block().expect("emitting a check");
                self.b.switch_to_block(exit);
                let pc = self.b.ins().iconst(types::I32, i64::from(step.pc));
                self.leave(pre, pc, SIDE);
                self.b.switch_to_block(here);
                self.side = Some((key, exit));
                exit
            }
        };
        self.b.ins().brif(bad, exit, &[], next, &[]);
        self.b.switch_to_block(next);
    }

    /// Leaves before `step` unless `v` is of kind `kind`.
    fn expect_kind(&mut self, v: &mut Val, kind: u64, pre: &State, step: &Step, state: &mut State) {
        match *v {
            Val::Held {
                kind: Kind::Known(k),
                ..
            } if k == kind => {}
            Val::Held {
                kind: Kind::Known(_),
                ..
            } => {
                let yes = self.b.ins().iconst(types::I8, 1);
                self.side_exit_if(yes, pre, step);
            }
            Val::Held {
                kind: Kind::Dynamic(k),
                payload,
                ..
            } => {
                let bad = self.b.ins().icmp_imm_u(IntCC::NotEqual, k, kind as i64);
                self.side_exit_if(bad, pre, step);
                // Past the check, this value and its copies on the path are of that kind.
                let learn = |val: &mut Val| {
                    if let Val::Held {
                        kind: known @ Kind::Dynamic(_),
                        payload: p,
                        counted,
                        ..
                    } = val
                        && *p == payload
                    {
                        *known = Kind::Known(kind);
                        *counted &= kind != value::SMALL_INT;
                    }
                };
                learn(v);
                state
                    .data
                    .iter_mut()
                    .chain(state.aux.iter_mut())
                    .for_each(learn);
                for h in &mut state.ledger {
                    if h.payload == payload {
                        h.kind = Kind::Known(kind);
                    }
                }
            }
            Val::Input { .. } => unreachable!("operands are held"),
        }
    }

    /// Makes the handles held to each counted value equal its entries on the stacks plus its
    /// occurrences in `pinned` (operands being used): first adding the missing handles, then
    /// dropping the extra ones, so that no object is freed while a value borrowed from it (a
    /// tuple's slot) still waits for its own handle.
    fn settle(&mut self, state: &mut State, pinned: &[&Val]) {
        let wanted: Vec<u32> = state
            .ledger
            .iter()
            .map(|h| {
                let refers = |v: &Val| {
                    matches!(v, Val::Held { payload, counted: true, .. } if *payload == h.payload)
                };
                let on_stacks = state.data.iter().chain(&state.aux).filter(|v| refers(v));
                let pinned = pinned.iter().filter(|v| refers(v));
                (on_stacks.count() + pinned.count()) as u32
            })
            .collect();
        let ledger = state.ledger.clone();
        for (h, &want) in ledger.iter().zip(&wanted) {
            for _ in h.handles..want {
                self.clone_handle(&Self::counted(h));
            }
        }
        for (h, &want) in ledger.iter().zip(&wanted) {
            for _ in want..h.handles {
                self.drop_handle(&Self::counted(h));
            }
        }
        for (h, want) in state.ledger.iter_mut().zip(wanted) {
            h.handles = want;
        }
        state.ledger.retain(|h| h.handles > 0);
    }

    /// The counted value a ledger entry is about.
    fn counted(h: &Holding) -> Val {
        Val::Held {
            kind: h.kind,
            payload: h.payload,
            counted: true,
            home: None,
            constant: None,
        }
    }

    /// One more handle to `v`'s object, as `Value::clone` adds.
    fn clone_handle(&mut self, v: &Val) {
        let Val::Held {
            kind,
            payload,
            counted: true,
            ..
        } = *v
        else {
            return;
        };
        self.on_counted(
            kind,
            payload,
            |this, kind, payload| {
                let count = this
                    .b
                    .ins()
                    .uload32(flags(), payload, node::COUNT_OFFSET as i32);
                let immortal =
                    this.b
                        .ins()
                        .icmp_imm_u(IntCC::Equal, count, i64::from(node::IMMORTAL));
                let done = this.b.create_block();
                let counted = this.b.create_block();
                this.b.ins().brif(immortal, done, &[], counted, &[]);
                this.b.switch_to_block(counted);
                let overflow =
                    this.b
                        .ins()
                        .icmp_imm_u(IntCC::Equal, count, i64::from(node::IMMORTAL - 1));
                let next = this.branch_off(overflow);
                this.b.ins().call(this.helpers.count_overflow, &[]);
                this.b.ins().jump(next, &[]);
                this.b.switch_to_block(next);
                let more = this.b.ins().iadd_imm_s(count, 1);
                this.b
                    .ins()
                    .istore32(flags(), more, payload, node::COUNT_OFFSET as i32);
                this.b.ins().jump(done, &[]);
                this.b.switch_to_block(done);
                let _ = kind;
            },
            |this, kind, payload| {
                this.b
                    .ins()
                    .call(this.helpers.clone_value, &[kind, payload]);
            },
        );
    }

    /// Gives up the handle `v`, as dropping it does.
    fn drop_handle(&mut self, v: &Val) {
        let Val::Held {
            kind,
            payload,
            counted: true,
            ..
        } = *v
        else {
            return;
        };
        self.on_counted(
            kind,
            payload,
            |this, kind, payload| {
                let count = this
                    .b
                    .ins()
                    .uload32(flags(), payload, node::COUNT_OFFSET as i32);
                let immortal =
                    this.b
                        .ins()
                        .icmp_imm_u(IntCC::Equal, count, i64::from(node::IMMORTAL));
                let done = this.b.create_block();
                let counted = this.b.create_block();
                this.b.ins().brif(immortal, done, &[], counted, &[]);
                this.b.switch_to_block(counted);
                let last = this.b.ins().icmp_imm_u(IntCC::Equal, count, 1);
                let free = this.b.create_block();
                let lower = this.b.create_block();
                this.b.set_cold_block(free);
                this.b.ins().brif(last, free, &[], lower, &[]);
                this.b.switch_to_block(free);
                this.b.ins().call(this.helpers.drop_value, &[kind, payload]);
                this.b.ins().jump(done, &[]);
                this.b.switch_to_block(lower);
                let less = this.b.ins().iadd_imm_s(count, -1);
                this.b
                    .ins()
                    .istore32(flags(), less, payload, node::COUNT_OFFSET as i32);
                this.b.ins().jump(done, &[]);
                this.b.switch_to_block(done);
            },
            |this, kind, payload| {
                this.b.ins().call(this.helpers.drop_value, &[kind, payload]);
            },
        );
    }

    /// Runs `shared` on a handle known to be a big Int, codepoint or tuple, and `other` on a
    /// buffer handle or one of a kind unknown when compiling (with the kind and payload words);
    /// nothing on an Int below 2^64.
    fn on_counted(
        &mut self,
        kind: Kind,
        payload: ir::Value,
        shared: impl FnOnce(&mut Self, ir::Value, ir::Value),
        other: impl FnOnce(&mut Self, ir::Value, ir::Value),
    ) {
        match kind {
            Kind::Known(value::SMALL_INT) => {}
            Kind::Known(value::BUFFER) => {
                let k = self.iconst(value::BUFFER);
                other(self, k, payload);
            }
            Kind::Known(k) => {
                let k = self.iconst(k);
                shared(self, k, payload);
            }
            Kind::Dynamic(k) => {
                // An unknown kind: Ints below 2^64 inline, anything else through the helper
                // (one call in place of the whole count logic, which keeps regions small).
                let done = self.b.create_block();
                let counted = self.b.create_block();
                let is_int = self
                    .b
                    .ins()
                    .icmp_imm_u(IntCC::Equal, k, value::SMALL_INT as i64);
                self.b.ins().brif(is_int, done, &[], counted, &[]);
                self.b.switch_to_block(counted);
                other(self, k, payload);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
            }
        }
    }

    /// Pushes a handle borrowed from a machine field that region code does not change: the
    /// ledger holds none of it, so settling clones it if it stays on a stack.
    fn push_borrowed(state: &mut State, kind: Kind, payload: ir::Value) {
        let v = Val::Held {
            kind,
            payload,
            counted: true,
            home: None,
            constant: None,
        };
        state.hold(&v, 0);
        state.data.push(v);
    }

    fn small(&mut self, payload: ir::Value) -> Val {
        Val::Held {
            kind: Kind::Known(value::SMALL_INT),
            payload,
            counted: false,
            home: None,
            constant: None,
        }
    }

    fn payload(v: &Val) -> ir::Value {
        match v {
            Val::Held { payload, .. } => *payload,
            Val::Input { .. } => unreachable!("operands are held"),
        }
    }

    /// One instruction.
    fn step(&mut self, step: &Step, state: &mut State) {
        self.side = None;
        if let Inst::Interpret = step.inst {
            // The interpreter counts its step and gas.
            return self.interpret(step, state);
        }
        let pre = state.clone();
        if let Some(immediate) = &step.push {
            let v = self.constant(immediate);
            state.hold(&v, 0);
            state.data.push(v);
        }
        match step.inst {
            Inst::Interpret => unreachable!("run by the interpreter above"),
            Inst::Nop | Inst::Jump(_) => {}
            Inst::Pop => {
                self.pop(state, false);
            }
            Inst::Dup(depth) => {
                let v = self.peek(state, false, depth.into());
                let copy = match v {
                    Val::Held {
                        kind,
                        payload,
                        counted,
                        constant,
                        ..
                    } => Val::Held {
                        kind,
                        payload,
                        counted,
                        home: None,
                        constant,
                    },
                    Val::Input { .. } => unreachable!("held by peek"),
                };
                state.data.push(copy);
            }
            Inst::Swap(depth) => {
                let len = state.data.len();
                state.data.swap(len - 1, len - 1 - usize::from(depth));
            }
            Inst::AuxPush => {
                let v = state.data.pop().expect("depth checked");
                state.aux.push(v);
            }
            Inst::AuxPop => {
                let v = state.aux.pop().expect("depth checked");
                state.data.push(v);
            }
            Inst::SPush | Inst::RPush => {
                let offset = if matches!(step.inst, Inst::SPush) {
                    machine::STATIC
                } else {
                    machine::REGISTER
                };
                let kind = self.load(self.m, offset + value::KIND_OFFSET);
                let payload = self.load(self.m, offset + value::PAYLOAD_OFFSET);
                // The region never changes the register or the static value.
                Self::push_borrowed(state, Kind::Dynamic(kind), payload);
            }
            Inst::StackEmpty(aux) => {
                // The stack's depth is its floor plus the values the code holds above it.
                let (floor, above) = match aux {
                    false => (self.data_floor, state.data.len()),
                    true => (self.aux_floor, state.aux.len()),
                };
                let depth = self.b.ins().iadd_imm_s(floor, above as i64);
                let empty = self.b.ins().icmp_imm_u(IntCC::Equal, depth, 0);
                let empty = self.b.ins().uextend(types::I64, empty);
                let v = self.small(empty);
                state.data.push(v);
            }
            Inst::ErrPush => {
                let payload = self.load(self.m, machine::ERR_HANDLER);
                // Region code never changes the error handler (errset is left to the
                // interpreter, after which every value is read again).
                Self::push_borrowed(state, Kind::Known(value::CODEPOINT), payload);
            }
            Inst::Unary(op) => self.unary(op, step, &pre, state),
            Inst::Binary(op) => self.binary(op, step, &pre, state),
            Inst::TgetAt(i) => {
                let mut t = self.pop(state, false);
                self.expect_kind(&mut t, value::TUPLE, &pre, step, state);
                let slot = self.slot(&t, i, &pre, step);
                state.hold(&slot, 0);
                state.data.push(slot);
            }
            Inst::XgetAt(i) => {
                let mut t = self.peek(state, true, 0);
                self.expect_kind(&mut t, value::TUPLE, &pre, step, state);
                let slot = self.slot(&t, i, &pre, step);
                state.hold(&slot, 0);
                state.data.push(slot);
            }
            Inst::TsetAt(i) => {
                let mut t = self.pop(state, false);
                let v = self.pop(state, false);
                self.expect_kind(&mut t, value::TUPLE, &pre, step, state);
                self.check_slot(&t, i, &pre, step);
                let updated = self.set(&t, Index::Known(i), v, state);
                state.data.push(updated);
            }
            Inst::XsetAt(i) => {
                let v = self.pop(state, false);
                let mut t = self.pop(state, true);
                self.expect_kind(&mut t, value::TUPLE, &pre, step, state);
                self.check_slot(&t, i, &pre, step);
                let updated = self.set(&t, Index::Known(i), v, state);
                state.aux.push(updated);
            }
            Inst::Cjump(_) => {
                let mut cond = self.pop(state, false);
                self.expect_kind(&mut cond, value::SMALL_INT, &pre, step, state);
                let payload = Self::payload(&cond);
                let taken = self.b.ins().icmp_imm_u(IntCC::NotEqual, payload, 0);
                self.branch = Some(taken);
            }
            Inst::JumpDynamic => {
                let mut target = self.pop(state, false);
                self.expect_kind(&mut target, value::CODEPOINT, &pre, step, state);
                self.dynamic = Some((target, pre.clone(), step.clone()));
            }
            Inst::CjumpDynamic => {
                let mut target = self.pop(state, false);
                let mut cond = self.pop(state, false);
                self.expect_kind(&mut target, value::CODEPOINT, &pre, step, state);
                self.expect_kind(&mut cond, value::SMALL_INT, &pre, step, state);
                let payload = Self::payload(&cond);
                let taken = self.b.ins().icmp_imm_u(IntCC::NotEqual, payload, 0);
                self.branch = Some(taken);
                self.dynamic = Some((target, pre.clone(), step.clone()));
            }
            Inst::Tget => {
                let mut index = self.pop(state, false);
                let mut t = self.pop(state, false);
                self.expect_kind(&mut t, value::TUPLE, &pre, step, state);
                self.expect_kind(&mut index, value::SMALL_INT, &pre, step, state);
                let i = Self::payload(&index);
                let slot = self.slot_at(&t, i, &pre, step);
                state.hold(&slot, 0);
                state.data.push(slot);
            }
            Inst::Xget => {
                let mut index = self.pop(state, false);
                let mut t = self.peek(state, true, 0);
                self.expect_kind(&mut t, value::TUPLE, &pre, step, state);
                self.expect_kind(&mut index, value::SMALL_INT, &pre, step, state);
                let i = Self::payload(&index);
                let slot = self.slot_at(&t, i, &pre, step);
                state.hold(&slot, 0);
                state.data.push(slot);
            }
            Inst::Tset => {
                let mut index = self.pop(state, false);
                let mut t = self.pop(state, false);
                let v = self.pop(state, false);
                self.expect_kind(&mut t, value::TUPLE, &pre, step, state);
                self.expect_kind(&mut index, value::SMALL_INT, &pre, step, state);
                let i = Self::payload(&index);
                self.check_index(&t, i, &pre, step);
                let updated = self.set(&t, Index::Dynamic(i), v, state);
                state.data.push(updated);
            }
            Inst::Xset => {
                let mut index = self.pop(state, false);
                let v = self.pop(state, false);
                let mut t = self.pop(state, true);
                self.expect_kind(&mut t, value::TUPLE, &pre, step, state);
                self.expect_kind(&mut index, value::SMALL_INT, &pre, step, state);
                let i = Self::payload(&index);
                self.check_index(&t, i, &pre, step);
                let updated = self.set(&t, Index::Dynamic(i), v, state);
                state.aux.push(updated);
            }
            Inst::Tlen => {
                let mut t = self.pop(state, false);
                self.expect_kind(&mut t, value::TUPLE, &pre, step, state);
                let len = self
                    .b
                    .ins()
                    .uload32(flags(), Self::payload(&t), node::LEN_OFFSET as i32);
                let v = self.small(len);
                state.data.push(v);
            }
            Inst::Type => {
                let v = self.pop(state, false);
                let code = self.type_code(&v);
                let code = self.small(code);
                state.data.push(code);
            }
        }
        state.steps += 1;
        state.gas += step.info.gas;
    }

    /// Leaves before `step` unless tuple `t` has a slot `i`.
    fn check_slot(&mut self, t: &Val, i: u8, pre: &State, step: &Step) {
        if let Val::Held {
            constant: Some(c), ..
        } = t
            && let Value::Tuple(tuple) = c.get()
            && tuple.len() > usize::from(i)
        {
            return;
        }
        let payload = Self::payload(t);
        let len = self
            .b
            .ins()
            .uload32(flags(), payload, node::LEN_OFFSET as i32);
        let short = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThanOrEqual, len, i64::from(i));
        self.side_exit_if(short, pre, step);
    }

    /// Slot `i` of tuple `t` (borrowed: not cloned), leaving before `step` if there is none.
    fn slot(&mut self, t: &Val, i: u8, pre: &State, step: &Step) -> Val {
        if let Val::Held {
            constant: Some(c), ..
        } = t
            && let Value::Tuple(tuple) = c.get()
            && let Some(slot) = tuple.get(usize::from(i))
        {
            let frozen = Frozen::of(slot).expect("a constant's slots are immortal");
            return self.constant(&frozen);
        }
        self.check_slot(t, i, pre, step);
        let payload = Self::payload(t);
        let at = node::TUPLE_SLOTS_OFFSET + usize::from(i) * value::SIZE;
        let kind = self.load(payload, at + value::KIND_OFFSET);
        let slot = self.load(payload, at + value::PAYLOAD_OFFSET);
        Val::Held {
            kind: Kind::Dynamic(kind),
            payload: slot,
            counted: true,
            home: None,
            constant: None,
        }
    }

    /// The base and offset of slot `i` of the tuple object at `tuple`.
    fn slot_address(&mut self, tuple: ir::Value, i: Index) -> (ir::Value, usize) {
        match i {
            Index::Known(i) => (
                tuple,
                node::TUPLE_SLOTS_OFFSET + usize::from(i) * value::SIZE,
            ),
            Index::Dynamic(i) => {
                let offset = self.b.ins().imul_imm_u(i, value::SIZE as i64);
                (self.b.ins().iadd(tuple, offset), node::TUPLE_SLOTS_OFFSET)
            }
        }
    }

    /// Leaves before `step` unless the Int `i` is a slot of tuple `t`.
    fn check_index(&mut self, t: &Val, i: ir::Value, pre: &State, step: &Step) {
        let payload = Self::payload(t);
        let len = self
            .b
            .ins()
            .uload32(flags(), payload, node::LEN_OFFSET as i32);
        let out = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, i, len);
        self.side_exit_if(out, pre, step);
    }

    /// Slot `i` (an Int in SSA) of tuple `t` (borrowed), leaving before `step` if there is none.
    fn slot_at(&mut self, t: &Val, i: ir::Value, pre: &State, step: &Step) -> Val {
        self.check_index(t, i, pre, step);
        let (base, at) = self.slot_address(Self::payload(t), Index::Dynamic(i));
        let kind = self.load(base, at + value::KIND_OFFSET);
        let slot = self.load(base, at + value::PAYLOAD_OFFSET);
        Val::Held {
            kind: Kind::Dynamic(kind),
            payload: slot,
            counted: true,
            home: None,
            constant: None,
        }
    }

    /// What `type` pushes for `v` (AVM.md §8.5): 0 for Ints, 1 codepoints, 3 tuples, 12
    /// buffers.
    fn type_code(&mut self, v: &Val) -> ir::Value {
        let code = |kind: u64| match kind {
            value::SMALL_INT | value::BIG_INT => 0,
            value::CODEPOINT => 1,
            value::TUPLE => 3,
            _ => 12,
        };
        match *v {
            Val::Held {
                kind: Kind::Known(k),
                ..
            } => self.iconst(code(k)),
            Val::Held {
                kind: Kind::Dynamic(k),
                ..
            } => {
                // Kind words 0..=4 map to 0, 0, 1, 3, 12: a table in one word, a byte each.
                let table = (0..=4).fold(0u64, |t, k| t | (code(k) << (8 * k)));
                let table = self.iconst(table);
                let shift = self.b.ins().imul_imm_u(k, 8);
                let shifted = self.b.ins().ushr(table, shift);
                self.b.ins().band_imm_u(shifted, 0xff)
            }
            Val::Input { .. } => unreachable!("operands are held"),
        }
    }

    /// Tuple `t` (a handle the region owns) with slot `i` (in range) set to `v` (also owned):
    /// in place when the tuple is unique and unhashed, else through the helper.
    fn set(&mut self, t: &Val, i: Index, v: Val, state: &mut State) -> Val {
        // Counts must be true for the uniqueness test, and the old slot dropped below may be
        // what a borrowed value on the stacks points to.
        self.settle(state, &[t, &v]);
        state.release(t);
        state.release(&v);
        let var: Variable = self.b.declare_var(types::I64);
        let tuple = Self::payload(t);
        let (kind, payload) = match v {
            Val::Held { kind, payload, .. } => (kind, payload),
            Val::Input { .. } => unreachable!("held above"),
        };
        let kind = self.kind_value(kind);
        let count = self
            .b
            .ins()
            .uload32(flags(), tuple, node::COUNT_OFFSET as i32);
        let digest = self.load(tuple, node::TUPLE_DIGEST_OFFSET);
        let unique = self.b.ins().icmp_imm_u(IntCC::Equal, count, 1);
        let unhashed = self.b.ins().icmp_imm_u(IntCC::Equal, digest, 0);
        let in_place = self.b.ins().band(unique, unhashed);
        let here = self.b.create_block();
        let copy = self.b.create_block();
        let done = self.b.create_block();
        self.b.set_cold_block(copy);
        self.b.ins().brif(in_place, here, &[], copy, &[]);
        self.b.switch_to_block(here);
        let (base, at) = self.slot_address(tuple, i);
        let old_kind = self.load(base, at + value::KIND_OFFSET);
        let old_payload = self.load(base, at + value::PAYLOAD_OFFSET);
        self.store(kind, base, at + value::KIND_OFFSET);
        self.store(payload, base, at + value::PAYLOAD_OFFSET);
        let old = Val::Held {
            kind: Kind::Dynamic(old_kind),
            payload: old_payload,
            counted: true,
            home: None,
            constant: None,
        };
        self.drop_handle(&old);
        self.b.def_var(var, tuple);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(copy);
        let index = match i {
            Index::Known(i) => self.iconst(u64::from(i)),
            Index::Dynamic(i) => i,
        };
        let call = self
            .b
            .ins()
            .call(self.helpers.tuple_set, &[tuple, index, kind, payload]);
        let result = self.b.inst_results(call)[0];
        self.b.def_var(var, result);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        let result = self.b.use_var(var);
        let updated = Val::Held {
            kind: Kind::Known(value::TUPLE),
            payload: result,
            counted: true,
            home: None,
            constant: None,
        };
        state.hold(&updated, 1);
        updated
    }

    fn unary(&mut self, op: u8, step: &Step, pre: &State, state: &mut State) {
        let a = self.pop(state, false);
        let zero = self.b.ins().iconst(types::I64, 0);
        let zero = self.small(zero);
        self.operate(op, a, zero, step, pre, state, |this, x, _| match op {
            opcode::ISZERO => {
                let zero = this.b.ins().icmp_imm_u(IntCC::Equal, x, 0);
                (this.b.ins().uextend(types::I64, zero), None)
            }
            // `not` of an Int below 2^64 has its high bits set: always the helper's.
            opcode::NOT => (x, Some(this.b.ins().iconst(types::I8, 1))),
            _ => unreachable!("decoded unary opcodes"),
        });
    }

    fn binary(&mut self, op: u8, step: &Step, pre: &State, state: &mut State) {
        let a = self.pop(state, false);
        let c = self.pop(state, false);
        let bool_of = |this: &mut Self, cc: IntCC, p: ir::Value, q: ir::Value| {
            let flag = this.b.ins().icmp(cc, p, q);
            (this.b.ins().uextend(types::I64, flag), None)
        };
        self.operate(op, a, c, step, pre, state, |this, x, y| match op {
            opcode::ADD => {
                let (sum, carry) = this.b.ins().uadd_overflow(x, y);
                (sum, Some(carry))
            }
            opcode::SUB => {
                let borrow = this.b.ins().icmp(IntCC::UnsignedLessThan, x, y);
                (this.b.ins().isub(x, y), Some(borrow))
            }
            opcode::MUL => {
                let (product, overflow) = this.b.ins().umul_overflow(x, y);
                (product, Some(overflow))
            }
            // Ints below 2^64 are non-negative as 256-bit signed Ints too, so the signed
            // forms agree with the unsigned ones on them. A zero divisor goes to the helper,
            // which reports the error (the division runs on 1 meanwhile: it must not trap).
            opcode::DIV | opcode::SDIV | opcode::MOD | opcode::SMOD => {
                let zero = this.b.ins().icmp_imm_u(IntCC::Equal, y, 0);
                let one = this.iconst(1);
                let divisor = this.b.ins().select(zero, one, y);
                let result = match op {
                    opcode::DIV | opcode::SDIV => this.b.ins().udiv(x, divisor),
                    _ => this.b.ins().urem(x, divisor),
                };
                (result, Some(zero))
            }
            opcode::BYTE => {
                // Byte x (0: the most significant of 32) of y: only bytes 24..32 can be set.
                let low = this.b.ins().iadd_imm_s(x, -24);
                let in_range = this.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, low, 8);
                let last = this.iconst(31);
                let from_end = this.b.ins().isub(last, x);
                let bits = this.b.ins().ishl_imm_u(from_end, 3);
                let zero = this.iconst(0);
                let shift = this.b.ins().select(in_range, bits, zero);
                let shifted = this.b.ins().ushr(y, shift);
                let byte = this.b.ins().band_imm_u(shifted, 0xff);
                (this.b.ins().select(in_range, byte, zero), None)
            }
            opcode::SIGNEXTEND => {
                // Below 2^64 only a sign bit of byte x < 8 can be set; then the result is wide.
                let narrow = this.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, x, 8);
                let bit = this.b.ins().ishl_imm_u(x, 3);
                let bit = this.b.ins().iadd_imm_s(bit, 7);
                let zero = this.iconst(0);
                let bit = this.b.ins().select(narrow, bit, zero);
                let sign = this.b.ins().ushr(y, bit);
                let sign = this.b.ins().band_imm_u(sign, 1);
                let negative = this.b.ins().icmp_imm_u(IntCC::NotEqual, sign, 0);
                let one = this.iconst(1);
                let mask = this.b.ins().ishl(one, bit);
                let mask = this.b.ins().iadd_imm_s(mask, -1);
                let low = this.b.ins().band(y, mask);
                let result = this.b.ins().select(narrow, low, y);
                (result, Some(this.b.ins().band(narrow, negative)))
            }
            opcode::LT | opcode::SLT => bool_of(this, IntCC::UnsignedLessThan, x, y),
            opcode::GT | opcode::SGT => bool_of(this, IntCC::UnsignedGreaterThan, x, y),
            opcode::EQ => bool_of(this, IntCC::Equal, x, y),
            opcode::AND => (this.b.ins().band(x, y), None),
            opcode::OR => (this.b.ins().bor(x, y), None),
            opcode::XOR => (this.b.ins().bxor(x, y), None),
            opcode::SHL => {
                // `y << x`, inline only while no bit leaves the low 64.
                let wide = this
                    .b
                    .ins()
                    .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, x, 64);
                let x = this.b.ins().band_imm_u(x, 63);
                let shifted = this.b.ins().ishl(y, x);
                let back = this.b.ins().ushr(shifted, x);
                let lost = this.b.ins().icmp(IntCC::NotEqual, back, y);
                (shifted, Some(this.b.ins().bor(wide, lost)))
            }
            opcode::SHR => {
                let shifted = this.b.ins().ushr(y, x);
                let zero = this.iconst(0);
                let wide = this
                    .b
                    .ins()
                    .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, x, 64);
                (this.b.ins().select(wide, zero, shifted), None)
            }
            _ => unreachable!("decoded binary opcodes"),
        });
    }

    /// Pushes `op` on `a` (the top operand) and `c`: inline on two Ints below 2^64 by `inline`
    /// (which gives the result and, if the result may not fit 64 bits, a flag saying so), else
    /// through the `value_op` helper, which computes what the interpreter does and says if the
    /// operation raises an error (then control leaves before `step`). Operands stay on the
    /// ledger (they are dropped lazily).
    #[allow(clippy::too_many_arguments)]
    fn operate(
        &mut self,
        op: u8,
        a: Val,
        c: Val,
        step: &Step,
        pre: &State,
        state: &mut State,
        inline: impl FnOnce(&mut Self, ir::Value, ir::Value) -> (ir::Value, Option<ir::Value>),
    ) {
        let boolean = matches!(
            op,
            opcode::EQ | opcode::LT | opcode::GT | opcode::SLT | opcode::SGT | opcode::ISZERO
        );
        let small = |v: &Val| match v {
            Val::Held {
                kind: Kind::Known(k),
                ..
            } => Err(*k == value::SMALL_INT),
            Val::Held {
                kind: Kind::Dynamic(k),
                ..
            } => Ok(*k),
            Val::Input { .. } => unreachable!("operands are held"),
        };
        let (fast, slow, merge) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        self.b.set_cold_block(slow);
        self.b.append_block_param(merge, types::I64);
        self.b.append_block_param(merge, types::I64);
        let mut both = self.b.ins().iconst(types::I8, 1);
        for v in [&a, &c] {
            let ok = match small(v) {
                Err(known) => self.b.ins().iconst(types::I8, i64::from(known)),
                Ok(kind) => self
                    .b
                    .ins()
                    .icmp_imm_u(IntCC::Equal, kind, value::SMALL_INT as i64),
            };
            both = self.b.ins().band(both, ok);
        }
        self.b.ins().brif(both, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        let (result, wide) = inline(self, Self::payload(&a), Self::payload(&c));
        let int = self.iconst(value::SMALL_INT);
        let args = [int, result].map(BlockArg::Value);
        match wide {
            Some(wide) => self.b.ins().brif(wide, slow, &[], merge, &args),
            None => self.b.ins().jump(merge, &args),
        };
        self.b.switch_to_block(slow);
        let out = self.scratch();
        let code = self.iconst(u64::from(op));
        let (ak, ck) = (self.kind_of(&a), self.kind_of(&c));
        let (ap, cp) = (Self::payload(&a), Self::payload(&c));
        let call = self
            .b
            .ins()
            .call(self.helpers.value_op, &[code, ak, ap, ck, cp, out]);
        let raised = self.b.inst_results(call)[0];
        self.side_exit_if(raised, pre, step);
        let kind = self.load(out, 0);
        let payload = self.load(out, 8);
        self.b
            .ins()
            .jump(merge, &[kind, payload].map(BlockArg::Value));
        self.b.switch_to_block(merge);
        let params = self.b.block_params(merge).to_vec();
        let v = match boolean {
            true => self.small(params[1]),
            false => Val::Held {
                kind: Kind::Dynamic(params[0]),
                payload: params[1],
                counted: true,
                home: None,
                constant: None,
            },
        };
        state.hold(&v, 1);
        state.data.push(v);
    }

    /// The kind word of held value `v` in SSA.
    fn kind_of(&mut self, v: &Val) -> ir::Value {
        match v {
            Val::Held { kind, .. } => self.kind_value(*kind),
            Val::Input { .. } => unreachable!("operands are held"),
        }
    }

    /// The address of the function's two-word scratch slot (made on first use).
    fn scratch(&mut self) -> ir::Value {
        let slot = match self.scratch {
            Some(slot) => slot,
            None => {
                let data = ir::StackSlotData::new(ir::StackSlotKind::ExplicitSlot, 16, 3);
                let slot = self.b.create_sized_stack_slot(data);
                self.scratch = Some(slot);
                slot
            }
        };
        self.b.ins().stack_addr(types::I64, slot, 0)
    }
}

/// The two words of `value`, without taking a handle (the caller only embeds an immortal
/// constant's address, or a small Int).
fn words_of(value: &Value) -> [u64; 2] {
    match value {
        Value::SmallInt(x) => [avm_runtime::value::layout::SMALL_INT, *x],
        other => {
            let kind = match other {
                Value::BigInt(_) => avm_runtime::value::layout::BIG_INT,
                Value::CodePoint(_) => avm_runtime::value::layout::CODEPOINT,
                Value::Tuple(_) => avm_runtime::value::layout::TUPLE,
                _ => avm_runtime::value::layout::BUFFER,
            };
            [kind, payload_address(other)]
        }
    }
}

/// The payload word of a pointer-kind value: the address of its object.
fn payload_address(value: &Value) -> u64 {
    super::helpers::payload_word(value)
}
