//! The step algorithm (AVM.md §7.1) and the run loop with host limits (§6.1, §9).

use std::sync::Arc;

use avm_runtime::opcode::{
    self, ECPAIRING_GAS_PER_PAIR, ECPAIRING_MAX_PAIRS, ERROR_GAS, Flags, OpInfo,
};
use avm_runtime::{Frozen, U256, Value};

use crate::OpError;
use crate::code::{Code, Instr, Pc, Run};
use crate::machine::{Machine, Status};
use crate::ops::{self, Flow};

/// Why `inbox`, `sideload` or `breakpoint` returned control to the host (AVM.md §9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockReason {
    /// `inbox` found no message.
    Inbox,
    /// `sideload` asked for block `block_number` and the host had no value.
    Sideload {
        /// The operand of `sideload`.
        block_number: U256,
    },
    /// `breakpoint` with stop-on-breakpoint set.
    Breakpoint,
}

/// Why a run returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The machine halted.
    Halted,
    /// The machine is in ErrorStop.
    ErrorStop,
    /// An instruction blocked; the machine is unchanged by the attempt.
    Blocked(BlockReason),
    /// The run's step budget is spent.
    StepLimit,
    /// The gas bound is reached (see [`GasBound`]).
    GasLimit,
}

/// A bound on the machine's total gas used, as the C++ run loop applies it (AVM.md §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GasBound {
    /// The bound on total gas used since the program started.
    pub max_gas: u128,
    /// `false`: stop *before* an instruction whose table cost would take gas used past the
    /// bound. `true`: stop once gas used has reached the bound.
    pub go_over: bool,
}

/// How far a run may go and when it stops for the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// At most this many steps in this run.
    pub max_steps: Option<u64>,
    /// A bound on total gas used.
    pub gas: Option<GasBound>,
    /// `sideload` with no queued value blocks (unless it is the run's first instruction).
    pub stop_on_sideload: bool,
    /// `breakpoint` blocks (unless it is the run's first instruction).
    pub stop_on_breakpoint: bool,
    /// This run continues the previous one with nothing done by the host in between, so its
    /// first instruction is not the first of a run: a host that runs in slices (to show
    /// progress, save checkpoints or notice signals) blocks exactly where one long run would.
    pub continues: bool,
}

/// What one step did.
/// What became of one instruction ([`Machine::step_outcome`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// It ran and control went on as the instruction says.
    Ran,
    /// It ran and raised this error (AVM.md §8): the machine went to its error handler, or
    /// error-stopped if it has none.
    Raised(OpError),
    /// It did not run: the machine had stopped, or the limits stopped it first.
    Stopped(Stop),
}

enum Stepped {
    /// The instruction ran, raising `error` if it is set. `transferred`: it was a `jump` or a
    /// `cjump` (taken or not) or it raised an error, so the pc may be anywhere.
    Ran {
        transferred: bool,
        error: Option<OpError>,
    },
    Blocked(BlockReason),
}

impl Machine {
    /// Runs until the machine halts, error-stops, blocks, or reaches a limit. Running N steps
    /// and then M steps ends in the same state as running N + M.
    pub fn run(&mut self, limits: &Limits) -> Stop {
        self.run_loop::<false>(limits, !limits.continues, |_| false)
            .expect("a whole run always stops")
    }

    /// Runs like [`Machine::run`] but also returns `None` when an engine that interleaves
    /// compiled code wants control back: when control transfers (a jump, a `cjump` taken or
    /// not, an error jump) to loaded instruction `i` and `arrive(i)` says so. Straight-line
    /// fall-through never stops, so interpreting costs the same as in [`Machine::run`].
    /// `first_of_run` says whether the next instruction is the first of the host's run
    /// (AVM.md §9), so such an engine keeps the blocking rules of one long run.
    pub fn run_segment(
        &mut self,
        limits: &Limits,
        first_of_run: bool,
        arrive: impl FnMut(u32) -> bool,
    ) -> Option<Stop> {
        self.run_loop::<true>(limits, first_of_run, arrive)
    }

