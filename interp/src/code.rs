//! Pre-decoded code: what the interpreter reads at each pc.

use std::sync::Arc;

use avm_runtime::{CodePoint, Next, Program, Value};

/// Where the machine is in its code.
#[derive(Clone, Debug)]
pub enum Pc {
    /// Instruction `n` of the loaded program (`n == len` is `ERR`).
    Loaded(u32),
    /// A codepoint built at run time (or handed in by the host).
    Dynamic(CodePoint),
}

/// One pre-decoded instruction.
#[derive(Clone, Debug)]
pub(crate) struct Instr {
    pub(crate) opcode: u8,
    pub(crate) immediate: Option<Value>,
}

/// A loaded program with its instructions laid out by pc; shared by clones of a machine.
#[derive(Debug)]
pub(crate) struct Code {
    pub(crate) program: Arc<Program>,
    pub(crate) instrs: Box<[Instr]>,
}

impl Code {
    pub(crate) fn new(program: Arc<Program>) -> Code {
        let instrs = program
            .codepoints()
            .iter()
            .map(|cp| Instr {
                opcode: cp.opcode(),
                immediate: cp.immediate().cloned(),
            })
            .collect();
        Code { program, instrs }
    }

    /// The pc that executing `cp` means: its index if it is one of ours, else the node itself.
    pub(crate) fn resolve(&self, cp: &CodePoint) -> Pc {
        match self.program.index_of(cp) {
            Some(index) => Pc::Loaded(index as u32),
            None => Pc::Dynamic(cp.clone()),
        }
    }

    /// The pc after a run-time codepoint that did not transfer control. A codepoint whose next
    /// instruction is known only by hash continues at `ERR`, which raises an error.
    pub(crate) fn after(&self, cp: &CodePoint) -> Pc {
        match cp.next() {
            Next::Dynamic(next) => self.resolve(next),
            Next::Loaded { pc } if self.program.index_of(cp) == Some(*pc as usize) => {
                Pc::Loaded(pc + 1)
            }
            _ => Pc::Loaded(self.program.len() as u32),
        }
    }

    /// The codepoint value at `pc`.
    pub(crate) fn codepoint(&self, pc: &Pc) -> CodePoint {
        match pc {
            Pc::Loaded(index) => self.program.codepoint(*index as usize).clone(),
            Pc::Dynamic(cp) => cp.clone(),
        }
    }
}
