//! End-to-end tests of every valid opcode (AVM.md §7.2, §8, §10) through the interpreter's public
//! API: results, exact gas and step counts, each opcode's own error conditions with the error
//! path of AVM.md §7.1 (operands removed, the rest untouched, handler or ErrorStop), underflow,
//! out of gas, blocking, and the opcode and buffer vectors of VECTORS.md §4 and §5.
//!
//! Most tests build a tiny program around the instruction under test, run it up to that
//! instruction, take a snapshot, execute one step and compare:
//!
//! ```text
//!     errset @h          ; only when a handler is wanted
//!     push A / auxpush   ; the aux stack, bottom first
//!     push 0x5e5e        ; the sentinel, which every error must leave alone
//!     push …             ; the operands, bottom first
//!     setgas N           ; only for gas tests
//! t:  <instruction under test>
//!     halt
//! h:  halt               ; the error handler (`halt` → ERR when nothing follows)
//!     …                  ; extra code: jump targets, `.static`
//! ```

use std::collections::HashSet;
use std::fmt::Write as _;

use avm_interp::{BlockReason, Limits, Machine, Pc, Status, Stop};
use avm_runtime::asm::assemble;
use avm_runtime::hash::{be32, hash_codepoint, hash2, keccak};
use avm_runtime::{Buffer, CodePoint, U256, Value};

// ---------------------------------------------------------------------------------------------
// The opcode table of AVM.md §7.2, copied literally: (byte, name, k data pops, j aux pops, gas).

const TABLE: [(u8, &str, usize, usize, u64); 78] = [
    (0x01, "add", 2, 0, 3),
    (0x02, "mul", 2, 0, 3),
    (0x03, "sub", 2, 0, 3),
    (0x04, "div", 2, 0, 4),
    (0x05, "sdiv", 2, 0, 7),
    (0x06, "mod", 2, 0, 4),
    (0x07, "smod", 2, 0, 7),
    (0x08, "addmod", 3, 0, 4),
    (0x09, "mulmod", 3, 0, 4),
    (0x0a, "exp", 2, 0, 25),
    (0x0b, "signextend", 2, 0, 7),
    (0x10, "lt", 2, 0, 2),
    (0x11, "gt", 2, 0, 2),
    (0x12, "slt", 2, 0, 2),
    (0x13, "sgt", 2, 0, 2),
    (0x14, "eq", 2, 0, 2),
    (0x15, "iszero", 1, 0, 1),
    (0x16, "and", 2, 0, 2),
    (0x17, "or", 2, 0, 2),
    (0x18, "xor", 2, 0, 2),
    (0x19, "not", 1, 0, 1),
    (0x1a, "byte", 2, 0, 4),
    (0x1b, "shl", 2, 0, 4),
    (0x1c, "shr", 2, 0, 4),
    (0x1d, "sar", 2, 0, 4),
    (0x20, "hash", 1, 0, 7),
    (0x21, "type", 1, 0, 3),
    (0x22, "ethhash2", 2, 0, 8),
    (0x23, "keccakf", 1, 0, 600),
    (0x24, "sha256f", 3, 0, 250),
    (0x30, "pop", 1, 0, 1),
    (0x31, "spush", 0, 0, 1),
    (0x32, "rpush", 0, 0, 1),
    (0x33, "rset", 1, 0, 2),
    (0x34, "jump", 1, 0, 4),
    (0x35, "cjump", 2, 0, 4),
    (0x36, "stackempty", 0, 0, 2),
    (0x37, "pcpush", 0, 0, 1),
    (0x38, "auxpush", 1, 0, 1),
    (0x39, "auxpop", 0, 1, 1),
    (0x3a, "auxstackempty", 0, 0, 2),
    (0x3b, "nop", 0, 0, 1),
    (0x3c, "errpush", 0, 0, 1),
    (0x3d, "errset", 1, 0, 1),
    (0x40, "dup0", 1, 0, 1),
    (0x41, "dup1", 2, 0, 1),
    (0x42, "dup2", 3, 0, 1),
    (0x43, "swap1", 2, 0, 1),
    (0x44, "swap2", 3, 0, 1),
    (0x50, "tget", 2, 0, 2),
    (0x51, "tset", 3, 0, 40),
    (0x52, "tlen", 1, 0, 2),
    (0x53, "xget", 1, 1, 3),
    (0x54, "xset", 2, 1, 41),
    (0x60, "breakpoint", 0, 0, 100),
    (0x61, "log", 1, 0, 100),
    (0x70, "send", 2, 0, 100),
    (0x72, "inbox", 0, 0, 40),
    (0x73, "error", 0, 0, 5),
    (0x74, "halt", 0, 0, 10),
    (0x75, "setgas", 1, 0, 1),
    (0x76, "pushgas", 0, 0, 1),
    (0x77, "errcodepoint", 0, 0, 25),
    (0x78, "pushinsn", 2, 0, 25),
    (0x79, "pushinsnimm", 3, 0, 25),
    (0x7b, "sideload", 1, 0, 10),
    (0x80, "ecrecover", 4, 0, 20000),
    (0x81, "ecadd", 4, 0, 3500),
    (0x82, "ecmul", 3, 0, 82000),
    (0x83, "ecpairing", 1, 0, 1000),
    (0x90, "debugprint", 1, 0, 1),
    (0xa0, "newbuffer", 0, 0, 1),
    (0xa1, "getbuffer8", 2, 0, 10),
    (0xa2, "getbuffer64", 2, 0, 10),
    (0xa3, "getbuffer256", 2, 0, 10),
    (0xa4, "setbuffer8", 3, 0, 100),
    (0xa5, "setbuffer64", 3, 0, 100),
    (0xa6, "setbuffer256", 3, 0, 100),
];

// ---------------------------------------------------------------------------------------------
// Values.

const MAX: U256 = U256::MAX;
/// The value pushed below the operands; errors must leave it alone.
const SENTINEL: &str = "0x5e5e";
/// `H_ERR` (AVM.md §2.6).
const H_ERR: &str = "b4c00615f95dc249934075fcc669947596baf6e070ac80a59f79dae98aa932f0";
/// The hash of `halt` → `ERR` (AVM.md §2.3), i.e. of `h: halt` when it ends the program.
const H_HALT_ERR: &str = "dc207027f0fefccc361e5ed5bf81a9b2591d0858607f1535afc92441cd2fc149";
/// `hash(newbuffer)` (AVM.md §2.6).
const H_EMPTY_BUFFER: &str = "c7475bc300e0a371cfa639ceb1e1d08802941c2df94c0ffe34929c5fed808638";
/// The BN254 base field modulus `p` and the values around it.
const P_PLUS_1: &str = "0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd48";
const P_MINUS_2: &str = "0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd45";
/// The BN254 group order `r`.
const R: &str = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";
/// `2·G` of BN254 G1 (G = (1, 2)).
const TWO_G_X: &str = "030644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd3";
const TWO_G_Y: &str = "15ed738c0e0a7c92e7845f96b2ae9c0a68a6a449e3538fc7ff3ebf7a5a18a2c4";
/// EIP-197's G2 generator, real part first (AVM.md §10.5): x_re, x_im, y_re, y_im.
const G2: &str = "10857046999023057135944570762232829481370756359578518086990519993285655852781, \
                  11559732032986387107991004021392285783925812861821192530917403151452391805634, \
                  8495653923123431417604973247489272438418190587263600148770280649306958101930, \
                  4082367875863433681332203403145435568316851327593401208105741076214120093531";

fn sentinel() -> Value {
    Value::int(0x5e5e_u64)
}

fn int(x: u64) -> Value {
    Value::int(x)
}

/// `2^256 − x`.
fn neg(x: u64) -> Value {
    Value::int(U256::zero().overflowing_sub(U256::from(x)).0)
}

fn h256(s: &str) -> U256 {
    U256::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex literal")
}

/// An Int from hex digits.
fn hx(s: &str) -> Value {
    Value::int(h256(s))
}

/// A value written in assembler notation (no labels).
fn val(text: &str) -> Value {
    let program = assemble(&format!("push {text}")).unwrap_or_else(|e| panic!("{text}: {e}"));
    program
        .codepoint(0)
        .immediate()
        .expect("an immediate")
        .clone()
}

/// A buffer with these bytes written at these offsets.
fn buffer(writes: &[(u64, &[u8])]) -> Value {
    Value::Buffer(
        writes
            .iter()
            .fold(Buffer::new(), |b, (offset, bytes)| b.write(*offset, bytes)),
    )
}

/// `buffer(0x…)` holding `byte` at `offset` (assembler notation).
fn buffer_text(offset: usize, byte: u8) -> String {
    format!("buffer(0x{}{byte:02x})", "00".repeat(offset))
}

/// A pairing list `(item, (item, … ()))` (AVM.md §10.5).
fn list(items: &[&str]) -> String {
    items
        .iter()
        .rev()
        .fold("()".to_string(), |rest, item| format!("({item}, {rest})"))
}

// ---------------------------------------------------------------------------------------------
// Whole programs.

fn machine(src: &str) -> Machine {
    Machine::new(assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}")))
}

/// Assembles `src` and runs it with default limits.
fn run(src: &str) -> Machine {
    let mut m = machine(src);
    m.run(&Limits::default());
    m
}

fn top(m: &Machine) -> &Value {
    m.stack().values().last().expect("a value on the stack")
}

fn stop_on_breakpoint() -> Limits {
    Limits {
        stop_on_breakpoint: true,
        ..Limits::default()
    }
}

fn stop_on_sideload() -> Limits {
    Limits {
        stop_on_sideload: true,
        ..Limits::default()
    }
}

// ---------------------------------------------------------------------------------------------
// One instruction under test.

/// The program around one instruction (see the module doc).
#[derive(Clone, Debug, Default)]
struct Case {
    handler: bool,
    aux: Vec<String>,
    data: Vec<String>,
    setgas: Option<u64>,
    insn: String,
    extra: String,
}

impl Case {
    fn new(insn: &str) -> Case {
        Case {
            insn: insn.to_string(),
            ..Case::default()
        }
    }

    fn handler(mut self, on: bool) -> Case {
        self.handler = on;
        self
    }

