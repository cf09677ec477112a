//! The shipped examples are self-checking: each halts only if every result it checks is right,
//! or, given its inbox (`NAME.inbox.json` beside it), reads all of it and blocks waiting for more.

use std::path::Path;

use avm_interp::l1_inbox::L1Inbox;
use avm_interp::{BlockReason, Limits, Machine, Stop};
use avm_runtime::{asm, parse_inbox_file};

#[test]
fn every_example_halts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "avm") {
            continue;
        }
        let program = asm::assemble(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut m = Machine::new(program);
        let inbox_file = path.with_extension("inbox.json");
        let expected = match inbox_file.exists() {
            true => {
                let file = parse_inbox_file(&std::fs::read(&inbox_file).unwrap()).unwrap();
                let inbox = L1Inbox::from_file(&file).unwrap();
                inbox
                    .messages()
                    .iter()
                    .for_each(|v| m.push_inbox(v.clone()));
                Stop::Blocked(BlockReason::Inbox)
            }
            false => Stop::Halted,
        };
        assert_eq!(m.run(&Limits::default()), expected, "{}", path.display());
        assert_eq!(
            m.pending_inbox(),
            0,
            "{}: every message read",
            path.display()
        );
        count += 1;
    }
    assert!(count >= 3);
}

/// Control that reaches a labelled back edge by a forward jump reads the jump table as the
/// fall-through path does (the label names the expansion's first instruction).
#[test]
fn a_forward_jump_to_a_back_edge_takes_it() {
    let text = "    push 3\nback:\n    add -1\n    dup0\n    iszero\n    cjump @done\n    push 1\n    cjump @next\n    error\nnext: jump @back\ndone:\n    pop\n    halt\n";
    let mut m = Machine::new(asm::assemble(text).unwrap());
    assert_eq!(m.run(&Limits::default()), Stop::Halted);
}
