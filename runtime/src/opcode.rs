//! The one opcode table (AVM.md §7.2, PROOFS.md §3.3).
//!
//! Every fact about an opcode (name, byte, stack effect, gas, proof marshal levels, which checker
//! contract proves it, control-flow flags) is written once, in the [`opcodes!`] list below. The
//! loader, assembler, disassembler, interpreter, JIT and prover read [`OPCODES`], [`info`] and
//! [`by_name`]; none repeats these facts.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Which on-chain checker contract proves an opcode (PROOFS.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Prover {
    /// `OneStepProof`: everything not listed below, and every invalid opcode.
    Main = 0,
    /// `OneStepProof2`: `send` and the buffer opcodes.
    Buffer = 1,
    /// `OneStepProofHash`: `hash`, `type`, `ethhash2`, `keccakf`, `sha256f`.
    Hash = 2,
}

impl Prover {
    /// The prover with this selector byte.
    pub fn from_selector(selector: u8) -> Option<Prover> {
        match selector {
            0 => Some(Prover::Main),
            1 => Some(Prover::Buffer),
            2 => Some(Prover::Hash),
            _ => None,
        }
    }
}

/// Control-flow and gas properties that code analysis needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(u8);

impl Flags {
    /// No special property.
    pub const NONE: Flags = Flags(0);
    /// May transfer control to a codepoint operand (`jump`, `cjump`).
    pub const JUMP: Flags = Flags(1);
    /// Stops the machine (`halt`).
    pub const HALT: Flags = Flags(2);
    /// May block and return to the host (`inbox`, `sideload`, `breakpoint`).
    pub const BLOCKS: Flags = Flags(4);
    /// Reads or overwrites the remaining gas (`setgas`, `pushgas`).
    pub const GAS: Flags = Flags(8);
    /// Costs more than its table gas, depending on its operand (`ecpairing`).
    pub const VARIABLE_GAS: Flags = Flags(16);
    /// Always raises an error (`error`).
    pub const RAISES: Flags = Flags(32);
    /// Reads its own codepoint (`pcpush`).
    pub const PC: Flags = Flags(64);

    /// Whether every property of `other` is set here.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of properties.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// Everything known about one valid opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    /// The opcode byte.
    pub byte: u8,
    /// The mnemonic (AVM.md §7.2).
    pub name: &'static str,
    /// Data-stack operands (`k`), the immediate included.
    pub pops: u8,
    /// Aux-stack operands (`j`).
    pub aux_pops: u8,
    /// Values pushed on the data stack on success.
    pub pushes: u8,
    /// Values pushed on the aux stack on success (`xget` puts its tuple back).
    pub aux_pushes: u8,
    /// AVM gas charged before it runs (`ecpairing`: the base part).
    pub gas: u64,
    /// Proof marshal level of each data operand, top first (`len == pops`).
    pub levels: &'static [u8],
    /// Proof marshal level of each aux operand, top first (`len == aux_pops`).
    pub aux_levels: &'static [u8],
    /// The checker contract that proves it.
    pub prover: Prover,
    /// Control-flow and gas properties.
    pub flags: Flags,
}

/// The cost of an underflow, an out-of-gas step and an invalid opcode (AVM.md §6.1).
pub const ERROR_GAS: u64 = 5;

/// The per-pair part of `ecpairing`'s cost (AVM.md §10.5).
pub const ECPAIRING_GAS_PER_PAIR: u64 = 500_000;

/// The most pairs `ecpairing` accepts and charges for.
pub const ECPAIRING_MAX_PAIRS: u64 = 30;

macro_rules! opcodes {
    ($(
        $byte:literal $konst:ident $name:literal
        ($k:literal, $j:literal -> $p:literal, $ap:literal) gas $gas:literal
        [$($lvl:literal),*] [$($alvl:literal),*] $prover:ident $flags:expr;
    )*) => {
        $(
            #[doc = concat!("`", $name, "`")]
            pub const $konst: u8 = $byte;
        )*

        /// Every valid opcode, indexed by byte; `None` marks an invalid byte.
        pub static OPCODES: [Option<OpInfo>; 256] = {
            let mut table = [None; 256];
            $(
                table[$byte] = Some(OpInfo {
                    byte: $byte,
                    name: $name,
                    pops: $k,
                    aux_pops: $j,
                    pushes: $p,
                    aux_pushes: $ap,
                    gas: $gas,
                    levels: &[$($lvl),*],
                    aux_levels: &[$($alvl),*],
                    prover: Prover::$prover,
                    flags: $flags,
                });
            )*
            table
        };
    };
}