    #[inline(always)]
    fn run_loop<const SEGMENT: bool>(
        &mut self,
        limits: &Limits,
        mut first: bool,
        mut arrive: impl FnMut(u32) -> bool,
    ) -> Option<Stop> {
        let code = Arc::clone(&self.code);
        let mut budget = limits.max_steps.unwrap_or(u64::MAX);
        let ceiling = limits.gas_ceiling();
        loop {
            if let Some(stop) = self.stopped() {
                return Some(stop);
            }
            if let Pc::Loaded(pc) = self.pc {
                let run = &code.instrs[pc as usize].run;
                if run.len > 0 && u64::from(run.len) <= budget && self.admits(run, ceiling) {
                    let (steps, transferred) = self.run_straight(&code, pc, run);
                    budget -= steps;
                    first = false;
                    if SEGMENT && transferred && self.arrived(&mut arrive) {
                        return None;
                    }
                    continue;
                }
            }
            if let Some(stop) = self.bound_reached(&code, limits, budget) {
                return Some(stop);
            }
            let transferred = match self.step_in(&code, limits, first) {
                Stepped::Ran { transferred, .. } => transferred,
                Stepped::Blocked(reason) => return Some(Stop::Blocked(reason)),
            };
            first = false;
            budget -= 1;
            if SEGMENT && transferred && self.arrived(&mut arrive) {
                return None;
            }
        }
    }

    /// Why a machine that is not running cannot take a step: it halted or error-stopped.
    #[inline(always)]
    fn stopped(&self) -> Option<Stop> {
        match self.status {
            Status::Halted => Some(Stop::Halted),
            Status::ErrorStop => Some(Stop::ErrorStop),
            Status::Running => None,
        }
    }

    /// Which bound of `limits` the next instruction would cross, with `budget` steps left: the
    /// step bound, or the gas bound.
    #[inline(always)]
    fn bound_reached(&self, code: &Code, limits: &Limits, budget: u64) -> Option<Stop> {
        if budget == 0 {
            return Some(Stop::StepLimit);
        }
        match limits.gas {
            Some(bound) if self.gas_bound_reached(code, bound) => Some(Stop::GasLimit),
            _ => None,
        }
    }

    /// Executes one instruction as a run of one step with `limits` (so, unless the run
    /// [`continues`](Limits::continues), a pending `sideload` or `breakpoint` runs instead of
    /// blocking). Returns why it stopped, if it did not run.
    pub fn step(&mut self, limits: &Limits) -> Option<Stop> {
        match self.run(&Limits {
            max_steps: Some(1),
            ..*limits
        }) {
            Stop::StepLimit => None,
            stop => Some(stop),
        }
    }

    /// Executes one instruction as [`Machine::step`] does, saying what became of it: for tools
    /// that watch a run one step at a time (a trace, a profiler), which need the error an
    /// instruction raised. The run loop's checks before an instruction are the same (status,
    /// step budget, gas bound, blocking, with `limits.continues` saying whether this is the
    /// first instruction of the host's run).
    pub fn step_outcome(&mut self, limits: &Limits) -> StepOutcome {
        let code = Arc::clone(&self.code);
        let budget = limits.max_steps.unwrap_or(u64::MAX);
        if let Some(stop) = self
            .stopped()
            .or_else(|| self.bound_reached(&code, limits, budget))
        {
            return StepOutcome::Stopped(stop);
        }
        match self.step_in(&code, limits, !limits.continues) {
            Stepped::Ran { error: None, .. } => StepOutcome::Ran,
            Stepped::Ran { error: Some(e), .. } => StepOutcome::Raised(e),
            Stepped::Blocked(reason) => StepOutcome::Stopped(Stop::Blocked(reason)),
        }
    }

    /// Executes the instruction at the pc, which must be a plain one (no opcode flags: it
    /// never blocks, jumps on purpose or reads limits), with no step or gas bound: how an
    /// engine runs one instruction its own code does not handle, without the setup of a run.
    pub fn step_plain(&mut self) {
        let code = Arc::clone(&self.code);
        debug_assert!(
            matches!(self.pc, Pc::Loaded(pc) if opcode::info(code.instrs[pc as usize].opcode)
                .is_some_and(|i| i.flags == Flags::NONE)),
            "step_plain runs plain instructions"
        );
        self.step_in(&code, &Limits::default(), false);
    }

    /// Whether control, having just transferred, reached a loaded instruction of a running
    /// machine at which the engine wants it back.
    #[inline]
    fn arrived(&self, arrive: &mut impl FnMut(u32) -> bool) -> bool {
        matches!(self.pc, Pc::Loaded(to) if self.status == Status::Running && arrive(to))
    }

    /// Whether every instruction of `run` finds its operands and its gas, and none takes the
    /// gas used past `ceiling` ([`Limits::gas_ceiling`]): then running them one step at a time would
    /// check nothing that can fail but the operations themselves.
    #[inline(always)]
    fn admits(&self, run: &Run, ceiling: u128) -> bool {
        self.stack.len() >= usize::from(run.need)
            && self.aux.len() >= usize::from(run.aux_need)
            && self.gas_covers(run.gas.into())
            && self.out.gas_used + u128::from(run.gas) <= ceiling
    }