    /// The data stack before the instruction, bottom first.
    fn data(mut self, bottom_first: &[&str]) -> Case {
        self.data = bottom_first.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The aux stack before the instruction, bottom first.
    fn aux(mut self, bottom_first: &[&str]) -> Case {
        self.aux = bottom_first.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `setgas remaining` just before the instruction.
    fn gas(mut self, remaining: u64) -> Case {
        self.setgas = Some(remaining);
        self
    }

    fn extra(mut self, code: &str) -> Case {
        self.extra = code.to_string();
        self
    }

    fn source(&self) -> String {
        let mut s = String::new();
        if self.handler {
            s.push_str("errset @h\n");
        }
        for a in &self.aux {
            writeln!(s, "push {a}\nauxpush").unwrap();
        }
        for d in &self.data {
            writeln!(s, "push {d}").unwrap();
        }
        if let Some(g) = self.setgas {
            writeln!(s, "setgas {g}").unwrap();
        }
        writeln!(s, "t: {}\nhalt\nh: halt\n{}", self.insn, self.extra).unwrap();
        s
    }

    /// The index of `t`.
    fn setup_len(&self) -> usize {
        usize::from(self.handler)
            + 2 * self.aux.len()
            + self.data.len()
            + usize::from(self.setgas.is_some())
    }

    /// Runs the setup, snapshots, and executes the instruction at `t` as one step.
    fn probe(&self) -> Probe {
        let src = self.source();
        let mut m = machine(&src);
        let t = self.setup_len();
        let stop = m.run(&Limits {
            max_steps: Some(t as u64),
            ..Limits::default()
        });
        assert!(
            matches!(m.pc(), Pc::Loaded(i) if *i as usize == t) && m.status() == Status::Running,
            "the setup did not reach t ({stop:?}):\n{src}"
        );
        let before = m.stack().values().to_vec();
        let imm = m.program().codepoint(t).immediate().cloned();
        let aux0 = m.aux_stack().values().to_vec();
        let gas0 = m.gas_remaining();
        let out = m.outputs();
        let (used0, steps0, logs0, sends0) =
            (out.gas_used, out.steps, out.logs.len(), out.sends.len());
        let register0 = m.register().clone();
        let handler0 = m.error_handler().hash();
        let hash0 = m.hash();
        let stop = m.step(&Limits::default());
        Probe {
            m,
            src,
            t,
            has_handler: self.handler,
            before,
            imm,
            aux0,
            gas0,
            used0,
            steps0,
            register0,
            handler0,
            hash0,
            logs0,
            sends0,
            stop,
        }
    }
}

/// The machine after one step of the instruction at `t`, and a snapshot from before it.
struct Probe {
    m: Machine,
    src: String,
    t: usize,
    has_handler: bool,
    /// The data stack before the step (the immediate not included).
    before: Vec<Value>,
    imm: Option<Value>,
    aux0: Vec<Value>,
    gas0: U256,
    used0: u128,
    steps0: u64,
    register0: Value,
    handler0: U256,
    hash0: U256,
    logs0: usize,
    sends0: usize,
    stop: Option<Stop>,
}

impl Probe {
    fn values(&self) -> &[Value] {
        self.m.stack().values()
    }

    fn pc(&self) -> usize {
        match self.m.pc() {
            Pc::Loaded(i) => *i as usize,
            Pc::Dynamic(cp) => panic!("at a run-time codepoint {cp:?}\n{}", self.src),
        }
    }

    /// Instruction `index` of the program as a value.
    fn codepoint(&self, index: usize) -> Value {
        Value::CodePoint(self.m.program().codepoint(index).clone())
    }

    /// One more step and `gas` more gas used.
    fn charged(&self, gas: u64) -> &Self {
        let out = self.m.outputs();
        assert_eq!(out.steps, self.steps0 + 1, "steps\n{}", self.src);
        assert_eq!(
            out.gas_used,
            self.used0 + u128::from(gas),
            "gas used\n{}",
            self.src
        );
        self
    }

    /// Ran without an error, charged `gas`.
    fn ran(&self, gas: u64) -> &Self {
        assert_eq!(self.stop, None, "stop\n{}", self.src);
        assert_eq!(self.m.status(), Status::Running, "status\n{}", self.src);
        self.charged(gas);
        assert_eq!(
            self.m.gas_remaining(),
            self.gas0 - U256::from(gas),
            "gas remaining\n{}",
            self.src
        );
        self
    }

    fn at(&self, index: usize) -> &Self {
        assert_eq!(self.pc(), index, "pc\n{}", self.src);
        self
    }

    fn at_next(&self) -> &Self {
        self.at(self.t + 1)
    }

    fn stack_is(&self, expected: &[Value]) -> &Self {
        assert_eq!(self.values(), expected, "data stack\n{}", self.src);
        self
    }

    fn aux_is(&self, expected: &[Value]) -> &Self {
        assert_eq!(
            self.m.aux_stack().values(),
            expected,
            "aux stack\n{}",
            self.src
        );
        self
    }

    fn aux_unchanged(&self) -> &Self {
        self.aux_is(&self.aux0)
    }

    /// Raised an error after its cost `charged` was paid (AVM.md §6.1): see [`Probe::error_path`].
    fn errored(&self, charged: u64, k: usize, j: usize) -> &Self {
        self.error_path(charged, self.gas0 - U256::from(charged), k, j)
    }

    /// Underflowed: 5 charged, taken from the remaining gas or MAX if under 5 remained.
    fn underflowed(&self, k: usize, j: usize) -> &Self {
        let five = U256::from(5);
        let remaining = if self.gas0 < five {
            MAX
        } else {
            self.gas0 - five
        };
        self.error_path(5, remaining, k, j)
    }

    /// Out of gas: gas MAX, 5 charged.
    fn ran_out(&self, k: usize, j: usize) -> &Self {
        self.error_path(5, MAX, k, j)
    }

    /// The error path of AVM.md §7.1: charged `charged`, `remaining` gas left, `min(k, s0)` data
    /// values (the immediate counted) and `min(j, a0)` aux values removed and nothing else
    /// changed; then the handler `h` or ErrorStop.
    fn error_path(&self, charged: u64, remaining: U256, k: usize, j: usize) -> &Self {
        let src = &self.src;
        self.charged(charged);
        assert_eq!(self.m.gas_remaining(), remaining, "gas remaining\n{src}");
        let mut data = self.before.clone();
        data.extend(self.imm.clone());
        data.truncate(data.len() - k.min(data.len()));
        assert_eq!(self.values(), &data[..], "data stack\n{src}");
        let mut aux = self.aux0.clone();
        aux.truncate(aux.len() - j.min(aux.len()));
        assert_eq!(self.m.aux_stack().values(), &aux[..], "aux stack\n{src}");
        assert_eq!(self.m.register(), &self.register0, "register\n{src}");
        assert_eq!(
            self.m.error_handler().hash(),
            self.handler0,
            "handler\n{src}"
        );
        let out = self.m.outputs();
        assert_eq!(out.logs.len(), self.logs0, "logs\n{src}");
        assert_eq!(out.sends.len(), self.sends0, "sends\n{src}");
        if self.has_handler {
            assert_eq!(self.stop, None, "stop\n{src}");
            assert_eq!(self.m.status(), Status::Running, "status\n{src}");
            assert_eq!(self.pc(), self.t + 2, "pc after the error\n{src}");
        } else {
            assert_eq!(self.stop, Some(Stop::ErrorStop), "stop\n{src}");
            assert_eq!(self.m.status(), Status::ErrorStop, "status\n{src}");
            assert_eq!(self.m.clone().hash(), U256::one(), "hash\n{src}");
        }
        self
    }

    /// Blocked: no step, no gas, the immediate not left on the stack, the hash unchanged.
    fn blocked(&self, reason: BlockReason) -> &Self {
        let src = &self.src;
        assert_eq!(self.stop, Some(Stop::Blocked(reason)), "stop\n{src}");
        let out = self.m.outputs();
        assert_eq!(out.steps, self.steps0, "steps\n{src}");
        assert_eq!(out.gas_used, self.used0, "gas used\n{src}");
        assert_eq!(self.m.gas_remaining(), self.gas0, "gas remaining\n{src}");
        assert_eq!(self.values(), &self.before[..], "data stack\n{src}");
        assert_eq!(self.pc(), self.t, "pc\n{src}");
        assert_eq!(self.m.clone().hash(), self.hash0, "machine hash\n{src}");
        self
    }
}

// ---------------------------------------------------------------------------------------------
// One opcode with its table facts, checked in its two forms.

#[derive(Clone, Debug)]
struct Op {
    name: &'static str,
    k: usize,
    j: usize,
    gas: u64,
    aux: Vec<String>,
    extra: String,
}

fn op(name: &str) -> Op {
    let &(_, name, k, j, gas) = TABLE
        .iter()
        .find(|entry| entry.1 == name)
        .unwrap_or_else(|| panic!("{name} is not in the table"));
    Op {
        name,
        k,
        j,
        gas,
        aux: Vec::new(),
        extra: String::new(),
    }
}

/// Values of other kinds than the expected one (`I`nt, `T`uple, `C`odepoint, `B`uffer).
fn wrong_kinds(kind: char) -> &'static [&'static str] {
    match kind {
        'I' => &["(1, 2)", "@h", "buffer(0x01)"],
        'T' => &["7", "@h", "buffer(0x01)"],
        'C' => &["7", "(1, 2)", "buffer(0x01)"],
        'B' => &["7", "(1, 2)", "@h"],
        '_' => &[],
        _ => panic!("unknown kind {kind}"),
    }
}

impl Op {
    /// The same opcode with a data-dependent cost (`ecpairing`).
    fn gas(&self, gas: u64) -> Op {
        Op {
            gas,
            ..self.clone()
        }
    }

    fn aux(&self, bottom_first: &[&str]) -> Op {
        Op {
            aux: bottom_first.iter().map(|s| s.to_string()).collect(),
            ..self.clone()
        }
    }

    fn extra(&self, code: &str) -> Op {
        Op {
            extra: code.to_string(),
            ..self.clone()
        }
    }

    /// `op(args…)` (args top first) above the sentinel in two forms: every operand pushed, and
    /// the top one as the immediate. With no operands the second form carries an immediate
    /// 0x77, which stays below the results: the second value of each pair.
    fn forms(&self, args: &[&str]) -> Vec<(Case, Vec<Value>)> {
        assert_eq!(args.len(), self.k, "{}: operand count", self.name);
        let aux: Vec<&str> = self.aux.iter().map(String::as_str).collect();
        let case = |insn: String, operands: &[&str]| {
            let mut data = vec![SENTINEL];
            data.extend(operands.iter().rev());
            Case::new(&insn).aux(&aux).data(&data).extra(&self.extra)
        };
        let plain = (case(self.name.to_string(), args), vec![]);
        let immediate = match args.split_first() {
            Some((first, rest)) => (case(format!("{} {first}", self.name), rest), vec![]),
            None => (case(format!("{} 0x77", self.name), &[]), vec![int(0x77)]),
        };
        vec![plain, immediate]
    }

    /// `op(args…)` pushes `result` (bottom first), costs exactly the table gas (also when that
    /// is all the gas left), moves to the next instruction and leaves the aux stack alone.
    fn ok(&self, args: &[&str], result: &[Value]) {
        for (case, stays) in self.forms(args) {
            let mut expected = vec![sentinel()];
            expected.extend(stays);
            expected.extend_from_slice(result);
            for case in [case.clone().handler(true), case.gas(self.gas)] {
                case.probe()
                    .ran(self.gas)
                    .at_next()
                    .stack_is(&expected)
                    .aux_unchanged();
            }
        }
    }

    /// `op(args…)` raises an error after being charged its cost; checked with and without a
    /// handler.
    fn fails(&self, args: &[&str]) {
        for (case, _) in self.forms(args) {
            for handler in [true, false] {
                case.clone()
                    .handler(handler)
                    .probe()
                    .errored(self.gas, self.k, self.j);
            }
        }
    }

    /// Each operand whose kind is checked (`kinds`, top first: `I`, `T`, `C`, `B`, or `_` for
    /// any), replaced by values of the other kinds, raises an error.
    fn kinds(&self, args: &[&str], kinds: &str) {
        assert_eq!(kinds.len(), args.len(), "{}: kinds", self.name);
        for (i, kind) in kinds.chars().enumerate() {
            for bad in wrong_kinds(kind) {
                let mut wrong = args.to_vec();
                wrong[i] = bad;
                self.fails(&wrong);
            }
        }
    }

    /// With one gas unit less than its cost: gas := MAX, 5 charged, operands removed.
    fn out_of_gas(&self, args: &[&str]) {
        for (case, _) in self.forms(args) {
            for handler in [true, false] {
                case.clone()
                    .handler(handler)
                    .gas(self.gas - 1)
                    .probe()
                    .ran_out(self.k, self.j);
            }
        }
    }