use Flags as F;

opcodes! {
    0x01 ADD "add"                 (2, 0 -> 1, 0) gas 3     [1, 1] [] Main F::NONE;
    0x02 MUL "mul"                 (2, 0 -> 1, 0) gas 3     [1, 1] [] Main F::NONE;
    0x03 SUB "sub"                 (2, 0 -> 1, 0) gas 3     [1, 1] [] Main F::NONE;
    0x04 DIV "div"                 (2, 0 -> 1, 0) gas 4     [1, 1] [] Main F::NONE;
    0x05 SDIV "sdiv"               (2, 0 -> 1, 0) gas 7     [1, 1] [] Main F::NONE;
    0x06 MOD "mod"                 (2, 0 -> 1, 0) gas 4     [1, 1] [] Main F::NONE;
    0x07 SMOD "smod"               (2, 0 -> 1, 0) gas 7     [1, 1] [] Main F::NONE;
    0x08 ADDMOD "addmod"           (3, 0 -> 1, 0) gas 4     [1, 1, 1] [] Main F::NONE;
    0x09 MULMOD "mulmod"           (3, 0 -> 1, 0) gas 4     [1, 1, 1] [] Main F::NONE;
    0x0a EXP "exp"                 (2, 0 -> 1, 0) gas 25    [1, 1] [] Main F::NONE;
    0x0b SIGNEXTEND "signextend"   (2, 0 -> 1, 0) gas 7     [1, 1] [] Main F::NONE;
    0x10 LT "lt"                   (2, 0 -> 1, 0) gas 2     [1, 1] [] Main F::NONE;
    0x11 GT "gt"                   (2, 0 -> 1, 0) gas 2     [1, 1] [] Main F::NONE;
    0x12 SLT "slt"                 (2, 0 -> 1, 0) gas 2     [1, 1] [] Main F::NONE;
    0x13 SGT "sgt"                 (2, 0 -> 1, 0) gas 2     [1, 1] [] Main F::NONE;
    0x14 EQ "eq"                   (2, 0 -> 1, 0) gas 2     [0, 0] [] Main F::NONE;
    0x15 ISZERO "iszero"           (1, 0 -> 1, 0) gas 1     [1] [] Main F::NONE;
    0x16 AND "and"                 (2, 0 -> 1, 0) gas 2     [1, 1] [] Main F::NONE;
    0x17 OR "or"                   (2, 0 -> 1, 0) gas 2     [1, 1] [] Main F::NONE;
    0x18 XOR "xor"                 (2, 0 -> 1, 0) gas 2     [1, 1] [] Main F::NONE;
    0x19 NOT "not"                 (1, 0 -> 1, 0) gas 1     [1] [] Main F::NONE;
    0x1a BYTE "byte"               (2, 0 -> 1, 0) gas 4     [1, 1] [] Main F::NONE;
    0x1b SHL "shl"                 (2, 0 -> 1, 0) gas 4     [1, 1] [] Main F::NONE;
    0x1c SHR "shr"                 (2, 0 -> 1, 0) gas 4     [1, 1] [] Main F::NONE;
    0x1d SAR "sar"                 (2, 0 -> 1, 0) gas 4     [1, 1] [] Main F::NONE;
    0x20 HASH "hash"               (1, 0 -> 1, 0) gas 7     [0] [] Hash F::NONE;
    0x21 TYPE "type"               (1, 0 -> 1, 0) gas 3     [1] [] Hash F::NONE;
    0x22 ETHHASH2 "ethhash2"       (2, 0 -> 1, 0) gas 8     [1, 1] [] Hash F::NONE;
    0x23 KECCAKF "keccakf"         (1, 0 -> 1, 0) gas 600   [1] [] Hash F::NONE;
    0x24 SHA256F "sha256f"         (3, 0 -> 1, 0) gas 250   [1, 1, 1] [] Hash F::NONE;
    0x30 POP "pop"                 (1, 0 -> 0, 0) gas 1     [0] [] Main F::NONE;
    0x31 SPUSH "spush"             (0, 0 -> 1, 0) gas 1     [] [] Main F::NONE;
    0x32 RPUSH "rpush"             (0, 0 -> 1, 0) gas 1     [] [] Main F::NONE;
    0x33 RSET "rset"               (1, 0 -> 0, 0) gas 2     [0] [] Main F::NONE;
    0x34 JUMP "jump"               (1, 0 -> 0, 0) gas 4     [0] [] Main F::JUMP;
    0x35 CJUMP "cjump"             (2, 0 -> 0, 0) gas 4     [1, 1] [] Main F::JUMP;
    0x36 STACKEMPTY "stackempty"   (0, 0 -> 1, 0) gas 2     [] [] Main F::NONE;
    0x37 PCPUSH "pcpush"           (0, 0 -> 1, 0) gas 1     [] [] Main F::PC;
    0x38 AUXPUSH "auxpush"         (1, 0 -> 0, 1) gas 1     [0] [] Main F::NONE;
    0x39 AUXPOP "auxpop"           (0, 1 -> 1, 0) gas 1     [] [0] Main F::NONE;
    0x3a AUXSTACKEMPTY "auxstackempty" (0, 0 -> 1, 0) gas 2 [] [] Main F::NONE;
    0x3b NOP "nop"                 (0, 0 -> 0, 0) gas 1     [] [] Main F::NONE;
    0x3c ERRPUSH "errpush"         (0, 0 -> 1, 0) gas 1     [] [] Main F::NONE;
    0x3d ERRSET "errset"           (1, 0 -> 0, 0) gas 1     [1] [] Main F::NONE;
    0x40 DUP0 "dup0"               (1, 0 -> 2, 0) gas 1     [0] [] Main F::NONE;
    0x41 DUP1 "dup1"               (2, 0 -> 3, 0) gas 1     [0, 0] [] Main F::NONE;
    0x42 DUP2 "dup2"               (3, 0 -> 4, 0) gas 1     [0, 0, 0] [] Main F::NONE;
    0x43 SWAP1 "swap1"             (2, 0 -> 2, 0) gas 1     [0, 0] [] Main F::NONE;
    0x44 SWAP2 "swap2"             (3, 0 -> 3, 0) gas 1     [0, 0, 0] [] Main F::NONE;
    0x50 TGET "tget"               (2, 0 -> 1, 0) gas 2     [1, 1] [] Main F::NONE;
    0x51 TSET "tset"               (3, 0 -> 1, 0) gas 40    [1, 1, 0] [] Main F::NONE;
    0x52 TLEN "tlen"               (1, 0 -> 1, 0) gas 2     [1] [] Main F::NONE;
    0x53 XGET "xget"               (1, 1 -> 1, 1) gas 3     [1] [1] Main F::NONE;
    0x54 XSET "xset"               (2, 1 -> 0, 1) gas 41    [1, 0] [1] Main F::NONE;
    0x60 BREAKPOINT "breakpoint"   (0, 0 -> 0, 0) gas 100   [] [] Main F::BLOCKS;
    0x61 LOG "log"                 (1, 0 -> 0, 0) gas 100   [0] [] Main F::NONE;
    0x70 SEND "send"               (2, 0 -> 0, 0) gas 100   [1, 1] [] Buffer F::NONE;
    0x72 INBOX "inbox"             (0, 0 -> 1, 0) gas 40    [] [] Main F::BLOCKS;
    0x73 ERROR "error"             (0, 0 -> 0, 0) gas 5     [] [] Main F::RAISES;
    0x74 HALT "halt"               (0, 0 -> 0, 0) gas 10    [] [] Main F::HALT;
    0x75 SETGAS "setgas"           (1, 0 -> 0, 0) gas 1     [1] [] Main F::GAS;
    0x76 PUSHGAS "pushgas"         (0, 0 -> 1, 0) gas 1     [] [] Main F::GAS;
    0x77 ERRCODEPOINT "errcodepoint" (0, 0 -> 1, 0) gas 25  [] [] Main F::NONE;
    0x78 PUSHINSN "pushinsn"       (2, 0 -> 1, 0) gas 25    [1, 1] [] Main F::NONE;
    0x79 PUSHINSNIMM "pushinsnimm" (3, 0 -> 1, 0) gas 25    [1, 0, 1] [] Main F::NONE;
    0x7b SIDELOAD "sideload"       (1, 0 -> 1, 0) gas 10    [1] [] Main F::BLOCKS;
    0x80 ECRECOVER "ecrecover"     (4, 0 -> 1, 0) gas 20000 [1, 1, 1, 1] [] Main F::NONE;
    0x81 ECADD "ecadd"             (4, 0 -> 2, 0) gas 3500  [1, 1, 1, 1] [] Main F::NONE;
    0x82 ECMUL "ecmul"             (3, 0 -> 2, 0) gas 82000 [1, 1, 1] [] Main F::NONE;
    0x83 ECPAIRING "ecpairing"     (1, 0 -> 1, 0) gas 1000  [32] [] Main F::VARIABLE_GAS;
    0x90 DEBUGPRINT "debugprint"   (1, 0 -> 0, 0) gas 1     [0] [] Main F::NONE;
    0xa0 NEWBUFFER "newbuffer"     (0, 0 -> 1, 0) gas 1     [] [] Main F::NONE;
    0xa1 GETBUFFER8 "getbuffer8"   (2, 0 -> 1, 0) gas 10    [1, 1] [] Buffer F::NONE;
    0xa2 GETBUFFER64 "getbuffer64" (2, 0 -> 1, 0) gas 10    [1, 1] [] Buffer F::NONE;
    0xa3 GETBUFFER256 "getbuffer256" (2, 0 -> 1, 0) gas 10  [1, 1] [] Buffer F::NONE;
    0xa4 SETBUFFER8 "setbuffer8"   (3, 0 -> 1, 0) gas 100   [1, 1, 1] [] Buffer F::NONE;
    0xa5 SETBUFFER64 "setbuffer64" (3, 0 -> 1, 0) gas 100   [1, 1, 1] [] Buffer F::NONE;
    0xa6 SETBUFFER256 "setbuffer256" (3, 0 -> 1, 0) gas 100 [1, 1, 1] [] Buffer F::NONE;
}

