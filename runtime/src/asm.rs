//! A text assembler and disassembler for AVM programs.
//!
//! # Format
//!
//! One instruction per line; `;` starts a comment that runs to the end of the line.
//!
//! ```text
//! .static (7, @done)        ; the static value (default `()`); may reference any label
//! start:                    ; a label names the next instruction
//!     push 5                ; `push V` is `nop` with immediate V
//!     add 0x10              ; any instruction may carry an immediate
//!     cjump @done           ; `@label` is that instruction's codepoint
//!     errset @err           ; `@err` is the error codepoint ERR
//!     op_25                 ; a raw opcode byte (invalid opcodes are written this way)
//! done: halt
//! ```
//!
//! Values: Ints in decimal, `0x` hex, or `-N` (meaning 2^256 − N); tuples `(a, b, (c))` with
//! `()` empty and `(c)` a 1-tuple; codepoints `@label` / `@err`; buffers `buffer(0x0102)`.
//!
//! # Backward references
//!
//! A codepoint's hash covers the code after it, so an immediate can only name a *later*
//! instruction (AVM.md §4.1). When an instruction's immediate is a bare `@label` that is
//! defined at or before it (a loop's back edge), the assembler keeps that codepoint in a jump
//! table in the static value and replaces the immediate by a table read:
//! `jump @loop` becomes `spush; tget i; jump` (a tree of `tget`s past 8 targets). The program
//! then costs a few more steps and gas per back edge, and such a program cannot also set
//! `.static`: reference labels from your own `.static` and read them with `spush`/`tget`
//! instead. Backward labels nested inside a tuple immediate are rejected for the same reason.
//!
//! [`disassemble`] prints text that [`assemble`] turns back into a program with the identical
//! initial machine hash: loaded programs only ever point forward from immediates.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use primitive_types::U256;

use crate::codepoint::CodePoint;
use crate::error::{Error, Result};
use crate::opcode::{self, NOP, SPUSH, TGET};
use crate::program::{Program, RawInstruction, RawValue, Token};
use crate::tuple::MAX_TUPLE_SIZE;
use crate::value::{Notation, write_value};

/// A value as written in assembler text: codepoints are still label names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Token(Token),
    Label(String),
}

/// One parsed source line's instruction, before labels get indexes.
struct SourceInstruction {
    line: usize,
    opcode: u8,
    immediate: Option<Vec<Piece>>,
}

/// The label name of `ERR`.
const ERR_LABEL: &str = "err";

/// Assembles `text` into a linked program.
pub fn assemble(text: &str) -> Result<Program> {
    let mut instructions: Vec<SourceInstruction> = Vec::new();
    // Each label's position in the source: the number of source instructions before it.
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut static_value: Option<(usize, Vec<Piece>)> = None;

    for (number, raw_line) in text.lines().enumerate() {
        let line = number + 1;
        let err = |message: String| Error::Asm { line, message };
        let mut rest = raw_line.split(';').next().unwrap_or("").trim();
        if let Some(value) = rest.strip_prefix(".static") {
            if static_value.is_some() {
                return Err(err("`.static` is set twice".into()));
            }
            static_value = Some((line, parse_value(value.trim()).map_err(err)?));
            continue;
        }
        while let Some((label, after)) = split_label(rest) {
            if label == ERR_LABEL
                || labels
                    .insert(label.to_string(), instructions.len())
                    .is_some()
            {
                return Err(err(format!("label `{label}` is defined twice or reserved")));
            }
            rest = after.trim_start();
        }
        if rest.is_empty() {
            continue;
        }
        let (mnemonic, operand) = match rest.split_once(char::is_whitespace) {
            Some((m, o)) => (m, o.trim()),
            None => (rest, ""),
        };
        let opcode = parse_mnemonic(mnemonic)
            .ok_or_else(|| err(format!("unknown instruction `{mnemonic}`")))?;
        let immediate = if operand.is_empty() {
            if mnemonic == "push" {
                return Err(err("`push` needs a value".into()));
            }
            None
        } else {
            Some(parse_value(operand).map_err(err)?)
        };
        instructions.push(SourceInstruction {
            line,
            opcode,
            immediate,
        });
    }
    if instructions.is_empty() {
        return Err(Error::Asm {
            line: text.lines().count().max(1),
            message: "no instructions".into(),
        });
    }
    layout(instructions, &labels, static_value)
}