    /// Too few data operands (none, k − 1, and an immediate with k − 2 more), and too few aux
    /// operands: 5 charged (gas MAX when under 5 remained), what is there removed.
    fn underflows(&self) {
        let full_aux = vec!["(9, 8)"; self.j];
        if self.k > 0 {
            let mut cases = vec![];
            for n in [0, self.k - 1] {
                cases.push(Case::new(self.name).data(&vec!["1"; n]));
            }
            if self.k >= 2 {
                let insn = format!("{} 1", self.name);
                cases.push(Case::new(&insn).data(&vec!["1"; self.k - 2]));
            }
            for case in cases {
                for handler in [true, false] {
                    let case = case.clone().aux(&full_aux).handler(handler);
                    case.probe().underflowed(self.k, self.j);
                    // Under 5 gas left: MAX.
                    let p = case.clone().gas(3).probe();
                    p.underflowed(self.k, self.j);
                    assert_eq!(p.m.gas_remaining(), MAX);
                    let p = case.clone().gas(5).probe();
                    p.underflowed(self.k, self.j);
                    assert_eq!(p.m.gas_remaining(), U256::zero());
                    let p = case.gas(7).probe();
                    p.underflowed(self.k, self.j);
                    assert_eq!(p.m.gas_remaining(), U256::from(2));
                }
            }
        }
        if self.j > 0 {
            let mut data = vec![SENTINEL];
            data.extend(vec!["1"; self.k]);
            let immediate = format!("{} 7", self.name);
            for case in [
                Case::new(self.name).data(&data),
                Case::new(&immediate).data(&data[..data.len() - self.k.min(1)]),
            ] {
                for handler in [true, false] {
                    case.clone()
                        .handler(handler)
                        .probe()
                        .underflowed(self.k, self.j);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The table, underflow and out of gas for every opcode.

#[test]
fn opcode_table_matches_the_assembler() {
    let mut bytes = HashSet::new();
    for (byte, name, ..) in TABLE {
        let by_name = assemble(name).unwrap();
        assert_eq!(by_name.codepoint(0).opcode(), byte, "{name}");
        let by_byte = assemble(&format!("op_{byte:02x}")).unwrap();
        assert_eq!(by_byte.codepoint(0).hash(), by_name.codepoint(0).hash());
        assert!(bytes.insert(byte), "{name} twice");
    }
    assert_eq!(bytes.len(), 78);
}

#[test]
fn every_opcode_underflows() {
    let mut checked = 0;
    for (_, name, k, j, _) in TABLE {
        if k + j > 0 {
            op(name).underflows();
            checked += 1;
        }
    }
    // Everything but the 14 opcodes that pop nothing.
    assert_eq!(checked, 64);
}

#[test]
fn every_opcode_runs_out_of_gas() {
    for (_, name, k, j, _) in TABLE {
        op(name).aux(&vec!["(9, 8)"; j]).out_of_gas(&vec!["1"; k]);
    }
}

#[test]
fn underflow_is_checked_before_gas() {
    // `add` with one operand and only 2 gas: an underflow (5 charged, gas MAX), and the
    // error handler runs.
    Case::new("add")
        .handler(true)
        .data(&["1"])
        .gas(2)
        .probe()
        .underflowed(2, 0)
        .at(2 + 3);
}

// ---------------------------------------------------------------------------------------------
// Arithmetic (AVM.md §8.1, VECTORS.md §4).

#[test]
fn add_mul_sub() {
    let add = op("add");
    add.ok(&["4", "3"], &[int(7)]);
    add.ok(&["0", "0"], &[int(0)]);
    add.ok(&["-1", "4"], &[int(3)]);
    add.ok(&["-2", "1"], &[neg(1)]);
    add.kinds(&["4", "3"], "II");

    let mul = op("mul");
    mul.ok(&["4", "3"], &[int(12)]);
    mul.ok(&["3", "0"], &[int(0)]);
    mul.ok(&["-1", "1"], &[neg(1)]);
    mul.ok(&["-2", "1"], &[neg(2)]);
    mul.kinds(&["4", "3"], "II");

    let sub = op("sub");
    sub.ok(&["4", "3"], &[int(1)]);
    sub.ok(&["3", "4"], &[neg(1)]);
    sub.kinds(&["4", "3"], "II");
}

#[test]
fn div_sdiv() {
    let div = op("div");
    div.ok(&["12", "3"], &[int(4)]);
    // Unsigned: (2^256 − 6) / 2 = 2^255 − 3, not 3.
    let half = (MAX - U256::from(5)) / U256::from(2);
    assert_eq!(
        half,
        h256("7ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffd")
    );
    div.ok(&["-6", "2"], &[Value::int(half)]);
    div.fails(&["3", "0"]);
    div.fails(&["0", "0"]);
    div.kinds(&["12", "3"], "II");

    let sdiv = op("sdiv");
    sdiv.ok(&["12", "3"], &[int(4)]);
    sdiv.ok(&["12", "-3"], &[neg(4)]);
    sdiv.ok(&["-12", "3"], &[neg(4)]);
    sdiv.ok(&["-12", "-3"], &[int(4)]);
    sdiv.ok(&["-7", "2"], &[neg(3)]);
    let min = "0x8000000000000000000000000000000000000000000000000000000000000000";
    sdiv.ok(&[min, "-1"], &[hx(min)]);
    sdiv.fails(&["3", "0"]);
    sdiv.fails(&["-3", "0"]);
    sdiv.kinds(&["12", "3"], "II");
}

#[test]
fn mod_smod() {
    let modulo = op("mod");
    modulo.ok(&["8", "3"], &[int(2)]);
    modulo.ok(&["8", "-3"], &[int(8)]);
    modulo.ok(&["0", "3"], &[int(0)]);
    modulo.fails(&["3", "0"]);
    modulo.kinds(&["8", "3"], "II");

    let smod = op("smod");
    smod.ok(&["8", "3"], &[int(2)]);
    smod.ok(&["8", "-3"], &[int(2)]);
    smod.ok(&["-8", "3"], &[neg(2)]);
    smod.ok(&["-8", "-3"], &[neg(2)]);
    smod.fails(&["3", "0"]);
    smod.kinds(&["8", "3"], "II");
}

#[test]
fn addmod_mulmod() {
    let addmod = op("addmod");
    addmod.ok(&["8", "5", "3"], &[int(1)]);
    addmod.ok(&["-1", "1", "7"], &[int(2)]);
    addmod.ok(&["0", "0", "7"], &[int(0)]);
    addmod.ok(&["3", "3", "-4"], &[int(6)]);
    addmod.ok(&["-1", "-1", "-1"], &[int(0)]);
    addmod.fails(&["8", "3", "0"]);
    addmod.kinds(&["8", "5", "3"], "III");

    let mulmod = op("mulmod");
    mulmod.ok(&["8", "2", "3"], &[int(1)]);
    mulmod.ok(&["-1", "2", "7"], &[int(2)]);
    mulmod.ok(&["0", "0", "7"], &[int(0)]);
    // (2^256 − 1)^2 mod (2^256 − 2) = 1: the full 512-bit product.
    mulmod.ok(&["-1", "-1", "-2"], &[int(1)]);
    mulmod.fails(&["8", "3", "0"]);
    mulmod.kinds(&["8", "2", "3"], "III");
}

#[test]
fn exp_signextend() {
    let exp = op("exp");
    exp.ok(&["3", "2"], &[int(9)]);
    exp.ok(&["2", "256"], &[int(0)]);
    exp.ok(
        &["2", "255"],
        &[hx(
            "8000000000000000000000000000000000000000000000000000000000000000",
        )],
    );
    exp.ok(&["0", "0"], &[int(1)]);
    exp.kinds(&["3", "2"], "II");

    let se = op("signextend");
    se.ok(&["0", "-1"], &[neg(1)]);
    se.ok(&["0", "1"], &[int(1)]);
    se.ok(&["0", "127"], &[int(127)]);
    se.ok(&["0", "128"], &[neg(128)]);
    se.ok(&["0", "254"], &[neg(2)]);
    se.ok(&["0", "257"], &[int(1)]);
    se.ok(&["1", "65534"], &[neg(2)]);
    se.ok(&["1", "65537"], &[int(1)]);
    se.ok(&["2", "65537"], &[int(65537)]);
    se.ok(&["50", "254"], &[int(254)]);
    // A ≥ 31 (any size) pushes B unchanged.
    se.ok(&["31", "-2"], &[neg(2)]);
    se.ok(&["-1", "254"], &[int(254)]);
    se.kinds(&["0", "1"], "II");
}

// ---------------------------------------------------------------------------------------------
// Comparison and bitwise (AVM.md §8.2).

/// `op(A, B) = result`.
type Vector = (&'static str, &'static str, u64);

#[test]
fn lt_gt_slt_sgt() {
    let cases: [(&str, &[Vector]); 4] = [
        (
            "lt",
            &[("3", "9", 1), ("9", "3", 0), ("3", "3", 0), ("-3", "9", 0)],
        ),
        (
            "gt",
            &[("3", "9", 0), ("9", "3", 1), ("3", "3", 0), ("-3", "9", 1)],
        ),
        (
            "slt",
            &[
                ("7", "3", 0),
                ("3", "7", 1),
                ("-3", "-7", 0),
                ("-7", "-3", 1),
                ("3", "-7", 0),
                ("-3", "7", 1),
                ("3", "3", 0),
            ],
        ),
        (
            "sgt",
            &[
                ("7", "3", 1),
                ("3", "7", 0),
                ("-3", "-7", 1),
                ("-7", "-3", 0),
                ("3", "-7", 1),
                ("-7", "3", 0),
                ("3", "3", 0),
            ],
        ),
    ];
    for (name, vectors) in cases {
        let o = op(name);
        for &(a, b, result) in vectors {
            o.ok(&[a, b], &[int(result)]);
        }
        o.kinds(&["3", "9"], "II");
    }
}

#[test]
fn eq_compares_any_kinds_and_never_errors() {
    let eq = op("eq");
    eq.ok(&["7", "3"], &[int(0)]);
    eq.ok(&["3", "3"], &[int(1)]);
    eq.ok(&["(1, 2)", "(1, 2)"], &[int(1)]);
    eq.ok(&["(1, 2)", "(1, 3)"], &[int(0)]);
    eq.ok(&["@h", "@h"], &[int(1)]);
    eq.ok(&["@h", "@t"], &[int(0)]);
    // Trailing zero bytes of a buffer are not observable.
    eq.ok(&["buffer(0x01)", "buffer(0x010000)"], &[int(1)]);
    eq.ok(&["buffer(0x01)", "buffer(0x02)"], &[int(0)]);
    // Different kinds: 0, never an error.
    eq.ok(&["3", "(3)"], &[int(0)]);
    eq.ok(&["0", "()"], &[int(0)]);
    eq.ok(&["0", "buffer(0x)"], &[int(0)]);
    eq.ok(&["@h", "0"], &[int(0)]);
    eq.ok(&["()", "buffer(0x)"], &[int(0)]);
    eq.ok(&["buffer(0x)", "@h"], &[int(0)]);
}

#[test]
fn iszero_and_or_xor_not() {
    let iszero = op("iszero");
    iszero.ok(&["0"], &[int(1)]);
    iszero.ok(&["2"], &[int(0)]);
    iszero.kinds(&["0"], "I");

    for (name, vectors) in [
        ("and", [("3", "9", 1), ("3", "3", 3)]),
        ("or", [("3", "9", 11), ("3", "3", 3)]),
        ("xor", [("3", "9", 10), ("3", "3", 0)]),
    ] {
        let o = op(name);
        for (a, b, result) in vectors {
            o.ok(&[a, b], &[int(result)]);
        }
        o.kinds(&["3", "9"], "II");
    }

    let not = op("not");
    not.ok(&["0"], &[neg(1)]);
    not.ok(&["3"], &[neg(4)]);
    not.ok(&["-4"], &[int(3)]);
    not.kinds(&["0"], "I");
}

#[test]
fn byte_shl_shr_sar() {
    let byte = op("byte");
    byte.ok(&["31", "16"], &[int(16)]);
    byte.ok(&["3", "3"], &[int(0)]);
    byte.ok(
        &[
            "0",
            "0xab00000000000000000000000000000000000000000000000000000000000000",
        ],
        &[int(0xab)],
    );
    byte.ok(&["32", "-1"], &[int(0)]);
    byte.ok(&["0x10000000000000000", "-1"], &[int(0)]);
    byte.kinds(&["31", "16"], "II");

    // A is the shift, B the value.
    let shl = op("shl");
    shl.ok(&["4", "1"], &[int(16)]);
    shl.ok(
        &["255", "1"],
        &[hx(
            "8000000000000000000000000000000000000000000000000000000000000000",
        )],
    );
    shl.ok(
        &[
            "1",
            "0x8000000000000000000000000000000000000000000000000000000000000001",
        ],
        &[int(2)],
    );
    shl.ok(&["256", "1"], &[int(0)]);
    shl.ok(&["-1", "1"], &[int(0)]);
    shl.kinds(&["4", "1"], "II");

    let shr = op("shr");
    shr.ok(&["4", "256"], &[int(16)]);
    shr.ok(&["255", "-1"], &[int(1)]);
    shr.ok(&["256", "-1"], &[int(0)]);
    shr.ok(&["0x10000000000000000", "-1"], &[int(0)]);
    shr.kinds(&["4", "256"], "II");

    let sar = op("sar");
    sar.ok(&["4", "-16"], &[neg(1)]);
    sar.ok(&["2", "-16"], &[neg(4)]);
    sar.ok(&["0", "-16"], &[neg(16)]);
    sar.ok(&["4", "16"], &[int(1)]);
    sar.ok(&["256", "-16"], &[neg(1)]);
    sar.ok(&["-1", "-16"], &[neg(1)]);
    sar.ok(&["256", "16"], &[int(0)]);
    sar.ok(
        &[
            "1",
            "0x8000000000000000000000000000000000000000000000000000000000000000",
        ],
        &[hx(
            "c000000000000000000000000000000000000000000000000000000000000000",
        )],
    );
    sar.kinds(&["4", "-16"], "II");
}

// ---------------------------------------------------------------------------------------------
// Hashing (AVM.md §10.1–10.4).

#[test]
fn hash_of_every_kind() {
    let hash = op("hash");
    hash.ok(
        &["10"],
        &[hx(
            "c65a7bb8d6351c1cf70c95a316cc6a92839c986682d98bc35f958f4883f9d2a8",
        )],
    );
    hash.ok(
        &["0"],
        &[hx(
            "290decd9548b62a8d60345a988386fc84ba6bc95484008f6362f93160ef3e563",
        )],
    );
    hash.ok(
        &["()"],
        &[hx(
            "5dfd744753c13a6de9cf0e9e3d0164cdf0b1bbdb5efb3660a684d46477176058",
        )],
    );
    hash.ok(
        &["(1, 2)"],
        &[hx(
            "d9f6714df2975e0b3d5f15857beefa978351244291d50ccd3ce3c1a21040378b",
        )],
    );
    hash.ok(
        &["(())"],
        &[hx(
            "3c588cb1da79ef45722b5abb8515e0c3d071cdb2978468a2980e1debd1e0fbdb",
        )],
    );
    hash.ok(
        &["(5, ())"],
        &[hx(
            "55bfbdc75cf90eb3ad8a6ba0e029fb5e4fe7606ad0c9ef598a0815f755a63006",
        )],
    );
    hash.ok(&["@h"], &[hx(H_HALT_ERR)]);
    hash.ok(&["@err"], &[hx(H_ERR)]);
    // Buffers: the wrapped value hash (AVM.md §2.4, VECTORS.md §5).
    hash.ok(&["buffer(0x)"], &[hx(H_EMPTY_BUFFER)]);
    hash.ok(
        &["buffer(0x01)"],
        &[hx(
            "5959ad3da1b40fb46c2d40f6bdaed53537bf6570c78e3e1e031c4fbf6c89de41",
        )],
    );
    hash.ok(
        &[&buffer_text(40, 0xaa)],
        &[hx(
            "faecd9ef1aa77bc3302f92b40ad70bf3b928e5bffd4368b901aceb85d0dc3467",
        )],
    );
    hash.ok(
        &[&buffer_text(100, 5)],
        &[hx(
            "7f93c3923de400561bdac630ea543ba01172c31c9a6b0c37bd29447f428b3b4a",
        )],
    );
}

#[test]
fn buffer_hashes_of_buffers_built_by_opcodes() {
    // {0: 01, 40: ff}, then byte 40 cleared, then 5 written and cleared at 100 (VECTORS.md §5).
    let m = run("push 0xff\n\
                 newbuffer\n\
                 push 1\n\
                 setbuffer8 0\n\
                 swap1\n\
                 setbuffer8 40\n\
                 dup0\n\
                 hash\n\
                 swap1\n\
                 push 0\n\
                 setbuffer8 40\n\
                 dup0\n\
                 hash\n\
                 swap1\n\
                 pop\n\
                 newbuffer\n\
                 push 5\n\
                 setbuffer8 100\n\
                 push 0\n\
                 setbuffer8 100\n\
                 hash\n\
                 halt");
    assert_eq!(m.status(), Status::Halted);
    assert_eq!(
        m.stack().values(),
        &[
            hx("cd1522a9ee805cd9c478f2f11cf6edb28a98521618b5aae355a0492cf176b24b"),
            hx("5959ad3da1b40fb46c2d40f6bdaed53537bf6570c78e3e1e031c4fbf6c89de41"),
            hx(H_EMPTY_BUFFER),
        ]
    );
}

#[test]
fn type_of_every_kind() {
    let ty = op("type");
    ty.ok(&["3"], &[int(0)]);
    ty.ok(&["@h"], &[int(1)]);
    ty.ok(&["@err"], &[int(1)]);
    ty.ok(&["(1, 2)"], &[int(3)]);
    ty.ok(&["()"], &[int(3)]);
    ty.ok(&["buffer(0x01)"], &[int(12)]);
    ty.ok(&["buffer(0x)"], &[int(12)]);
}

#[test]
fn ethhash2() {
    let e = op("ethhash2");
    e.ok(
        &["0x0a", "0x14"],
        &[hx(
            "65f9512343925c57130fd77667cb42fc83560c400ede0c87f3de7c6c27cf09a6",
        )],
    );
    e.kinds(&["0x0a", "0x14"], "II");
}

const KECCAKF_ZERO: &str = "(0xbd1547306f80494dd598261ea65aa9ee84d5ccf933c0478af1258f7940e1dde7, \
     0x8c5bda0cd6192e7690fee5a0a44647c4ff97a42d7f8e6fd48b284e056253d057, \
     0xa9a6e6260d712103eb5aa93f2317d63530935ab7d08ffc64ad30a6f71b19059c, \
     0x05e5635a21d9ae6101f22f1a11a5569f43b831cd0347c82681a57c16dbcf555f, \
     0x8c3ee88a1ccf32c8b87c5a554fd00ecb613670957bc4661164befef28cc970f2, \
     0x75f644e97f30a13b16f53526e70465c21841f924a2c509e4940c7922ae3a2614, \
     0xeaf1ff7b5ceca249)";

const KECCAKF_TWICE: &str = "(0x8a20d9b25569d094093d8d1270d76b6c6a332cd07057b56d2d5c954df96ecb3c, \
     0xfaf4f247c3d810f785773dae1275af0df957b9a2da65fb384f9c4f99e5e7f156, \
     0xdeea66c4ba8f974f68ce61b6b9ce68a1e4fecc0fee98b4251f1b9ee6f79a8759, \
     0xfd5449a6bf1747437cf8a9f009831265e00654042719dbd933c43d836eafb1f5, \
     0x91a0226e649e42e9e3b8c8ee55b7b03c48ead5fc5d0be77497ddad33d8994b40, \
     0x609f4e62a44c10595b3402464e1c3db6202a9ec5faa3cce8900e3129e7badd7b, \
     0x20d06cd26a8fbf5c)";

#[test]
fn keccakf() {
    let kf = op("keccakf");
    kf.ok(&["(0, 0, 0, 0, 0, 0, 0)"], &[val(KECCAKF_ZERO)]);
    kf.ok(&[KECCAKF_ZERO], &[val(KECCAKF_TWICE)]);
    // Bits of the last Int above 64 are ignored.
    kf.ok(
        &["(0, 0, 0, 0, 0, 0, 0x10000000000000000)"],
        &[val(KECCAKF_ZERO)],
    );
    // Exactly 7 Ints.
    kf.fails(&["(0, 0, 0, 0, 0, 0)"]);
    kf.fails(&["(0, 0, 0, 0, 0, 0, 0, 0)"]);
    kf.fails(&["()"]);
    kf.fails(&["(0, 0, 0, 0, 0, 0, ())"]);
    kf.fails(&["(buffer(0x01), 0, 0, 0, 0, 0, 0)"]);
    kf.fails(&["(0, 0, 0, @h, 0, 0, 0)"]);
    kf.kinds(&["(0, 0, 0, 0, 0, 0, 0)"], "T");
}

#[test]
fn sha256f() {
    let iv = "0x6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19";
    let s = op("sha256f");
    s.ok(
        &[iv, "0", "0"],
        &[hx(
            "da5698be17b9b46962335799779fbeca8ce5d491c0d26243bafef9ea1837a9d8",
        )],
    );
    s.ok(
        &[iv, "-1", "-1"],
        &[hx(
            "ef0c748df4da50a8d6c43c013edc3ce76c9d9fa9a1458ade56eb86c0a64492d2",
        )],
    );
    s.ok(
        &[
            iv,
            "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "0x202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
        ],
        &[hx(
            "fc99a2df88f42a7a7bb9d18033cdc6a20256755f9d5b9a5044a9cc315abe84a7",
        )],
    );
    s.ok(
        &[
            iv,
            "0x243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89",
            "0x452821e638d01377be5466cf34e90c6cc0ac29b7c97c50dd3f84d5b5b5470917",
        ],
        &[hx(
            "cf0ae4eb67d38ffeb94068984b22abde4e92bc548d14585e48dca8882d7b09ce",
        )],
    );
    s.kinds(&[iv, "0", "0"], "III");
}

// ---------------------------------------------------------------------------------------------
// Stack, register and flow (AVM.md §8.3, §8.4).

#[test]
fn pop_spush_rpush_rset() {
    let pop = op("pop");
    for any in ["5", "(1, 2)", "@h", "buffer(0x01)"] {
        pop.ok(&[any], &[]);
    }

    op("spush").ok(&[], &[Value::none()]);
    op("spush")
        .extra(".static (7, (8), buffer(0x01))")
        .ok(&[], &[val("(7, (8), buffer(0x01))")]);

    op("rpush").ok(&[], &[Value::none()]);

    for insn in ["rset", "rset (1, 2)"] {
        let data: &[&str] = if insn == "rset" {
            &[SENTINEL, "(1, 2)"]
        } else {
            &[SENTINEL]
        };
        let p = Case::new(insn).data(data).probe();
        p.ran(2).at_next().stack_is(&[sentinel()]);
        assert_eq!(p.m.register(), &val("(1, 2)"));
    }

    let m = run("rset (1, 2)\nrpush\nrpush\nhalt");
    assert_eq!(m.status(), Status::Halted);
    assert_eq!(m.stack().values(), &[val("(1, 2)"), val("(1, 2)")]);
    assert_eq!(m.outputs().gas_used, 2 + 1 + 1 + 10);
}

#[test]
fn jump() {
    for case in [
        Case::new("jump").data(&[SENTINEL, "@x"]),
        Case::new("jump @x").data(&[SENTINEL]),
    ] {
        let p = case.extra("x: halt").probe();
        p.ran(4).at(p.t + 3).stack_is(&[sentinel()]);
    }
    op("jump").extra("x: halt").kinds(&["@x"], "C");
    op("jump").fails(&["()"]);
}

#[test]
fn cjump() {
    // Taken for any non-zero Int.
    for cond in ["1", "2", "-1"] {
        for case in [
            Case::new("cjump").data(&[SENTINEL, cond, "@x"]),
            Case::new("cjump @x").data(&[SENTINEL, cond]),
        ] {
            let p = case.extra("x: halt").probe();
            p.ran(4).at(p.t + 3).stack_is(&[sentinel()]);
        }
    }
    // Not taken for 0: on to the next instruction.
    let cjump = op("cjump").extra("x: halt");
    cjump.ok(&["@x", "0"], &[]);
    // Both kinds are checked whatever the condition: a valid target with a non-Int condition,
    // a non-codepoint target with a zero condition.
    cjump.kinds(&["@x", "1"], "CI");
    cjump.kinds(&["@x", "0"], "CI");
    cjump.fails(&["@x", "(0)"]);
    cjump.fails(&["7", "0"]);
}

#[test]
fn stackempty_auxstackempty() {
    Case::new("stackempty")
        .probe()
        .ran(2)
        .at_next()
        .stack_is(&[int(1)]);
    // An immediate, pushed first, makes the stack non-empty.
    Case::new("stackempty 5")
        .probe()
        .ran(2)
        .at_next()
        .stack_is(&[int(5), int(0)]);
    op("stackempty").ok(&[], &[int(0)]);

    op("auxstackempty").ok(&[], &[int(1)]);
    op("auxstackempty").aux(&["5"]).ok(&[], &[int(0)]);
    Case::new("auxstackempty")
        .probe()
        .ran(2)
        .stack_is(&[int(1)]);
}

#[test]
fn pcpush_pushes_the_current_codepoint() {
    for case in [
        Case::new("pcpush").data(&[SENTINEL]),
        Case::new("pcpush")
            .handler(true)
            .data(&[SENTINEL])
            .extra(".static 1"),
    ] {
        let p = case.probe();
        p.ran(1).at_next().stack_is(&[sentinel(), p.codepoint(p.t)]);
    }
    // Equal to the label's codepoint, compared by the machine.
    let m = run(".static (@p, @q)\n\
                 push 0\n\
                 p: pcpush\n\
                 spush\n\
                 tget 0\n\
                 eq\n\
                 pcpush\n\
                 spush\n\
                 tget 0\n\
                 eq\n\
                 q: halt");
    assert_eq!(m.status(), Status::Halted);
    assert_eq!(m.stack().values(), &[int(0), int(1), int(0)]);

    // At a codepoint made at run time, pcpush pushes that codepoint.
    let m = run("push @cont\npushinsn 0x37\njump\ncont: hash\nhalt");
    assert_eq!(m.status(), Status::Halted);
    let cont = hash_codepoint(0x74, None, &h256(H_ERR));
    let cont = hash_codepoint(0x20, None, &cont);
    assert_eq!(
        m.stack().values(),
        &[Value::int(hash_codepoint(0x37, None, &cont))]
    );
    assert_eq!(m.outputs().gas_used, 1 + 25 + 4 + 1 + 7 + 10);
}

#[test]
fn auxpush_auxpop() {
    for case in [
        Case::new("auxpush").data(&[SENTINEL, "(1, 2)"]),
        Case::new("auxpush (1, 2)").data(&[SENTINEL]),
    ] {
        case.aux(&["7"])
            .probe()
            .ran(1)
            .at_next()
            .stack_is(&[sentinel()])
            .aux_is(&[int(7), val("(1, 2)")]);
    }
    Case::new("auxpop")
        .aux(&["7", "(8)"])
        .data(&[SENTINEL])
        .probe()
        .ran(1)
        .at_next()
        .stack_is(&[sentinel(), val("(8)")])
        .aux_is(&[int(7)]);
    Case::new("auxpop 5")
        .aux(&["7"])
        .data(&[SENTINEL])
        .probe()
        .ran(1)
        .at_next()
        .stack_is(&[sentinel(), int(5), int(7)])
        .aux_is(&[]);
}

#[test]
fn nop_and_push() {
    op("nop").ok(&[], &[]);
    Case::new("push (1, 2)")
        .probe()
        .ran(1)
        .at_next()
        .stack_is(&[val("(1, 2)")]);
}

#[test]
fn errpush_errset() {
    // No handler: the error codepoint.
    let p = Case::new("errpush").data(&[SENTINEL]).probe();
    p.ran(1)
        .at_next()
        .stack_is(&[sentinel(), Value::CodePoint(CodePoint::err())]);
    assert_eq!(top(&p.m).hash(), h256(H_ERR));
    // With `errset @h`: that codepoint.
    let p = Case::new("errpush 7")
        .handler(true)
        .data(&[SENTINEL])
        .probe();
    p.ran(1)
        .at_next()
        .stack_is(&[sentinel(), int(7), p.codepoint(p.t + 2)]);

    // errset installs a handler.
    for case in [
        Case::new("errset").data(&[SENTINEL, "@x"]),
        Case::new("errset @x").data(&[SENTINEL]),
    ] {
        let p = case.extra("x: halt").probe();
        p.ran(1).at_next().stack_is(&[sentinel()]);
        assert_eq!(
            p.m.error_handler().hash(),
            p.m.program().codepoint(p.t + 3).hash()
        );
    }
    // Only a codepoint (the handler in place stays and catches the error).
    op("errset").kinds(&["@h"], "C");

    // The installed handler catches a later error and the machine keeps running.
    let m = run("errset @x\nerror 3\nhalt\nx: push 9\nhalt");
    assert_eq!(m.status(), Status::Halted);
    assert_eq!(m.stack().values(), &[int(3), int(9)]);
    assert_eq!(m.outputs().steps, 4);
    assert_eq!(m.outputs().gas_used, 1 + 5 + 1 + 10);
}

#[test]
fn errcodepoint_installed_means_no_handler() {
    op("errcodepoint").ok(&[], &[Value::CodePoint(CodePoint::err())]);
    let p = Case::new("errcodepoint").probe();
    assert_eq!(top(&p.m).hash(), h256(H_ERR));

    // A handler made from it (or from the file marker `@err`) is "no handler": the next error
    // stops the machine instead of running ERR.
    for src in [
        "errset @x\nerrcodepoint\nerrset\nerror 7\nx: halt",
        "errset @x\npush @err\nerrset\nerror 7\nx: halt",
    ] {
        let mut m = machine(src);
        assert_eq!(m.run(&Limits::default()), Stop::ErrorStop, "{src}");
        assert_eq!(m.outputs().steps, 4);
        assert_eq!(m.stack().values(), &[int(7)]);
        assert_eq!(m.error_handler().hash(), h256(H_ERR));
        assert_eq!(m.hash(), U256::one());
        // ErrorStop machines never run again.
        assert_eq!(m.run(&Limits::default()), Stop::ErrorStop);
        assert_eq!(m.outputs().steps, 4);
    }
}

#[test]
fn dup_swap() {
    op("dup0").ok(&["5"], &[int(5), int(5)]);
    op("dup0").ok(&["(1, 2)"], &[val("(1, 2)"), val("(1, 2)")]);
    op("dup1").ok(&["1", "2"], &[int(2), int(1), int(2)]);
    op("dup2").ok(&["1", "2", "3"], &[int(3), int(2), int(1), int(3)]);
    op("swap1").ok(&["1", "2"], &[int(1), int(2)]);
    op("swap1").ok(
        &["(1, 2)", "buffer(0x01)"],
        &[val("(1, 2)"), val("buffer(0x01)")],
    );
    op("swap2").ok(&["1", "2", "3"], &[int(1), int(2), int(3)]);
}

// ---------------------------------------------------------------------------------------------
// Tuples (AVM.md §8.5).

#[test]
fn tget_tset_tlen() {
    let tget = op("tget");
    tget.ok(&["1", "(9, 8, 7, 6)"], &[int(8)]);
    tget.ok(&["3", "(9, 8, 7, 6)"], &[int(6)]);
    tget.ok(&["0", "((1), 2)"], &[val("(1)")]);
    tget.fails(&["5", "(9, 8, 7, 6)"]);
    tget.fails(&["4", "(9, 8, 7, 6)"]);
    tget.fails(&["0", "()"]);
    // Large indexes are out of range, not truncated.
    tget.fails(&["0x10000000000000001", "(9, 8, 7, 6)"]);
    tget.fails(&["-1", "(9, 8, 7, 6)"]);
    tget.kinds(&["1", "(9, 8, 7, 6)"], "IT");

    let tset = op("tset");
    tset.ok(&["1", "(1, 2)", "3"], &[val("(1, 3)")]);
    tset.ok(
        &["7", "(9, 9, 9, 9, 9, 9, 9, 9)", "3"],
        &[val("(9, 9, 9, 9, 9, 9, 9, 3)")],
    );
    tset.ok(
        &["0", "(1, 2)", "buffer(0x01)"],
        &[val("(buffer(0x01), 2)")],
    );
    tset.ok(&["0", "(1)", "()"], &[val("(())")]);
    tset.fails(&["2", "(1, 2)", "3"]);
    tset.fails(&["0", "()", "3"]);
    tset.fails(&["0x10000000000000000", "(1, 2)", "3"]);
    tset.kinds(&["1", "(1, 2)", "3"], "IT_");
    // C may be a codepoint.
    let p = Case::new("tset")
        .data(&[SENTINEL, "@h", "(1, 2)", "0"])
        .probe();
    p.ran(40).at_next();
    let Value::Tuple(t) = top(&p.m) else {
        panic!("tset pushed {:?}", top(&p.m))
    };
    assert_eq!(t.slots(), &[p.codepoint(p.t + 2), int(2)]);

    let tlen = op("tlen");
    tlen.ok(&["(9, 8, 7, 6)"], &[int(4)]);
    tlen.ok(&["()"], &[int(0)]);
    tlen.ok(&["(1, 2, 3, 4, 5, 6, 7, 8)"], &[int(8)]);
    tlen.kinds(&["(9, 8, 7, 6)"], "T");
}

#[test]
fn xget() {
    // The tuple stays on the aux stack.
    let xget = op("xget").aux(&["(9, 8, 7, 6)"]);
    xget.ok(&["1"], &[int(8)]);
    xget.ok(&["3"], &[int(6)]);
    op("xget")
        .aux(&["(1)", "(9, 8, 7, 6)"])
        .ok(&["0"], &[int(9)]);
    // An error removes the aux top (j = 1) as well as A.
    xget.fails(&["5"]);
    xget.fails(&["4"]);
    xget.fails(&["0x10000000000000001"]);
    xget.kinds(&["1"], "I");
    op("xget").aux(&["(1)", "(9, 8, 7, 6)"]).fails(&["5"]);
    for aux_top in ["7", "@h", "buffer(0x01)"] {
        op("xget").aux(&[aux_top]).fails(&["0"]);
    }
    op("xget").aux(&["()"]).fails(&["0"]);
}

#[test]
fn xset() {
    for case in [
        Case::new("xset").data(&[SENTINEL, "3", "1"]),
        Case::new("xset 1").data(&[SENTINEL, "3"]),
    ] {
        case.aux(&["7", "(1, 2)"])
            .probe()
            .ran(41)
            .at_next()
            .stack_is(&[sentinel()])
            .aux_is(&[int(7), val("(1, 3)")]);
    }
    // VECTORS.md §4: both stacks otherwise empty.
    Case::new("xset")
        .aux(&["(1, 2)"])
        .data(&["3", "1"])
        .probe()
        .ran(41)
        .stack_is(&[])
        .aux_is(&[val("(1, 3)")]);
    // B of any kind.
    Case::new("xset")
        .aux(&["(1, 2)"])
        .data(&[SENTINEL, "buffer(0x01)", "0"])
        .probe()
        .ran(41)
        .stack_is(&[sentinel()])
        .aux_is(&[val("(buffer(0x01), 2)")]);
    let xset = op("xset").aux(&["7", "(1, 2)"]);
    xset.fails(&["2", "3"]);
    xset.fails(&["-1", "3"]);
    xset.kinds(&["1", "3"], "I_");
    for aux_top in ["7", "@h", "buffer(0x01)", "()"] {
        op("xset").aux(&[aux_top]).fails(&["0", "3"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Breakpoint, log, debugprint (AVM.md §8.6, §9).

#[test]
fn breakpoint() {
    // As the first instruction of a step it runs: no effect, 100 gas.
    op("breakpoint").ok(&[], &[]);

    let src = "nop\nbreakpoint 5\nhalt";
    let mut after_nop = machine(src);
    after_nop.run(&Limits {
        max_steps: Some(1),
        ..Limits::default()
    });
    let mut m = machine(src);
    assert_eq!(
        m.run(&stop_on_breakpoint()),
        Stop::Blocked(BlockReason::Breakpoint)
    );
    assert_eq!(m.outputs().steps, 1);
    assert_eq!(m.outputs().gas_used, 1);
    assert_eq!(m.gas_remaining(), MAX - U256::one());
    assert_eq!(m.stack().values(), &[]);
    assert!(matches!(m.pc(), Pc::Loaded(1)));
    assert_eq!(m.hash(), after_nop.hash());
    // Resumed, it is the first instruction of the run and executes.
    assert_eq!(m.run(&stop_on_breakpoint()), Stop::Halted);
    assert_eq!(m.outputs().steps, 3);
    assert_eq!(m.outputs().gas_used, 111);
    assert_eq!(m.stack().values(), &[int(5)]);

    // Without stop-on-breakpoint it never blocks.
    let mut m = machine(src);
    assert_eq!(m.run(&Limits::default()), Stop::Halted);
    assert_eq!(m.outputs().gas_used, 111);

    // The first instruction of a run does not block; the next breakpoint does.
    let mut m = machine("breakpoint\nbreakpoint\nhalt");
    assert_eq!(
        m.run(&stop_on_breakpoint()),
        Stop::Blocked(BlockReason::Breakpoint)
    );
    assert_eq!(m.outputs().steps, 1);
    assert_eq!(m.step(&stop_on_breakpoint()), None);
    assert_eq!(m.outputs().steps, 2);
    assert_eq!(m.run(&stop_on_breakpoint()), Stop::Halted);
    assert_eq!(m.outputs().gas_used, 210);
}

#[test]
fn log_and_debugprint() {
    let log3 = h256("428a6bbf587e6f3339e6162c6b1772e06c62ca82f784b9af8a31028560d0d717");
    for case in [
        Case::new("log").data(&[SENTINEL, "3"]),
        Case::new("log 3").data(&[SENTINEL]),
    ] {
        let p = case.probe();
        p.ran(100).at_next().stack_is(&[sentinel()]);
        assert_eq!(p.m.outputs().logs, vec![int(3)]);
        assert_eq!(p.m.outputs().log_acc, log3);
    }
    let m = run("log 3\nlog (1, 2)\nhalt");
    assert_eq!(m.outputs().logs, vec![int(3), val("(1, 2)")]);
    assert_eq!(
        m.outputs().log_acc,
        hash2(
            &log3,
            &h256("d9f6714df2975e0b3d5f15857beefa978351244291d50ccd3ce3c1a21040378b")
        )
    );

    for case in [
        Case::new("debugprint").data(&[SENTINEL, "(1, 2)"]),
        Case::new("debugprint (1, 2)").data(&[SENTINEL]),
    ] {
        let p = case.probe();
        p.ran(1).at_next().stack_is(&[sentinel()]);
        assert_eq!(p.m.outputs().debug_prints, vec![val("(1, 2)")]);
        assert!(p.m.outputs().logs.is_empty());
        assert_eq!(p.m.outputs().log_acc, U256::zero());
    }
}

// ---------------------------------------------------------------------------------------------
// System (AVM.md §8.7, §9).

/// `send_acc := keccak(be32(send_acc) ‖ keccak(message))` (AVM.md §5.3).
fn send_acc(acc: U256, message: &[u8]) -> U256 {
    keccak(&[&be32(&acc), &be32(&keccak(&[message]))])
}

#[test]
fn send() {
    for case in [
        Case::new("send").data(&[SENTINEL, "buffer(0xc8)", "1"]),
        Case::new("send 1").data(&[SENTINEL, "buffer(0xc8)"]),
    ] {
        let p = case.probe();
        p.ran(100).at_next().stack_is(&[sentinel()]);
        assert_eq!(p.m.outputs().sends, vec![vec![200u8]]);
        assert_eq!(p.m.outputs().send_acc, send_acc(U256::zero(), &[200]));
    }
    // Two sends chain the accumulator; a size past the data is zero-padded.
    let m = run("push buffer(0xc8)\nsend 1\npush buffer(0x0102)\nsend 3\nhalt");
    assert_eq!(m.status(), Status::Halted);
    assert_eq!(m.outputs().sends, vec![vec![200u8], vec![1, 2, 0]]);
    assert_eq!(
        m.outputs().send_acc,
        send_acc(send_acc(U256::zero(), &[200]), &[1, 2, 0])
    );
    // Data length equal to the size (trailing zeros do not count), and the size limit.
    for (size, data, message) in [
        ("2", "buffer(0x0102)", vec![1u8, 2]),
        ("2", "buffer(0x01020000)", vec![1, 2]),
        ("10000", "buffer(0x01)", {
            let mut m = vec![0u8; 10_000];
            m[0] = 1;
            m
        }),
    ] {
        let p = Case::new("send").data(&[SENTINEL, data, size]).probe();
        p.ran(100).at_next().stack_is(&[sentinel()]);
        assert_eq!(p.m.outputs().sends, vec![message.clone()]);
        assert_eq!(p.m.outputs().send_acc, send_acc(U256::zero(), &message));
    }

    let send = op("send");
    send.fails(&["0", "buffer(0x)"]);
    send.fails(&["10001", "buffer(0x01)"]);
    send.fails(&["0x10000000000000000", "buffer(0x01)"]);
    send.fails(&["0x10000000000000001", "buffer(0x01)"]);
    send.fails(&["-1", "buffer(0x01)"]);
    send.fails(&["1", "buffer(0x0102)"]);
    send.fails(&["10000", &buffer_text(10_000, 1)]);
    send.kinds(&["1", "buffer(0xc8)"], "IB");
}

/// An inbox message 8-tuple (AVM.md §9).
fn message(n: u64) -> Value {
    val(&format!("(0, {n}, 0, 0, {n}, 0, 0, buffer(0x))"))
}

#[test]
fn inbox() {
    // No message: blocks, even as the first instruction of a run.
    for (insn, imm) in [("inbox", vec![]), ("inbox 5", vec![int(5)])] {
        let p = Case::new(insn).data(&[SENTINEL]).probe();
        p.blocked(BlockReason::Inbox);
        let Probe {
            mut m,
            used0,
            steps0,
            t,
            ..
        } = p;
        assert_eq!(m.run(&Limits::default()), Stop::Blocked(BlockReason::Inbox));
        assert_eq!(m.outputs().steps, steps0);
        m.push_inbox(message(1));
        assert_eq!(m.step(&Limits::default()), None);
        let mut expected = vec![sentinel()];
        expected.extend(imm);
        expected.push(message(1));
        assert_eq!(m.stack().values(), &expected[..]);
        assert_eq!(m.outputs().steps, steps0 + 1);
        assert_eq!(m.outputs().gas_used, used0 + 40);
        assert_eq!(m.outputs().inbox_consumed, 1);
        assert_eq!(m.pending_inbox(), 0);
        assert!(matches!(m.pc(), Pc::Loaded(i) if *i as usize == t + 1));
    }

    // Exactly its cost left and no message: blocked, nothing charged.
    Case::new("inbox 5")
        .data(&[SENTINEL])
        .gas(40)
        .probe()
        .blocked(BlockReason::Inbox);

    // Messages are read in order; the run blocks when they run out.
    let mut m = machine("inbox\nlog\ninbox\nlog\ninbox\nhalt");
    m.push_inbox(message(1));
    m.push_inbox(message(2));
    assert_eq!(m.run(&Limits::default()), Stop::Blocked(BlockReason::Inbox));
    assert_eq!(m.outputs().logs, vec![message(1), message(2)]);
    assert_eq!(m.outputs().steps, 4);
    assert_eq!(m.outputs().gas_used, 280);
    m.push_inbox(message(3));
    assert_eq!(m.run(&Limits::default()), Stop::Halted);
    assert_eq!(m.stack().values(), &[message(3)]);
    assert_eq!(m.outputs().inbox_consumed, 3);
    assert_eq!(m.outputs().gas_used, 330);
}

#[test]
fn error_raises_and_keeps_its_immediate() {
    for handler in [true, false] {
        let p = Case::new("error")
            .handler(handler)
            .data(&[SENTINEL, "1"])
            .probe();
        p.errored(5, 0, 0);
        p.stack_is(&[sentinel(), int(1)]);
        let p = Case::new("error 7")
            .handler(handler)
            .data(&[SENTINEL])
            .probe();
        p.errored(5, 0, 0);
        p.stack_is(&[sentinel(), int(7)]);
    }
}

#[test]
fn halt() {
    let p = Case::new("halt").data(&[SENTINEL]).probe();
    assert_eq!(p.stop, Some(Stop::Halted));
    p.charged(10).stack_is(&[sentinel()]);
    assert_eq!(p.m.gas_remaining(), p.gas0 - U256::from(10));
    assert_eq!(p.m.clone().hash(), U256::zero());
    assert_eq!(p.m.status(), Status::Halted);

    let mut m = machine("halt 7\nhalt");
    assert_eq!(m.run(&Limits::default()), Stop::Halted);
    assert_eq!(m.hash(), U256::zero());
    assert_eq!(m.outputs().steps, 1);
    assert_eq!(m.outputs().gas_used, 10);
    assert_eq!(m.stack().values(), &[int(7)]);
    // Further runs do nothing.
    assert_eq!(m.run(&Limits::default()), Stop::Halted);
    assert_eq!(m.step(&Limits::default()), Some(Stop::Halted));
    assert_eq!(m.outputs().steps, 1);
    assert_eq!(m.outputs().gas_used, 10);
    assert_eq!(m.hash(), U256::zero());
}

#[test]
fn setgas_pushgas() {
    for case in [
        Case::new("setgas").data(&[SENTINEL, "100"]),
        Case::new("setgas 100").data(&[SENTINEL]),
        // Its own cost is taken from the old value first.
        Case::new("setgas 100").data(&[SENTINEL]).gas(1),
    ] {
        let p = case.probe();
        assert_eq!(p.stop, None);
        p.charged(1).at_next().stack_is(&[sentinel()]);
        assert_eq!(p.m.gas_remaining(), U256::from(100));
    }
    op("setgas").kinds(&["100"], "I");

    // From MAX: the sentinel's push took 1, pushgas 1.
    Case::new("pushgas")
        .data(&[SENTINEL])
        .probe()
        .ran(1)
        .at_next()
        .stack_is(&[sentinel(), Value::int(MAX - U256::from(2))]);
    Case::new("pushgas")
        .data(&[SENTINEL])
        .gas(250)
        .probe()
        .ran(1)
        .stack_is(&[sentinel(), int(249)]);
    Case::new("pushgas 7")
        .data(&[SENTINEL])
        .gas(1)
        .probe()
        .ran(1)
        .stack_is(&[sentinel(), int(7), int(0)]);

    // Gas used is not what setgas sets: 0 left, then `halt` runs out of gas.
    let mut m = machine("setgas 0\nhalt");
    assert_eq!(m.run(&Limits::default()), Stop::ErrorStop);
    assert_eq!(m.outputs().steps, 2);
    assert_eq!(m.outputs().gas_used, 6);
    assert_eq!(m.gas_remaining(), MAX);
}

#[test]
fn pushinsn() {
    for case in [
        Case::new("pushinsn").data(&[SENTINEL, "@h", "0x174"]),
        Case::new("pushinsn 0x174").data(&[SENTINEL, "@h"]),
    ] {
        let p = case.probe();
        p.ran(25).at_next();
        assert_eq!(p.values().len(), 2);
        assert_eq!(p.values()[0], sentinel());
        let Value::CodePoint(made) = top(&p.m) else {
            panic!("pushinsn pushed {:?}", top(&p.m))
        };
        // Opcode 0x174 mod 256 = halt, no immediate, next = @h.
        assert_eq!(made.opcode(), 0x74);
        assert!(made.immediate().is_none());
        assert_eq!(made.next_hash(), h256(H_HALT_ERR));
        assert_eq!(made.hash(), hash_codepoint(0x74, None, &h256(H_HALT_ERR)));
    }
    op("pushinsn").kinds(&["0x74", "@h"], "IC");

    // Jumping into it runs the opcode, then continues at its next codepoint.
    let m = run("push 2\npush 3\npush @cont\npush 0x101\npushinsn\njump\ncont: push 9\nhalt");
    assert_eq!(m.status(), Status::Halted);
    assert_eq!(m.stack().values(), &[int(5), int(9)]);
    assert_eq!(m.outputs().steps, 9);
    assert_eq!(m.outputs().gas_used, 4 + 25 + 4 + 3 + 1 + 10);

    // Any byte is accepted; an invalid one raises an error when it runs (caught at x, not
    // continuing at y).
    let m = run("errset @x\npush @y\npushinsn 0x125\njump\nx: push 9\nhalt\ny: push 8\nhalt");
    assert_eq!(m.status(), Status::Halted);
    assert_eq!(m.stack().values(), &[int(9)]);
    assert_eq!(m.outputs().steps, 7);
    assert_eq!(m.outputs().gas_used, 1 + 1 + 25 + 4 + 5 + 1 + 10);

    // `halt` → ERR built at run time equals the loaded one (VECTORS.md §3).
    let m = run("errcodepoint\npushinsn 0x74\nhash\nhalt");
    assert_eq!(top(&m), &hx(H_HALT_ERR));
}

#[test]
fn pushinsnimm() {
    for case in [
        Case::new("pushinsnimm").data(&[SENTINEL, "@h", "(5, 6)", "0x174"]),
        Case::new("pushinsnimm 0x174").data(&[SENTINEL, "@h", "(5, 6)"]),
    ] {
        let p = case.probe();
        p.ran(25).at_next();
        assert_eq!(p.values().len(), 2);
        let Value::CodePoint(made) = top(&p.m) else {
            panic!("pushinsnimm pushed {:?}", top(&p.m))
        };
        assert_eq!(made.opcode(), 0x74);
        assert_eq!(made.immediate(), Some(&val("(5, 6)")));
        assert_eq!(
            made.hash(),
            hash_codepoint(0x74, Some(&val("(5, 6)").hash()), &h256(H_HALT_ERR))
        );
    }
    op("pushinsnimm").kinds(&["0x74", "7", "@h"], "I_C");

    // `add 77` made at run time (0x201 mod 256 = add): 77 + 3, then on to `cont`.
    let m = run("push 3\npush @cont\npush 77\npush 0x201\npushinsnimm\njump\ncont: push 9\nhalt");
    assert_eq!(m.status(), Status::Halted);
    assert_eq!(m.stack().values(), &[int(80), int(9)]);
    assert_eq!(m.outputs().steps, 9);
    assert_eq!(m.outputs().gas_used, 4 + 25 + 4 + 3 + 1 + 10);

    // The immediate may be a codepoint: `jump @x` made at run time.
    let m = run("push @y\npush @x\npushinsnimm 0x34\njump\nx: push 9\nhalt\ny: push 8\nhalt");
    assert_eq!(m.status(), Status::Halted);
    assert_eq!(m.stack().values(), &[int(9)]);
}

#[test]
fn sideload() {
    let sl = op("sideload");
    sl.ok(&["0x321"], &[Value::none()]);
    sl.kinds(&["0x321"], "I");

    // Host values are pushed in order; then `()`.
    let mut m = machine("sideload 7\nsideload 8\nhalt");
    m.push_sideload(message(7));
    assert_eq!(m.run(&Limits::default()), Stop::Halted);
    assert_eq!(m.stack().values(), &[message(7), Value::none()]);
    assert_eq!(m.outputs().gas_used, 30);

    // Stop-on-sideload with no value: blocks, unless it is the first instruction of the run.
    let src = "nop\nsideload 0x321\nhalt";
    let mut after_nop = machine(src);
    after_nop.run(&Limits {
        max_steps: Some(1),
        ..Limits::default()
    });
    let mut m = machine(src);
    assert_eq!(
        m.run(&stop_on_sideload()),
        Stop::Blocked(BlockReason::Sideload {
            block_number: U256::from(0x321)
        })
    );
    assert_eq!(m.outputs().steps, 1);
    assert_eq!(m.outputs().gas_used, 1);
    assert_eq!(m.gas_remaining(), MAX - U256::one());
    assert_eq!(m.stack().values(), &[]);
    assert_eq!(m.hash(), after_nop.hash());
    let mut resumed_with_value = m.clone();
    assert_eq!(m.run(&stop_on_sideload()), Stop::Halted);
    assert_eq!(m.stack().values(), &[Value::none()]);
    assert_eq!(m.outputs().steps, 3);
    assert_eq!(m.outputs().gas_used, 21);
    resumed_with_value.push_sideload(message(3));
    assert_eq!(resumed_with_value.run(&stop_on_sideload()), Stop::Halted);
    assert_eq!(resumed_with_value.stack().values(), &[message(3)]);

    // A queued value: no block.
    let mut m = machine(src);
    m.push_sideload(message(4));
    assert_eq!(m.run(&stop_on_sideload()), Stop::Halted);
    assert_eq!(m.stack().values(), &[message(4)]);
    assert_eq!(m.outputs().gas_used, 21);
}

// ---------------------------------------------------------------------------------------------
// Elliptic-curve precompiles (AVM.md §10.5; fixed values from opcodetestecops, VECTORS.md §6.1).

#[test]
fn ecrecover() {
    let r = "0xc52e4fe5cb5a8561dfbd34f6bb092f4a7ea6f1d9ea42ace363f5ce8e99bbcb37";
    let s = "0x72a05aa9fe3041a6aaa32e0ef05cf7543d26c7d874b3fb2448e4f5bafd214004";
    let msg = "0x432ff3564d04a47798981631553c7c428c125d6ae2db6c04b3d4d7064737cd43";
    let n = "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    let rec = op("ecrecover");
    rec.ok(
        &[r, s, "1", msg],
        &[hx("bbd25c537e90cff3fe9e88f429ac52590c84d9e2")],
    );
    // Invalid inputs give 0, not an error.
    for v in ["2", "27", "28", "-1"] {
        rec.ok(&[r, s, v, msg], &[int(0)]);
    }
    rec.ok(&["0", s, "1", msg], &[int(0)]);
    rec.ok(&[r, "0", "1", msg], &[int(0)]);
    rec.ok(&[n, s, "1", msg], &[int(0)]);
    rec.ok(&[r, n, "1", msg], &[int(0)]);
    rec.kinds(&[r, s, "1", msg], "IIII");
}

#[test]
fn ecadd() {
    let add = op("ecadd");
    // Pushes y, then x (x on top).
    add.ok(
        &[
            "0x1045ac794c5aa6db9b1b241f1be32480a39bdeaf762540437797afb451cfdf39",
            "0x9be4ee843d94715ab73bc013ccb782456f32e14c1f333074186f525635a6a4c",
            "0x21a6ffb76f48c967fd6913f913cd53ada3b41ccec2c60993fba3769bf8f99d23",
            "0x796cc8d0c1fd677e5a343cb36e24c05c5b4422dd6a4321a36c340c433370a41",
        ],
        &[
            hx("1766a1f79eb0d11f0276b59e2d965e19dbc64768ea469d425593960eb645b35c"),
            hx("16e4bd51e13319347bcd6123d4286a91be7fff5e86962c740cfaf69451a1be93"),
        ],
    );
    add.ok(&["1", "2", "1", "2"], &[hx(TWO_G_Y), hx(TWO_G_X)]);
    add.ok(&["0", "0", "1", "2"], &[int(2), int(1)]);
    add.ok(&["1", "2", "0", "0"], &[int(2), int(1)]);
    add.ok(&["1", "2", "1", P_MINUS_2], &[int(0), int(0)]);
    add.ok(&["0", "0", "0", "0"], &[int(0), int(0)]);
    // Invalid points are errors: off the curve, or a coordinate ≥ p (even ≡ a valid one).
    add.fails(&["1", "3", "1", "2"]);
    add.fails(&["1", "2", "1", "3"]);
    add.fails(&["0", "1", "0", "0"]);
    add.fails(&[P_PLUS_1, "2", "0", "0"]);
    add.fails(&["0", "0", P_PLUS_1, "2"]);
    add.kinds(&["1", "2", "1", "2"], "IIII");
}

#[test]
fn ecmul() {
    let mul = op("ecmul");
    mul.ok(
        &[
            "0x24e31c3f9f3bf71cb3a7366e2b5bdf672d7cb14ff685c182b9185d9574fdb985",
            "0xa98135fc4aa3bc85fa8432b40a7704ebecc29676e76b2c03341fe462be40a70",
            "0xb7abaaf2f45b6d1c1b23afb835719050a28b98cea191d94bff8feb3025ddbfc8",
        ],
        &[
            hx("254a31a27916a67f475d0d2b8f8528fb802819d6d68bff09a45ae8e8fc90692d"),
            hx("198cbe269c2ab9b278d08edcddb757fb22385801457d663bc1c65619fb5917eb"),
        ],
    );
    mul.ok(&["1", "2", "2"], &[hx(TWO_G_Y), hx(TWO_G_X)]);
    mul.ok(&["1", "2", "1"], &[int(2), int(1)]);
    mul.ok(&["1", "2", "0"], &[int(0), int(0)]);
    // The scalar acts mod r.
    mul.ok(&["1", "2", R], &[int(0), int(0)]);
    mul.ok(
        &[
            "1",
            "2",
            "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000003",
        ],
        &[hx(TWO_G_Y), hx(TWO_G_X)],
    );
    mul.ok(&["0", "0", "5"], &[int(0), int(0)]);
    mul.fails(&["1", "3", "2"]);
    mul.fails(&["1", "3", "0"]);
    mul.fails(&[P_PLUS_1, "2", "1"]);
    mul.kinds(&["1", "2", "2"], "III");
}

const INF: &str = "(0, 0, 0, 0, 0, 0)";
const CORPUS_PAIR_A: &str = "(0xe96277cdd15f06a21aa495dc682fc07bdd20db5aeea6993ea7a4b1386cf5702, \
    0x24381c9a02b71ba0a1f334a5f958c0fbfe0ef2fc014c174d3e637ae398e5c58a, \
    0x6110ad196f288ddced2e2f8cf13760d2e94cf2bc0ed288abc6315a9240980c7, \
    0x277af6a41b33c5d92982c35c2078de1b81c1482f68d820d5aaf3c88561ab014, \
    0x19a328ca3d0db62f79cc9ed94c8c02323e23e58634a8e5638003f04ced64d35b, \
    0x1d72e83becd22d99413e7d1de3f1fa049f364abccf1bd22d0c875fc070f115f3)";
const CORPUS_PAIR_B: &str = "(0x1b644f9a84ebe5e29b4e474c014582337447f98183d2d27f2791a36727a61920, \
    0x1ecada8d049d130d45f9d4f7f4305236a22b8cace8f27e0cd401be9c2b95d3f8, \
    0x230373a4c53583f86388e4e6217ee65cdd23a0923a4640097b0353f6b2789206, \
    0x293314e283a792886a05ce4d814f9bfc5119996534cd8ee5303c5d16694efc2, \
    0x15eacb71c679bdaa29f95fc5414a5dd1f4d943a4fd4b4619043b3ddb76636e86, \
    0x2c73df27a28f46270d20a73fbf3044ea2d39c0668019ab5922a14911aa2460bc)";

/// A pairing item: a G1 point `g1` ("x, y") with the G2 generator.
fn with_g2(g1: &str) -> String {
    format!("({g1}, {G2})")
}

/// `ecpairing` charged for `m` pairs.
fn pairing(m: u64) -> Op {
    op("ecpairing").gas(1000 + 500_000 * m)
}

#[test]
fn ecpairing_results_and_gas() {
    let g = with_g2("1, 2");
    let neg_g = with_g2(&format!("1, {P_MINUS_2}"));
    pairing(0).ok(&["()"], &[int(1)]);
    pairing(1).ok(&[&list(&[INF])], &[int(1)]);
    pairing(1).ok(&[&list(&[&g])], &[int(0)]);
    pairing(2).ok(&[&list(&[&g, &neg_g])], &[int(1)]);
    pairing(2).ok(&[&list(&[&g, &g])], &[int(0)]);
    pairing(2).ok(&[&list(&[CORPUS_PAIR_A, CORPUS_PAIR_B])], &[int(1)]);
    pairing(30).ok(&[&list(&[CORPUS_PAIR_A; 30])], &[int(0)]);
    // Pairs with an infinity point (G1 or G2) are skipped.
    let g1_inf = with_g2("0, 0");
    let g2_inf = "(1, 2, 0, 0, 0, 0)";
    pairing(3).ok(&[&list(&[&g1_inf, g2_inf, INF])], &[int(1)]);
    pairing(3).ok(&[&list(&[&g1_inf, &g, &neg_g])], &[int(1)]);
    pairing(2).ok(&[&list(&[g2_inf, &g])], &[int(0)]);
    // 30 items: the most allowed.
    pairing(30).ok(&[&list(&[INF; 30])], &[int(1)]);

    // The cost is computed from the list before execution (immediate included) and enters
    // the out-of-gas test.
    pairing(0).out_of_gas(&["()"]);
    pairing(0).out_of_gas(&["5"]);
    pairing(1).out_of_gas(&[&list(&[INF])]);
    pairing(2).out_of_gas(&[&list(&[&g, &neg_g])]);
    pairing(30).out_of_gas(&[&list(&[INF; 31])]);
    // Corpus program opcodeecpairing: gas 1100, list (0, ()) of one link (cost 501000).
    Case::new("ecpairing (0, ())")
        .handler(true)
        .gas(1100)
        .probe()
        .ran_out(1, 0);
}

#[test]
fn ecpairing_errors() {
    let g = with_g2("1, 2");
    let neg_g = with_g2(&format!("1, {P_MINUS_2}"));
    // More than 30 items: charged for 30, then an error.
    pairing(30).fails(&[&list(&[INF; 31])]);
    // Not a list at all: the base cost.
    for bad in ["5", "(1, 2, 3)", "(1)", "@h", "buffer(0x01)"] {
        pairing(0).fails(&[bad]);
    }
    // A malformed link after the first: charged for the links before it.
    pairing(1).fails(&[&format!("({INF}, 5)")]);
    pairing(1).fails(&[&format!("({INF}, (1, 2, 3))")]);
    pairing(2).fails(&[&format!("({INF}, ({INF}, (7)))")]);
    // Items must be 6-tuples of Ints.
    for item in [
        "5",
        "()",
        "(0, 0, 0, 0, 0)",
        "(0, 0, 0, 0, 0, 0, 0)",
        "(0, 0, 0, 0, 0, ())",
        "(@h, 0, 0, 0, 0, 0)",
        "(0, 0, buffer(0x01), 0, 0, 0)",
    ] {
        pairing(1).fails(&[&list(&[item])]);
    }
    pairing(1).fails(&["(0, ())"]);
    // Coordinates ≥ p; points off their curves, also next to an infinity point.
    pairing(1).fails(&[&list(&[&with_g2(&format!("{P_PLUS_1}, 2"))])]);
    pairing(1).fails(&[&list(&[&format!("(1, 2, {P_PLUS_1}, 0, 0, 0)")])]);
    pairing(1).fails(&[&list(&[&with_g2("1, 3")])]);
    pairing(1).fails(&[&list(&["(1, 3, 0, 0, 0, 0)"])]);
    pairing(1).fails(&[&list(&["(0, 0, 1, 2, 3, 4)"])]);
    pairing(3).fails(&[&list(&[&g, &neg_g, "(1, 3, 0, 0, 0, 0)"])]);
    // 30 items ending in a malformed tail: charged for 30, then an error.
    let tail = (0..30).fold("5".to_string(), |rest, _| format!("({INF}, {rest})"));
    pairing(30).fails(&[&tail]);
}

// ---------------------------------------------------------------------------------------------
// Buffers (AVM.md §8.8, VECTORS.md §4).

#[test]
fn newbuffer() {
    op("newbuffer").ok(&[], &[Value::Buffer(Buffer::new())]);
    let p = Case::new("newbuffer").probe();
    assert_eq!(top(&p.m).hash(), h256(H_EMPTY_BUFFER));
}

#[test]
fn getbuffer() {
    // Byte 123 = 7.
    let b = buffer_text(123, 7);
    let get8 = op("getbuffer8");
    get8.ok(&["123", &b], &[int(7)]);
    get8.ok(&["122", &b], &[int(0)]);
    get8.ok(&["1000", &b], &[int(0)]);
    let get64 = op("getbuffer64");
    get64.ok(&["123", &b], &[int(7 << 56)]);
    get64.ok(&["116", &b], &[int(7)]);
    let get256 = op("getbuffer256");
    get256.ok(
        &["123", &b],
        &[hx(
            "0700000000000000000000000000000000000000000000000000000000000000",
        )],
    );
    get256.ok(&["92", &b], &[int(7)]);
    // Reads straddling two leaves: bytes 127 = 1 and 128 = 2.
    let straddle = format!("buffer(0x{}0102)", "00".repeat(127));
    get64.ok(&["124", &straddle], &[int(0x0000_0001_0200_0000)]);
    get256.ok(&["100", &straddle], &[int(0x01_0200_0000)]);
    for o in [get8, get64, get256] {
        o.kinds(&["0", "buffer(0x01)"], "IB");
    }
}

#[test]
fn setbuffer() {
    let empty = "buffer(0x)";
    let set8 = op("setbuffer8");
    set8.ok(&["123", "7", empty], &[buffer(&[(123, &[7])])]);
    set8.ok(&["123", "7", empty], &[val(&buffer_text(123, 7))]);
    set8.ok(&["0", "255", empty], &[buffer(&[(0, &[255])])]);
    set8.ok(&["1", "2", "buffer(0x01)"], &[buffer(&[(0, &[1, 2])])]);
    // Writing zero over the last byte gives back the empty buffer.
    set8.ok(&["0", "0", "buffer(0x01)"], &[Value::Buffer(Buffer::new())]);
    // Values over 255 are errors, not truncated.
    set8.fails(&["0", "256", empty]);
    set8.fails(&["0", "0x1d2", empty]);
    set8.fails(&["0", "-1", empty]);
    set8.kinds(&["0", "7", empty], "IIB");

    let set64 = op("setbuffer64");
    set64.ok(
        &["123", "0x0908000000000007", empty],
        &[buffer(&[(123, &[9, 8, 0, 0, 0, 0, 0, 7])])],
    );
    set64.ok(
        &["0", "0xffffffffffffffff", empty],
        &[buffer(&[(0, &[0xff; 8])])],
    );
    set64.ok(
        &["28", "0x0102030405060708", "buffer(0x05)"],
        &[buffer(&[(0, &[5]), (28, &[1, 2, 3, 4, 5, 6, 7, 8])])],
    );
    set64.fails(&["0", "0x10000000000000000", empty]);
    set64.fails(&["0", "-1", empty]);
    set64.kinds(&["0", "7", empty], "IIB");

    let set256 = op("setbuffer256");
    let pattern: Vec<u8> = [9u8, 8, 0, 0, 0, 0, 0, 7].repeat(4);
    set256.ok(
        &[
            "123",
            "0x0908000000000007090800000000000709080000000000070908000000000007",
            empty,
        ],
        &[buffer(&[(123, &pattern)])],
    );
    set256.ok(&["0", "-1", empty], &[buffer(&[(0, &[0xff; 32])])]);
    set256.ok(&["0", "1", "buffer(0xff)"], &[buffer(&[(31, &[1])])]);
    set256.kinds(&["0", "7", empty], "IIB");
}

#[test]
fn buffer_offsets_near_2_64() {
    let b = "buffer(0x01)";
    let empty = "buffer(0x)";
    let (get8, get64, get256) = (op("getbuffer8"), op("getbuffer64"), op("getbuffer256"));
    get8.ok(&["0xffffffffffffffff", b], &[int(0)]);
    get64.ok(&["0xfffffffffffffff8", b], &[int(0)]);
    get256.ok(&["0xffffffffffffffe0", b], &[int(0)]);
    for offset in ["0x10000000000000000", "0x10000000000000001", "-1"] {
        for o in [&get8, &get64, &get256] {
            o.fails(&[offset, b]);
        }
    }
    for offset in ["0xfffffffffffffff9", "0xffffffffffffffff"] {
        get64.fails(&[offset, b]);
    }
    for offset in [
        "0xffffffffffffffe1",
        "0xfffffffffffffff8",
        "0xffffffffffffffff",
    ] {
        get256.fails(&[offset, b]);
    }

    let (set8, set64, set256) = (op("setbuffer8"), op("setbuffer64"), op("setbuffer256"));
    set8.ok(
        &["0xffffffffffffffff", "5", empty],
        &[buffer(&[(u64::MAX, &[5])])],
    );
    set64.ok(
        &["0xfffffffffffffff8", "0x0102030405060708", empty],
        &[buffer(&[(u64::MAX - 7, &[1, 2, 3, 4, 5, 6, 7, 8])])],
    );
    set256.ok(
        &["0xffffffffffffffe0", "-1", empty],
        &[buffer(&[(u64::MAX - 31, &[0xff; 32])])],
    );
    for offset in ["0x10000000000000000", "-1"] {
        for o in [&set8, &set64, &set256] {
            o.fails(&[offset, "5", empty]);
        }
    }
    set64.fails(&["0xfffffffffffffff9", "5", empty]);
    set256.fails(&["0xffffffffffffffe1", "5", empty]);

    // Written at the top of the offset space and read back.
    let m = run("newbuffer\n\
                 push 5\n\
                 setbuffer8 0xffffffffffffffff\n\
                 dup0\n\
                 getbuffer8 0xffffffffffffffff\n\
                 swap1\n\
                 dup0\n\
                 getbuffer64 0xfffffffffffffff8\n\
                 swap1\n\
                 getbuffer256 0xffffffffffffffe0\n\
                 halt");
    assert_eq!(m.status(), Status::Halted);
    assert_eq!(m.stack().values(), &[int(5), int(5), int(5)]);
}

// ---------------------------------------------------------------------------------------------
// Invalid opcodes and the end of the code (AVM.md §8.9, §4.1).

#[test]
fn invalid_opcodes_cost_5_and_raise_an_error() {
    let valid: HashSet<u8> = TABLE.iter().map(|entry| entry.0).collect();
    let mut invalid = 0;
    for byte in 0..=255u8 {
        if valid.contains(&byte) {
            continue;
        }
        invalid += 1;
        let name = format!("op_{byte:02x}");
        let with_immediate = format!("{name} 7");
        for handler in [true, false] {
            for insn in [&name, &with_immediate] {
                let case = Case::new(insn).handler(handler).data(&[SENTINEL]);
                // Pops nothing: an immediate stays.
                case.probe().errored(5, 0, 0);
                case.clone().gas(4).probe().ran_out(0, 0);
                let p = case.gas(5).probe();
                p.errored(5, 0, 0);
                assert_eq!(p.m.gas_remaining(), U256::zero());
            }
        }
    }
    assert_eq!(invalid, 178);
    for name in ["op_00", "op_25", "op_71"] {
        Case::new(&format!("{name} 7"))
            .data(&[SENTINEL])
            .probe()
            .stack_is(&[sentinel(), int(7)]);
    }
}

#[test]
fn falling_off_the_end_runs_err() {
    let mut m = machine("push 1");
    assert_eq!(m.run(&Limits::default()), Stop::ErrorStop);
    assert_eq!(m.outputs().steps, 2);
    assert_eq!(m.outputs().gas_used, 6);
    assert_eq!(m.stack().values(), &[int(1)]);
    assert_eq!(m.hash(), U256::one());

    // Caught by a handler made at run time (`halt` → ERR).
    let mut m = machine("errcodepoint\npushinsn 0x74\nerrset\npush 1");
    assert_eq!(m.run(&Limits::default()), Stop::Halted);
    assert_eq!(m.outputs().steps, 6);
    assert_eq!(m.outputs().gas_used, 25 + 25 + 1 + 1 + 5 + 10);
    assert_eq!(m.stack().values(), &[int(1)]);

    // Jumping to ERR, loaded or made by errcodepoint.
    for src in [
        "push 1\njump @err\nhalt",
        "push 1\nerrcodepoint\njump\nhalt",
    ] {
        let mut m = machine(src);
        assert_eq!(m.run(&Limits::default()), Stop::ErrorStop, "{src}");
        assert_eq!(m.stack().values(), &[int(1)]);
    }
}
