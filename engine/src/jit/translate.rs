//! A block's integer program to Cranelift IR, on 256-bit values held as two `i128` halves.
//!
//! The function has the signature `extern "C" fn(inputs: *const u64, results: *mut u64) ->
//! u32`: it reads native input `i` from `inputs[4i..4i + 4]` (little-endian limbs, as `U256`
//! stores them) and writes result `k` to `results[4k..4k + 4]`. Opcodes without an inline
//! path call their builtin (`avm_runtime::jit_abi`) through a stack slot. It returns 0, or 1
//! as soon as a builtin reports an AVM error. It touches nothing else and cannot observe the
//! machine.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, FuncRef, Function, InstBuilder, MemFlagsData, Signature, StackSlotData,
    StackSlotKind, Value, types,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

use avm_runtime::U256;
use avm_runtime::opcode::*;

use crate::analysis::{Block, IntOp};

/// A 256-bit value in SSA: low and high 128-bit halves.
#[derive(Clone, Copy)]
struct Word {
    lo: Value,
    hi: Value,
}

/// Bytes per 256-bit word in the input and result arrays.
const WORD_BYTES: i32 = 32;

/// The signature every block function has, which is also every builtin's: two pointers in,
/// a status out.
pub fn signature(pointer: types::Type, call_conv: cranelift_codegen::isa::CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.push(AbiParam::new(pointer));
    sig.params.push(AbiParam::new(pointer));
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

/// Builds the body of `func` (whose signature is [`signature`]) for `block`.
pub fn translate(
    block: &Block,
    func: &mut Function,
    context: &mut FunctionBuilderContext,
    config: TargetFrontendConfig,
    builtins: &[(u8, FuncRef)],
) {
    let pointer = config.pointer_type();
    let mut b = FunctionBuilder::new(func, context);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let (inputs, results) = (b.block_params(entry)[0], b.block_params(entry)[1]);
    let flags = MemFlagsData::new().with_notrap();
    // Room for a builtin's operands (at most three words) and its result.
    let scratch =
        b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 4 * 32, 4));
    let bail = b.create_block();

    let mut words: Vec<Word> = Vec::with_capacity(block.ops.len());
    for op in &block.ops {
        let word = match *op {
            IntOp::Input(index) => {
                let offset = WORD_BYTES * index as i32;
                Word {
                    lo: b.ins().load(types::I128, flags, inputs, offset),
                    hi: b.ins().load(types::I128, flags, inputs, offset + 16),
                }
            }
            IntOp::Const(x) => constant(&mut b, &x),
            IntOp::Unary(opcode, a) => unary(&mut b, opcode, words[a]),
            IntOp::Binary(opcode, a, c) => binary(&mut b, opcode, words[a], words[c]),
            IntOp::Builtin(opcode, ref operands) => {
                let function = builtins
                    .iter()
                    .find(|(op, _)| *op == opcode)
                    .expect("declared for this block")
                    .1;
                let args = b.ins().stack_addr(pointer, scratch, 0);
                for (k, &operand) in operands.iter().enumerate() {
                    let offset = WORD_BYTES * k as i32;
                    b.ins().store(flags, words[operand].lo, args, offset);
                    b.ins().store(flags, words[operand].hi, args, offset + 16);
                }
                let out = b.ins().stack_addr(pointer, scratch, 3 * WORD_BYTES);
                let call = b.ins().call(function, &[args, out]);
                let status = b.inst_results(call)[0];
                let next = b.create_block();
                b.ins().brif(status, bail, &[], next, &[]);
                b.seal_block(next);
                b.switch_to_block(next);
                Word {
                    lo: b.ins().load(types::I128, flags, out, 0),
                    hi: b.ins().load(types::I128, flags, out, 16),
                }
            }
        };
        words.push(word);
    }
    for (k, &id) in block.results.iter().enumerate() {
        let offset = WORD_BYTES * k as i32;
        b.ins().store(flags, words[id].lo, results, offset);
        b.ins().store(flags, words[id].hi, results, offset + 16);
    }
    let ok = b.ins().iconst(types::I32, 0);
    b.ins().return_(&[ok]);
    b.switch_to_block(bail);
    b.seal_block(bail);
    let failed = b.ins().iconst(types::I32, 1);
    b.ins().return_(&[failed]);
    b.finalize(config);
}