/// Splits `name:` off the front of a line.
fn split_label(line: &str) -> Option<(&str, &str)> {
    let (name, rest) = line.split_once(':')?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    valid.then_some((name, rest))
}

fn parse_mnemonic(mnemonic: &str) -> Option<u8> {
    if mnemonic == "push" {
        return Some(NOP);
    }
    if let Some(op) = opcode::by_name(mnemonic) {
        return Some(op.byte);
    }
    let hex = mnemonic.strip_prefix("op_")?;
    (hex.len() == 2)
        .then(|| u8::from_str_radix(hex, 16).ok())
        .flatten()
}

/// Gives every instruction its final index, expanding backward references into jump-table
/// reads, and links the program.
fn layout(
    source: Vec<SourceInstruction>,
    labels: &HashMap<String, usize>,
    static_value: Option<(usize, Vec<Piece>)>,
) -> Result<Program> {
    let mut table: Vec<String> = Vec::new();
    // For each source instruction: the table slot its immediate reads, if it is a back edge.
    let mut back_edges: Vec<Option<usize>> = Vec::with_capacity(source.len());
    for (position, instruction) in source.iter().enumerate() {
        let err = |message: String| Error::Asm {
            line: instruction.line,
            message,
        };
        let mut slot = None;
        for piece in instruction.immediate.iter().flatten() {
            let Piece::Label(name) = piece else { continue };
            if name == ERR_LABEL {
                continue;
            }
            let target = *labels
                .get(name)
                .ok_or_else(|| err(format!("undefined label `{name}`")))?;
            if target > position {
                continue;
            }
            if instruction
                .immediate
                .as_ref()
                .is_some_and(|imm| imm.len() > 1)
            {
                return Err(err(format!(
                    "backward label `{name}` inside a tuple immediate: put it in `.static`"
                )));
            }
            slot = Some(table.iter().position(|l| l == name).unwrap_or_else(|| {
                table.push(name.clone());
                table.len() - 1
            }));
        }
        back_edges.push(slot);
    }
    if let (Some((line, _)), false) = (&static_value, table.is_empty()) {
        return Err(Error::Asm {
            line: *line,
            message: "this program has backward references, which keep a jump table in the static value; reference labels from `.static` and read them with `spush`/`tget` instead".into(),
        });
    }
    let paths = table_paths(table.len());

    // Where each source instruction's code starts: a label on a back edge names the first
    // instruction of its expansion (the `spush`), so control reaching it reads the table.
    let mut index_of_source = Vec::with_capacity(source.len() + 1);
    let mut next = 0usize;
    for slot in &back_edges {
        index_of_source.push(next);
        next += slot.map_or(0, |s| 1 + paths[s].len()) + 1;
    }
    index_of_source.push(next);
    let resolve = |name: &str| -> u64 {
        if name == ERR_LABEL {
            next as u64
        } else {
            index_of_source[labels[name]] as u64
        }
    };
    let to_raw = |pieces: &[Piece], line: usize| -> Result<RawValue> {
        let mut raw = RawValue::new();
        for piece in pieces {
            raw.push(match piece {
                Piece::Token(token) => token.clone(),
                Piece::Label(name) if name == ERR_LABEL || labels.contains_key(name) => {
                    Token::Code(resolve(name))
                }
                Piece::Label(name) => {
                    return Err(Error::Asm {
                        line,
                        message: format!("undefined label `{name}`"),
                    });
                }
            });
        }
        Ok(raw)
    };

    let mut code = Vec::with_capacity(next);
    for (instruction, slot) in source.iter().zip(&back_edges) {
        match slot {
            Some(slot) => {
                code.push(RawInstruction {
                    opcode: SPUSH,
                    immediate: None,
                });
                for &step in &paths[*slot] {
                    code.push(RawInstruction {
                        opcode: TGET,
                        immediate: Some(int_value(step as u64)),
                    });
                }
                code.push(RawInstruction {
                    opcode: instruction.opcode,
                    immediate: None,
                });
            }
            None => code.push(RawInstruction {
                opcode: instruction.opcode,
                immediate: instruction
                    .immediate
                    .as_deref()
                    .map(|p| to_raw(p, instruction.line))
                    .transpose()?,
            }),
        }
    }
    let static_raw = match static_value {
        Some((line, pieces)) => to_raw(&pieces, line)?,
        None => jump_table(&table.iter().map(|name| resolve(name)).collect::<Vec<_>>()),
    };
    Program::link(&code, &static_raw)
}