/// The facts of opcode `byte`, or `None` if it is invalid.
#[inline]
pub fn info(byte: u8) -> Option<&'static OpInfo> {
    OPCODES[byte as usize].as_ref()
}

/// The valid opcode called `name`.
pub fn by_name(name: &str) -> Option<&'static OpInfo> {
    static NAMES: LazyLock<HashMap<&'static str, &'static OpInfo>> =
        LazyLock::new(|| OPCODES.iter().flatten().map(|op| (op.name, op)).collect());
    NAMES.get(name).copied()
}

/// The mnemonic of any byte: the table name, or `op_XX` (hex) for an invalid one.
pub fn mnemonic(byte: u8) -> String {
    match info(byte) {
        Some(op) => op.name.to_string(),
        None => format!("op_{byte:02x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seventy_eight_valid_opcodes() {
        assert_eq!(OPCODES.iter().flatten().count(), 78);
    }

    #[test]
    fn invalid_bytes_are_those_of_avm_section_8_9() {
        let ranges: [(u8, u8); 17] = [
            (0x00, 0x00),
            (0x0c, 0x0f),
            (0x1e, 0x1f),
            (0x25, 0x2f),
            (0x3e, 0x3f),
            (0x45, 0x4f),
            (0x55, 0x5f),
            (0x62, 0x6f),
            (0x71, 0x71),
            (0x7a, 0x7a),
            (0x7c, 0x7f),
            (0x84, 0x8f),
            (0x91, 0x9f),
            (0xa7, 0xff),
            (0x0c, 0x0c),
            (0x71, 0x71),
            (0x00, 0x00),
        ];
        for byte in 0..=255u8 {
            let invalid = ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&byte));
            assert_eq!(info(byte).is_none(), invalid, "byte {byte:#04x}");
        }
    }

    #[test]
    fn table_is_consistent() {
        for (byte, op) in OPCODES.iter().enumerate() {
            let Some(op) = op else { continue };
            assert_eq!(op.byte as usize, byte);
            assert_eq!(op.levels.len(), op.pops as usize, "{}", op.name);
            assert_eq!(op.aux_levels.len(), op.aux_pops as usize, "{}", op.name);
            assert_eq!(by_name(op.name), Some(op));
            assert_eq!(mnemonic(op.byte), op.name);
        }
        assert_eq!(mnemonic(0x25), "op_25");
        assert_eq!(TGET, 0x50);
    }

    #[test]
    fn provers_follow_proofs_section_1() {
        for op in OPCODES.iter().flatten() {
            let expected = match op.byte {
                0x70 | 0xa1..=0xa6 => Prover::Buffer,
                0x20..=0x24 => Prover::Hash,
                _ => Prover::Main,
            };
            assert_eq!(op.prover, expected, "{}", op.name);
        }
    }
}
