//! Disassembling and reassembling gives the identical program, for the project's examples and
//! (when `../shared` is present) every corpus program; so does writing and reloading `.mexe`.

mod common;

use std::path::Path;

use avm_runtime::{Program, asm, mexe};

fn assert_round_trips(name: &str, program: &Program) {
    let text = asm::disassemble(program);
    let again = asm::assemble(&text).unwrap_or_else(|e| panic!("{name}: reassembling: {e}"));
    assert_eq!(again.len(), program.len(), "{name}");
    assert_eq!(
        again.initial_machine_hash(),
        program.initial_machine_hash(),
        "{name}: asm"
    );
    let reloaded =
        mexe::load(mexe::to_json(program).as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        reloaded.initial_machine_hash(),
        program.initial_machine_hash(),
        "{name}: .mexe"
    );
}

#[test]
fn examples_round_trip() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let sources = common::files(&examples, "avm");
    assert!(sources.len() >= 3);
    for path in sources {
        let program = asm::assemble(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_round_trips(&path.display().to_string(), &program);
    }
}

#[test]
fn corpus_programs_round_trip() {
    let Some(shared) = common::shared("corpus_programs_round_trip") else {
        return;
    };
    let mut count = 0;
    for dir in ["corpus/machine-cases", "corpus/speedtest", "corpus/arbos"] {
        for path in common::files(&shared.join(dir), "mexe") {
            let program = mexe::load_file(&path).unwrap();
            assert_round_trips(&path.display().to_string(), &program);
            count += 1;
        }
    }
    assert_eq!(count, 74);
}

#[test]
fn assembled_text_is_read_back_the_same() {
    // A program whose text exercises every value form survives disassembly unchanged.
    let source = ".static (@a, buffer(0x00ff), -2, (), ((1)), @err)\n\
                  a: push (2, @b, buffer(0x))\n\
                  errset @err\n\
                  b: op_25 7\n\
                  halt\n";
    let program = asm::assemble(source).unwrap();
    let text = asm::disassemble(&program);
    assert_eq!(asm::disassemble(&asm::assemble(&text).unwrap()), text);
    assert!(text.contains("op_25 7"), "{text}");
}