fn int_value(x: u64) -> RawValue {
    let mut raw = RawValue::new();
    raw.push(Token::Int(U256::from(x)));
    raw
}

/// The `tget` indexes that reach entry `i` of a table of `n` entries stored as an 8-ary tree.
fn table_paths(n: usize) -> Vec<Vec<usize>> {
    let mut depth = 1;
    while MAX_TUPLE_SIZE.pow(depth) < n {
        depth += 1;
    }
    (0..n)
        .map(|i| {
            (0..depth)
                .rev()
                .map(|level| i / MAX_TUPLE_SIZE.pow(level) % MAX_TUPLE_SIZE)
                .collect()
        })
        .collect()
}

/// The jump table as a value: entries at the leaves of an 8-ary tree read by [`table_paths`].
fn jump_table(targets: &[u64]) -> RawValue {
    let mut raw = RawValue::new();
    let paths = table_paths(targets.len());
    let depth = paths.first().map_or(0, Vec::len);
    // Emit the tree in postfix order: leaves in index order, closing each full or final group.
    let mut level_counts = vec![0usize; depth];
    for (i, target) in targets.iter().enumerate() {
        raw.push(Token::Code(*target));
        level_counts[depth - 1] += 1;
        let last = i + 1 == targets.len();
        for level in (0..depth).rev() {
            if level_counts[level] == MAX_TUPLE_SIZE || (last && level_counts[level] > 0) {
                raw.push(Token::Tuple(level_counts[level]));
                level_counts[level] = 0;
                if level > 0 {
                    level_counts[level - 1] += 1;
                }
            } else {
                break;
            }
        }
    }
    if targets.is_empty() {
        raw.push(Token::Tuple(0));
    }
    raw
}

/// Parses one value of the format above, without recursion.
fn parse_value(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut rest = text.trim_start();
    let mut expect_item = true;
    loop {
        if expect_item {
            if let Some(after) = rest.strip_prefix('(') {
                open.push(0);
                rest = after.trim_start();
                if let Some(after) = rest.strip_prefix(')') {
                    open.pop();
                    pieces.push(Piece::Token(Token::Tuple(0)));
                    rest = after;
                } else {
                    continue;
                }
            } else {
                let end = rest.find([',', ')', ' ', '\t']).unwrap_or(rest.len());
                let (atom, after) = if rest.starts_with("buffer(") {
                    let close = rest.find(')').ok_or("unclosed `buffer(`")?;
                    (&rest[..=close], &rest[close + 1..])
                } else {
                    rest.split_at(end)
                };
                pieces.push(parse_atom(atom)?);
                rest = after;
            }
        }
        rest = rest.trim_start();
        match open.last_mut() {
            None if rest.is_empty() => return Ok(pieces),
            None => return Err(format!("unexpected `{rest}` after the value")),
            Some(count) => {
                *count += 1;
                if *count > MAX_TUPLE_SIZE {
                    return Err("a tuple has at most 8 slots".into());
                }
                if let Some(after) = rest.strip_prefix(',') {
                    rest = after.trim_start();
                    expect_item = true;
                } else if let Some(after) = rest.strip_prefix(')') {
                    let count = open.pop().expect("inside a tuple");
                    pieces.push(Piece::Token(Token::Tuple(count)));
                    rest = after;
                    expect_item = false;
                } else {
                    return Err(format!("expected `,` or `)` at `{rest}`"));
                }
            }
        }
    }
}

fn parse_atom(atom: &str) -> Result<Piece, String> {
    if let Some(label) = atom.strip_prefix('@') {
        return Ok(Piece::Label(label.to_string()));
    }
    if let Some(hex) = atom
        .strip_prefix("buffer(0x")
        .and_then(|a| a.strip_suffix(')'))
    {
        let bytes = crate::hex::parse_bytes(hex).map_err(|e| e.to_string())?;
        return Ok(Piece::Token(Token::Buffer(bytes)));
    }
    parse_int(atom).map(|x| Piece::Token(Token::Int(x)))
}