    /// Executes the instructions of `run` from loaded instruction `pc`, charging gas and
    /// steps once at the end. An operation that fails leaves exactly the state one step at a
    /// time would: the run's instructions before it charged and counted, its own gas charged,
    /// the pc on it, and its error raised. Returns the steps taken and whether control
    /// transferred (the run ended in a jump, taken or not, or an instruction failed).
    #[inline(always)]
    fn run_straight(&mut self, code: &Code, pc: u32, run: &Run) -> (u64, bool) {
        let start = pc as usize;
        let (len, gas) = (u64::from(run.len), u64::from(run.gas));
        let instrs = &code.instrs[start..start + usize::from(run.len)];
        self.stack.touch_top(run.need.into());
        self.aux.touch_top(run.aux_need.into());
        let mut exit = Ok(Flow::Next);
        for (k, instr) in instrs.iter().enumerate() {
            if ops::execute_decoded(self, instr, &mut exit) {
                continue;
            }
            let target = match exit {
                Ok(Flow::Next) => unreachable!("the run went on"),
                Ok(Flow::Goto(index)) => Some(index),
                Ok(Flow::Moved) => None,
                Ok(Flow::Halt) => unreachable!("halt ends no run"),
                Err(_) => return self.fail_in_run(&instrs[..=k], pc + k as u32),
            };
            // Only a run's last instruction jumps.
            self.charge_executed(len, gas);
            if let Some(index) = target {
                self.pc = Pc::Loaded(index);
            }
            return (len, true);
        }
        self.charge_executed(len, gas);
        self.pc = Pc::Loaded(pc + u32::from(run.len));
        (len, run.jumps)
    }

    /// The error path of a run whose last instruction in `done` (at loaded instruction `pc`)
    /// failed: charge them, then raise the error there.
    #[cold]
    fn fail_in_run(&mut self, done: &[Instr], pc: u32) -> (u64, bool) {
        let info =
            |instr: &Instr| opcode::info(instr.opcode).expect("plain instructions are valid");
        let gas = done.iter().map(|instr| info(instr).gas).sum();
        self.charge_executed(done.len() as u64, gas);
        self.pc = Pc::Loaded(pc);
        let failed = info(done.last().expect("the failed instruction"));
        self.unwind(failed.pops.into(), failed.aux_pops.into());
        (done.len() as u64, true)
    }

    fn gas_bound_reached(&self, code: &Code, bound: GasBound) -> bool {
        if bound.go_over {
            return self.out.gas_used >= bound.max_gas;
        }
        let (opcode, immediate) = fetch(code, &self.pc);
        let next_cost = match opcode::info(opcode) {
            Some(info) => info.gas + self.pairing_cost(info, immediate),
            None => 0,
        };
        self.out.gas_used + u128::from(next_cost) > bound.max_gas
    }

    /// The data-dependent part of `ecpairing`'s cost (AVM.md §10.5), counted on the operand the
    /// instruction will pop (its immediate, else the stack top).
    fn pairing_cost(&self, info: &OpInfo, immediate: Option<&Value>) -> u64 {
        if !info.flags.contains(Flags::VARIABLE_GAS) {
            return 0;
        }
        let Some(mut link) =
            immediate.or_else(|| (!self.stack.is_empty()).then(|| self.stack.peek(0)))
        else {
            return 0;
        };
        let mut pairs = 0;
        while pairs < ECPAIRING_MAX_PAIRS {
            match link {
                Value::Tuple(t) if t.len() == 2 => {
                    pairs += 1;
                    link = &t.slots()[1];
                }
                _ => break,
            }
        }
        pairs * ECPAIRING_GAS_PER_PAIR
    }

    /// One attempt at the instruction at pc, exactly as AVM.md §7.1 writes it.
    #[inline(always)]
    fn step_in(&mut self, code: &Code, limits: &Limits, first: bool) -> Stepped {
        let (opcode, immediate) = fetch(code, &self.pc);
        let has_immediate = immediate.is_some();
        if let Some(value) = immediate {
            self.stack.push(value.clone());
        }
        let info = opcode::info(opcode);
        let (pops, aux_pops) = info.map_or((0, 0), |i| (i.pops as usize, i.aux_pops as usize));
        let error = if pops > self.stack.len() || aux_pops > self.aux.len() {
            self.charge_error_gas();
            Some(OpError::Underflow)
        } else if let Some(info) = info {
            let mut cost = info.gas;
            if info.flags != Flags::NONE {
                cost += self.pairing_cost(info, None);
            }
            if !self.charge(cost) {
                Some(OpError::OutOfGas)
            } else if let Some(reason) = self.would_block(info, limits, first) {
                self.refund(cost);
                if has_immediate {
                    self.stack.pop();
                }
                return Stepped::Blocked(reason);
            } else {
                self.stack.touch_top(pops);
                self.aux.touch_top(aux_pops);
                self.execute(code, opcode).err()
            }
        } else {
            // An invalid opcode costs the error cost and raises an error (AVM.md §8.9).
            self.charge(ERROR_GAS);
            Some(OpError::InvalidOpcode)
        };
        self.out.steps += 1;
        if error.is_some() {
            self.unwind(pops, aux_pops);
        }
        let jumps = info.is_some_and(|i| i.flags.contains(Flags::JUMP));
        Stepped::Ran {
            transferred: error.is_some() || jumps,
            error,
        }
    }

