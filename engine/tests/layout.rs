//! The machine core as compiled code sees it: reading a running machine's memory at the offsets
//! of `avm_interp::layout` (and `avm_runtime::value::layout`) gives what its accessors say.

use avm_interp::layout::{self, stack};
use avm_interp::{Limits, Machine, Pc, Status};
use avm_runtime::value::layout as value;
use avm_runtime::{U256, Value, asm};

/// Reads a `T` at `offset` bytes into `machine`.
fn read<T: Copy>(machine: &Machine, offset: usize) -> T {
    assert!(offset + size_of::<T>() <= size_of::<Machine>());
    // SAFETY: the offset is inside the machine (checked above), every field read here is
    // plain data of type `T` at that offset (the layouts under test), and `read_unaligned`
    // needs no alignment.
    unsafe {
        (machine as *const Machine)
            .cast::<u8>()
            .add(offset)
            .cast::<T>()
            .read_unaligned()
    }
}

/// The kind and payload words of the value `depth` places below the top of the stack at
/// `stack_offset`, read through the stack's pointer and length.
fn stack_value(machine: &Machine, stack_offset: usize, depth: usize) -> (u64, u64) {
    let ptr: *const u8 = read(machine, stack_offset + stack::PTR_OFFSET);
    let len: usize = read(machine, stack_offset + stack::LEN_OFFSET);
    assert!(depth < len);
    let at = (len - 1 - depth) * value::SIZE;
    // SAFETY: slot `len - 1 - depth` of the stack's buffer holds a value (`depth < len`), whose
    // two words are at the value layout's offsets.
    unsafe {
        (
            ptr.add(at + value::KIND_OFFSET).cast::<u64>().read(),
            ptr.add(at + value::PAYLOAD_OFFSET).cast::<u64>().read(),
        )
    }
}

#[test]
fn the_core_is_where_the_layout_says() {
    let program = asm::assemble(
        "push (1, 2)\npush 7\nauxpush\nrpush\npush 0x10000000000000000\npush 42\nsetgas 1000\nnop\nhalt",
    )
    .unwrap();
    let mut machine = Machine::new(program);
    machine.run(&Limits {
        max_steps: Some(7),
        ..Limits::default()
    });
    assert!(matches!(machine.pc(), Pc::Loaded(7)));
    assert_eq!(read::<u32>(&machine, layout::PC_KIND), layout::PC_LOADED);
    assert_eq!(read::<u32>(&machine, layout::PC_INDEX), 7);
    assert_eq!(read::<u8>(&machine, layout::STATUS), Status::Running as u8);
    assert_eq!(read::<u64>(&machine, layout::STEPS), 7);
    let gas_used = machine.outputs().gas_used;
    assert_eq!(read::<u128>(&machine, layout::GAS_USED), gas_used);
    let gas: [u64; 4] = read(&machine, layout::GAS);
    assert_eq!(U256(gas), machine.gas_remaining());
    assert_eq!(machine.gas_remaining(), U256::from(1000));

    let data_len: usize = read(&machine, layout::STACK + stack::LEN_OFFSET);
    let aux_len: usize = read(&machine, layout::AUX + stack::LEN_OFFSET);
    assert_eq!((data_len, aux_len), (4, 1));
    let cap: usize = read(&machine, layout::STACK + stack::CAP_OFFSET);
    assert!(cap >= data_len);
    assert_eq!(
        stack_value(&machine, layout::STACK, 0),
        (value::SMALL_INT, 42)
    );
    assert_eq!(stack_value(&machine, layout::STACK, 1).0, value::BIG_INT);
    assert_eq!(stack_value(&machine, layout::STACK, 2).0, value::TUPLE);
    assert_eq!(stack_value(&machine, layout::STACK, 3).0, value::TUPLE);
    assert_eq!(stack_value(&machine, layout::AUX, 0), (value::SMALL_INT, 7));
    assert_eq!(read::<u64>(&machine, layout::REGISTER), value::TUPLE);
    assert_eq!(
        read::<u64>(&machine, layout::STATIC + value::KIND_OFFSET),
        value::TUPLE
    );
    assert_eq!(*machine.stack().peek(0), Value::int(42u64));

    machine.run(&Limits::default());
    assert_eq!(machine.status(), Status::Halted);
    assert_eq!(read::<u8>(&machine, layout::STATUS), Status::Halted as u8);
}
