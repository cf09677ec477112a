//! Values nested millions deep hash, marshal, unmarshal, compare, format, load and drop without
//! recursion on the native stack (AVM.md §1.2, §12). Test threads have small stacks, so any
//! recursion per level would overflow long before these depths.

use avm_runtime::hash::{be32, hash_preimage, keccak};
use avm_runtime::marshal::{marshal, unmarshal};
use avm_runtime::{CodePoint, U256, Value, mexe};

const DEPTH: usize = 10_000_000;

/// `(((…(0)…)))`, `depth` 1-tuples around Int 0.
fn nest(depth: usize) -> Value {
    let mut value = Value::int(0u64);
    for _ in 0..depth {
        value = Value::tuple(vec![value]);
    }
    value
}

/// The hash of [`nest`] computed straight from AVM.md §2.2, level by level.
fn expected_nest_hash(depth: usize) -> U256 {
    let mut hash = keccak(&[&be32(&U256::zero())]);
    for level in 1..=depth {
        let inner = keccak(&[&[1], &be32(&hash)]);
        hash = hash_preimage(&inner, &U256::from(level + 1));
    }
    hash
}

#[test]
fn nest_hash_follows_the_spec() {
    const LEVELS: usize = 100_000;
    assert_eq!(nest(LEVELS).hash(), expected_nest_hash(LEVELS));
}

#[test]
fn ten_million_deep_tuple() {
    let value = nest(DEPTH);
    let hash = value.hash();
    assert_eq!(value.size(), U256::from(DEPTH + 1));

    let bytes = marshal(&value).unwrap();
    assert_eq!(bytes.len(), DEPTH + 33);
    let back = unmarshal(&bytes).unwrap();
    assert_eq!(back.hash(), hash);
    assert!(back == value);
    assert!(back != nest(10));

    let text = value.to_string();
    assert_eq!(text.len(), 2 * DEPTH + 1);
    assert_eq!(text.as_bytes()[DEPTH], b'0');
    assert!(text.starts_with("((((") && text.ends_with("))))"));
    drop(back);
    drop(value);
}

#[test]
fn ten_million_long_codepoint_chain_drops() {
    let mut cp = CodePoint::err();
    for i in 0..DEPTH {
        cp = CodePoint::dynamic((i % 256) as u8, None, cp);
    }
    let with_deep_immediate = CodePoint::dynamic(0x3b, Some(nest(1_000_000)), cp.clone());
    assert_eq!(with_deep_immediate.next_hash(), cp.hash());
    drop(cp);
    drop(with_deep_immediate);
}

#[test]
fn loader_reads_a_million_deep_static_value() {
    const LEVELS: usize = 1_000_000;
    let mut json = String::from(r#"{"code": [{"opcode": 116, "immediate": null}], "static_val": "#);
    json.push_str(&r#"{"Tuple": ["#.repeat(LEVELS));
    json.push_str(r#"{"Int": "0"}"#);
    json.push_str(&"]}".repeat(LEVELS));
    json.push('}');
    let program = mexe::load(json.as_bytes()).unwrap();
    assert_eq!(program.static_value().hash(), expected_nest_hash(LEVELS));
}