fn constant(b: &mut FunctionBuilder<'_>, x: &U256) -> Word {
    let mut half = |low: u64, high: u64| {
        let low = b.ins().iconst(types::I64, low as i64);
        let high = b.ins().iconst(types::I64, high as i64);
        b.ins().iconcat(low, high)
    };
    Word {
        lo: half(x.0[0], x.0[1]),
        hi: half(x.0[2], x.0[3]),
    }
}

/// A boolean (`i8` 0/1) as a 256-bit 0/1.
fn from_bool(b: &mut FunctionBuilder<'_>, flag: Value) -> Word {
    let lo = b.ins().uextend(types::I128, flag);
    let zero = b.ins().iconst(types::I64, 0);
    let hi = b.ins().uextend(types::I128, zero);
    Word { lo, hi }
}

/// `a < b` on 256 bits; `signed` compares the high halves as two's complement.
fn less_than(b: &mut FunctionBuilder<'_>, a: Word, c: Word, signed: bool) -> Value {
    let cc = if signed {
        IntCC::SignedLessThan
    } else {
        IntCC::UnsignedLessThan
    };
    let hi_lt = b.ins().icmp(cc, a.hi, c.hi);
    let hi_eq = b.ins().icmp(IntCC::Equal, a.hi, c.hi);
    let lo_lt = b.ins().icmp(IntCC::UnsignedLessThan, a.lo, c.lo);
    let tie = b.ins().band(hi_eq, lo_lt);
    b.ins().bor(hi_lt, tie)
}

fn unary(b: &mut FunctionBuilder<'_>, opcode: u8, a: Word) -> Word {
    match opcode {
        ISZERO => {
            let any = b.ins().bor(a.lo, a.hi);
            let zero = b.ins().icmp_imm_u(IntCC::Equal, any, 0);
            from_bool(b, zero)
        }
        NOT => Word {
            lo: b.ins().bnot(a.lo),
            hi: b.ins().bnot(a.hi),
        },
        _ => unreachable!("analysis only emits inline unary opcodes"),
    }
}

/// `opcode` on operands `(A, B)` in pop order.
fn binary(b: &mut FunctionBuilder<'_>, opcode: u8, a: Word, c: Word) -> Word {
    match opcode {
        ADD => {
            let lo = b.ins().iadd(a.lo, c.lo);
            let carry = b.ins().icmp(IntCC::UnsignedLessThan, lo, a.lo);
            let carry = b.ins().uextend(types::I128, carry);
            let hi = b.ins().iadd(a.hi, c.hi);
            Word {
                lo,
                hi: b.ins().iadd(hi, carry),
            }
        }
        SUB => {
            let lo = b.ins().isub(a.lo, c.lo);
            let borrow = b.ins().icmp(IntCC::UnsignedLessThan, a.lo, c.lo);
            let borrow = b.ins().uextend(types::I128, borrow);
            let hi = b.ins().isub(a.hi, c.hi);
            Word {
                lo,
                hi: b.ins().isub(hi, borrow),
            }
        }
        LT => {
            let flag = less_than(b, a, c, false);
            from_bool(b, flag)
        }
        GT => {
            let flag = less_than(b, c, a, false);
            from_bool(b, flag)
        }
        SLT => {
            let flag = less_than(b, a, c, true);
            from_bool(b, flag)
        }
        SGT => {
            let flag = less_than(b, c, a, true);
            from_bool(b, flag)
        }
        EQ => {
            let lo = b.ins().icmp(IntCC::Equal, a.lo, c.lo);
            let hi = b.ins().icmp(IntCC::Equal, a.hi, c.hi);
            let both = b.ins().band(lo, hi);
            from_bool(b, both)
        }
        AND => Word {
            lo: b.ins().band(a.lo, c.lo),
            hi: b.ins().band(a.hi, c.hi),
        },
        OR => Word {
            lo: b.ins().bor(a.lo, c.lo),
            hi: b.ins().bor(a.hi, c.hi),
        },
        XOR => Word {
            lo: b.ins().bxor(a.lo, c.lo),
            hi: b.ins().bxor(a.hi, c.hi),
        },
        _ => unreachable!("analysis only emits inline binary opcodes"),
    }
}