    /// Takes `cost` from the remaining gas; if it is not there, runs out of gas instead
    /// (remaining := MAX, 5 charged to gas used) and returns `false`.
    #[inline]
    fn charge(&mut self, cost: u64) -> bool {
        let (low, borrow) = self.gas.0[0].overflowing_sub(cost);
        if !borrow {
            self.gas.0[0] = low;
        } else if self.gas.0[1..].iter().any(|&limb| limb != 0) {
            self.gas -= U256::from(cost);
        } else {
            self.gas = U256::MAX;
            self.out.gas_used += u128::from(ERROR_GAS);
            return false;
        }
        self.out.gas_used += u128::from(cost);
        true
    }

    /// Gives back a charge, for an instruction that blocked instead of running.
    fn refund(&mut self, cost: u64) {
        self.gas += U256::from(cost);
        self.out.gas_used -= u128::from(cost);
    }

    /// The underflow charge: 5, or remaining := MAX if less than 5 remains.
    #[cold]
    fn charge_error_gas(&mut self) {
        self.gas = self
            .gas
            .checked_sub(U256::from(ERROR_GAS))
            .unwrap_or(U256::MAX);
        self.out.gas_used += u128::from(ERROR_GAS);
    }

    /// The error path of AVM.md §6.2: remove the operands, then jump to the handler or stop.
    #[cold]
    fn unwind(&mut self, pops: usize, aux_pops: usize) {
        self.stack.drop_top(pops);
        self.aux.drop_top(aux_pops);
        match &self.err_target {
            Some(target) => self.pc = target.clone(),
            None => self.status = Status::ErrorStop,
        }
    }

    /// Runs the operation of a valid opcode whose operands are present and whose gas is paid.
    #[inline(always)]
    fn execute(&mut self, code: &Code, opcode: u8) -> Result<(), crate::OpError> {
        match ops::execute(self, opcode)? {
            Flow::Next => {
                self.pc = match &self.pc {
                    Pc::Loaded(index) => Pc::Loaded(index + 1),
                    Pc::Dynamic(cp) => code.after(cp),
                };
            }
            Flow::Goto(index) => self.pc = Pc::Loaded(index),
            Flow::Moved => {}
            Flow::Halt => self.status = Status::Halted,
        }
        Ok(())
    }

    /// Whether a blocking instruction blocks now (AVM.md §9); checked after its gas is known to
    /// be affordable and before anything changes.
    #[inline]
    fn would_block(&self, info: &OpInfo, limits: &Limits, first: bool) -> Option<BlockReason> {
        if !info.flags.contains(Flags::BLOCKS) {
            return None;
        }
        match info.byte {
            opcode::INBOX if self.inbox.is_empty() => Some(BlockReason::Inbox),
            opcode::SIDELOAD if limits.stop_on_sideload && !first && self.sideloads.is_empty() => {
                let block_number = self.stack.peek(0).as_int()?;
                Some(BlockReason::Sideload { block_number })
            }
            opcode::BREAKPOINT if limits.stop_on_breakpoint && !first => {
                Some(BlockReason::Breakpoint)
            }
            _ => None,
        }
    }
}

impl Limits {
    /// The most gas used that a stretch of instructions (each costing at least 1) may leave
    /// under the gas bound and still have run whole: the bound itself when the machine stops
    /// before an instruction that would exceed it, one less when it stops once the bound is
    /// reached. No bound: `u128::MAX`.
    pub fn gas_ceiling(&self) -> u128 {
        match self.gas {
            None => u128::MAX,
            Some(GasBound {
                max_gas,
                go_over: false,
            }) => max_gas,
            Some(GasBound {
                max_gas,
                go_over: true,
            }) => max_gas.saturating_sub(1),
        }
    }
}

/// The opcode and immediate at `pc`.
#[inline]
fn fetch<'a>(code: &'a Code, pc: &'a Pc) -> (u8, Option<&'a Value>) {
    match pc {
        Pc::Loaded(index) => {
            let instr = &code.instrs[*index as usize];
            (instr.opcode, instr.immediate.as_ref().map(Frozen::get))
        }
        Pc::Dynamic(cp) => (cp.opcode(), cp.immediate()),
    }
}
