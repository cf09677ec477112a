//! CLIF snapshots: the Cranelift IR the region JIT builds for a few small programs (every
//! region compiled before it runs), compared with `tests/clif/NAME.clif`. A change to the
//! lowering shows here as a difference to review; once it is what was meant, re-bless with
//! `AVM_BLESS=1 cargo test -p avm-engine --test clif`. Addresses (the region table, program
//! values) differ from run to run and are written as `0xADDR`.

use std::path::PathBuf;
use std::sync::Arc;

use avm_engine::CompileMode;
use avm_engine::native::{RegionJit, RegionOptions};
use avm_interp::{Limits, Machine, Observed};
use avm_runtime::asm;

/// Small-Int arithmetic, a compare and both arms of a `cjump`.
const ARITH: &str = "
    push 5
    add 7
    dup0
    lt 100
    cjump @out
    pop
out:
    halt
";

/// Constant-index tuple reads and writes, on the data and the aux stack.
const TUPLE: &str = "
    push (1, 2, 3)
    tget 1
    push (0, 0)
    tset 0
    auxpush
    xget 0
    auxpop
    pop
    halt
";

/// A call through a codepoint on the stack and a return by a dynamic jump.
const CALL: &str = "
    push 1
    push @back
    jump @double
back:
    halt
double:
    swap1
    dup0
    add
    swap1
    jump
";

#[test]
fn region_clif_matches_its_snapshots() {
    let bless = std::env::var_os("AVM_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, source) in [("arith", ARITH), ("tuple", TUPLE), ("call", CALL)] {
        let text = clif_of(source);
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/clif/{name}.clif"));
        if bless {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == text => {}
            Ok(_) => stale.push(format!("{name}: differs from {}", path.display())),
            Err(e) => stale.push(format!("{name}: {}: {e}", path.display())),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\n(review the lowering change, then AVM_BLESS=1 cargo test -p avm-engine --test clif)",
        stale.join("\n")
    );
}

/// The CLIF of every region of `source`, run once at threshold 0 (checked against the
/// interpreter), in the order they compiled, addresses normalised.
fn clif_of(source: &str) -> String {
    let program = Arc::new(asm::assemble(source).expect("assembles"));
    let mut reference = Machine::new(Arc::clone(&program));
    let stop = reference.run(&Limits::default());
    let expected = Observed::of(&mut reference, stop);
    let options = RegionOptions {
        threshold: 0,
        compile: CompileMode::Inline,
        keep_text: true,
        ..RegionOptions::default()
    };
    let mut jit = RegionJit::with_options(Arc::clone(&program), options).expect("cranelift");
    let mut machine = Machine::new(program);
    let stop = jit.run(&mut machine, &Limits::default());
    assert_eq!(Observed::of(&mut machine, stop), expected);
    assert!(!jit.texts().is_empty(), "no region compiled");
    let mut text = String::new();
    for region in jit.texts() {
        text += &format!("; region entered at pc {}\n", region.entry);
        text += &normalise_addresses(&region.clif);
        text.push('\n');
    }
    text
}

/// Replaces hexadecimal constants of three or more 16-bit groups (48-bit addresses, as
/// Cranelift prints them: `0x7f12_3456_789a`) with `0xADDR`.
fn normalise_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at]);
        let digits = rest[at + 2..]
            .find(|c: char| !(c.is_ascii_hexdigit() || c == '_'))
            .map_or(rest.len() - at - 2, |n| n);
        let literal = &rest[at..at + 2 + digits];
        let groups = literal[2..].split('_').count();
        out.push_str(if groups >= 3 { "0xADDR" } else { literal });
        rest = &rest[at + 2 + digits..];
    }
    out.push_str(rest);
    out
}

#[test]
fn addresses_are_normalised_and_small_constants_kept() {
    assert_eq!(
        normalise_addresses("v1 = iconst.i64 0x054f_8c0a_0d80 ; v2 = 0x0007_a314"),
        "v1 = iconst.i64 0xADDR ; v2 = 0x0007_a314"
    );
}