fn parse_int(atom: &str) -> Result<U256, String> {
    let bad = || format!("`{atom}` is not a value");
    if let Some(magnitude) = atom.strip_prefix('-') {
        return parse_int(magnitude).map(|x| U256::zero().overflowing_sub(x).0);
    }
    if let Some(hex) = atom.strip_prefix("0x") {
        return crate::hex::parse_int(hex).map_err(|_| bad());
    }
    if atom.is_empty() || !atom.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    U256::from_dec_str(atom).map_err(|_| bad())
}

/// Prints `program` as assembler text that [`assemble`] turns back into the same program.
pub fn disassemble(program: &Program) -> String {
    let mut referenced = vec![false; program.len() + 1];
    let values = program
        .codepoints()
        .iter()
        .filter_map(CodePoint::immediate)
        .chain([program.static_value()]);
    for value in values {
        let _ = write_value(
            &mut String::new(),
            value,
            &mut MarkLabels {
                program,
                referenced: &mut referenced,
            },
        );
    }

    let mut out = String::new();
    let write = |out: &mut String, value| {
        let _ = write_value(out, value, &mut Labels { program });
    };
    out.push_str(".static ");
    write(&mut out, program.static_value());
    out.push('\n');
    for (pc, cp) in program.codepoints()[..program.len()].iter().enumerate() {
        if referenced[pc] {
            let _ = writeln!(out, "L{pc}:");
        }
        let name = match (cp.opcode(), cp.immediate()) {
            (NOP, Some(_)) => "push".to_string(),
            (byte, _) => opcode::mnemonic(byte),
        };
        out.push_str("    ");
        out.push_str(&name);
        if let Some(imm) = cp.immediate() {
            out.push(' ');
            write(&mut out, imm);
        }
        out.push('\n');
    }
    out
}

/// Writes codepoints as `@L<index>` / `@err`.
struct Labels<'a> {
    program: &'a Program,
}

impl<W: fmt::Write> Notation<W> for Labels<'_> {
    fn codepoint(&mut self, out: &mut W, cp: &CodePoint) -> fmt::Result {
        match self.program.index_of(cp) {
            Some(pc) if pc == self.program.len() => write!(out, "@{ERR_LABEL}"),
            Some(pc) => write!(out, "@L{pc}"),
            None => unreachable!("a linked program only holds its own codepoints"),
        }
    }
}

/// Writes nothing; records which instructions values reference.
struct MarkLabels<'a> {
    program: &'a Program,
    referenced: &'a mut [bool],
}

