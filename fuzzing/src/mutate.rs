//! Hostile inputs made from good ones: a seed changed by a few edits that matter to the
//! formats users hand the tools (JSON structure, hex and number spellings, escapes, byte order
//! marks, truncation, splices). Deterministic, so a seeded test reproduces.

/// A deterministic xorshift generator.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the formats: JSON structure, hex and number spellings, escapes, a
/// byte order mark, zeros and ones.
const INTERESTING: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"+",
    b"-",
    b"e",
    b"0x",
    b"0",
    b"f",
    b"9",
    b"null",
    b"true",
    b"1e999",
    b"\xef\xbb\xbf",
    b"\x1b[2J",
    b"\x00",
    b"\xff",
    b" ",
    b"\n",
    b"\"Tuple\"",
    b"\"Int\"",
    b"\"Buffer\"",
    b"\"CodePoint\"",
    b"\"Internal\"",
    b"\"code\"",
    b"\"static_val\"",
    b"\"opcode\"",
    b"\"immediate\"",
    b"\"data\"",
    b"\"kind\"",
    b"push",
    b"jump @",
    b":",
    b";",
    b"(",
    b")",
    b"@err",
    b"buffer(0x",
    b"18446744073709551616",
];

/// One input: a seed of `seeds` (not empty) changed by one to four edits.
pub fn mutate(seeds: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut input = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(7) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                input.splice(at..at, piece.iter().copied());
            }
            2 if at < input.len() => {
                let end = (at + 1 + rng.below(16)).min(input.len());
                input.drain(at..end);
            }
            3 => input.truncate(at),
            4 if at < input.len() => {
                let end = (at + 1 + rng.below(64)).min(input.len());
                let copy = input[at..end].to_vec();
                input.splice(at..at, copy);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                let end = (from + rng.below(64)).min(other.len());
                input.splice(at..at, other[from..end].iter().copied());
            }
            _ if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = INTERESTING[rng.below(INTERESTING.len())][0];
            }
            _ => {}
        }
    }
    input
}