impl<W: fmt::Write> Notation<W> for MarkLabels<'_> {
    fn codepoint(&mut self, _: &mut W, cp: &CodePoint) -> fmt::Result {
        if let Some(pc) = self.program.index_of(cp) {
            self.referenced[pc] = true;
        }
        Ok(())
    }

    fn int(&mut self, _: &mut W, _: &U256) -> fmt::Result {
        Ok(())
    }

    fn buffer(&mut self, _: &mut W, _: &crate::Buffer) -> fmt::Result {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    #[test]
    fn table_paths_cover_each_entry_once() {
        assert_eq!(table_paths(3), vec![vec![0], vec![1], vec![2]]);
        let paths = table_paths(70);
        assert_eq!(paths[0], vec![0, 0, 0]);
        assert_eq!(paths[69], vec![1, 0, 5]);
        let unique: std::collections::HashSet<_> = paths.iter().collect();
        assert_eq!(unique.len(), 70);
    }

    #[test]
    fn jump_table_entries_are_reached_by_their_paths() {
        for n in [1, 8, 9, 64, 65, 100] {
            let program = Program::link(
                &vec![
                    RawInstruction {
                        opcode: NOP,
                        immediate: None
                    };
                    n
                ],
                &jump_table(&(0..n as u64).collect::<Vec<_>>()),
            )
            .unwrap();
            for (i, path) in table_paths(n).iter().enumerate() {
                let mut value = program.static_value().clone();
                for &step in path {
                    let Value::Tuple(t) = value else {
                        panic!("n = {n}: not a tuple")
                    };
                    value = t.get(step).unwrap().clone();
                }
                let Value::CodePoint(cp) = value else {
                    panic!()
                };
                assert_eq!(program.index_of(&cp), Some(i), "n = {n}");
            }
        }
    }

    #[test]
    fn values_parse() {
        let program =
            assemble(".static (1, 0x10, -1, (), (buffer(0x0100)), @err, @x)\nx: halt").unwrap();
        let Value::Tuple(t) = program.static_value() else {
            panic!()
        };
        assert_eq!(t.get(0), Some(&Value::int(1u64)));
        assert_eq!(t.get(1), Some(&Value::int(16u64)));
        assert_eq!(t.get(2), Some(&Value::int(U256::MAX)));
        assert_eq!(t.get(3), Some(&Value::none()));
        assert_eq!(t.len(), 7);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("halt\nfrobnicate", 2),
            ("push", 1),
            ("jump @nowhere", 1),
            ("a: halt\na: halt", 2),
            ("push (1, 2", 1),
            ("push (1,2,3,4,5,6,7,8,9)", 1),
            ("x: push (@x, 1)", 1),
            (".static ()\nx: jump @x", 1),
        ] {
            match assemble(text) {
                Err(Error::Asm { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    /// Labels on instructions that expand (back edges) name the first instruction of the
    /// expansion, for forward references, for back edges and for the jump table alike: over
    /// generated programs, every label's codepoint is where its source line's code starts.
    #[test]
    fn labels_name_the_start_of_their_expansion() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..300 {
            let lines = 2 + random(40);
            // Each line: a back edge to an earlier label, or a plain instruction; every line has a
            // label, and the first line refers forward to a few of them.
            let mut text = String::new();
            let targets: Vec<usize> = (0..3).map(|_| 1 + random(lines - 1)).collect();
            let forward: Vec<String> = targets.iter().map(|t| format!("@l{t}")).collect();
            text.push_str(&format!("l0: push ({})\n", forward.join(", ")));
            let mut expands = vec![false];
            for i in 1..lines {
                match random(3) {
                    0 => {
                        text.push_str(&format!("l{i}: jump @l{}\n", random(i + 1)));
                        expands.push(true);
                    }
                    1 => {
                        text.push_str(&format!("l{i}: cjump @l{}\n", random(i + 1)));
                        expands.push(true);
                    }
                    _ => {
                        text.push_str(&format!("l{i}: pop\n"));
                        expands.push(false);
                    }
                }
            }
            let program = assemble(&text).unwrap();
            // Where each line's code starts, from the emitted opcodes: an expansion is `spush`,
            // then `tget`s, then the jump.
            let ops: Vec<u8> = program.codepoints()[..program.len()]
                .iter()
                .map(CodePoint::opcode)
                .collect();
            let mut starts = Vec::new();
            let mut at = 0;
            for &expanded in &expands {
                starts.push(at);
                if expanded {
                    assert_eq!(ops[at], SPUSH, "{text}");
                    at += 1;
                    while ops[at] == TGET {
                        at += 1;
                    }
                }
                at += 1;
            }
            assert_eq!(at, program.len(), "{text}");
            let Some(Value::Tuple(refs)) = program.codepoint(0).immediate() else {
                panic!("{text}")
            };
            for (slot, &target) in refs.slots().iter().zip(&targets) {
                let Value::CodePoint(cp) = slot else { panic!() };
                assert_eq!(program.index_of(cp), Some(starts[target]), "{text}");
            }
            let mut table = vec![program.static_value().clone()];
            while let Some(value) = table.pop() {
                match value {
                    Value::Tuple(t) => table.extend(t.slots().iter().cloned()),
                    Value::CodePoint(cp) => {
                        let index = program.index_of(&cp).unwrap();
                        assert!(
                            starts.contains(&index),
                            "{index} is inside an expansion: {text}"
                        );
                    }
                    other => panic!("{other:?} in the jump table"),
                }
            }
        }
    }

    #[test]
    fn a_loop_on_an_expanded_line_reads_the_table_again() {
        let program = assemble("loop: jump @loop").unwrap();
        let Value::Tuple(table) = program.static_value() else {
            panic!()
        };
        let Some(Value::CodePoint(target)) = table.get(0) else {
            panic!()
        };
        assert_eq!(program.index_of(target), Some(0), "the spush, not the jump");
    }

    #[test]
    fn back_edges_read_the_jump_table() {
        let program = assemble("top: push 1\n jump @top\n cjump @top").unwrap();
        let ops: Vec<u8> = program.codepoints()[..program.len()]
            .iter()
            .map(CodePoint::opcode)
            .collect();
        assert_eq!(
            ops,
            vec![NOP, SPUSH, TGET, opcode::JUMP, SPUSH, TGET, opcode::CJUMP]
        );
        let Value::Tuple(table) = program.static_value() else {
            panic!()
        };
        assert_eq!(table.len(), 1);
    }
}
