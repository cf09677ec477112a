//! Value hashing and marshaling vectors (VECTORS.md §1–§3).

mod common;

use avm_runtime::hash::{EMPTY_TUPLE_HASH, ERR_CODEPOINT_HASH, hash_preimage};
use avm_runtime::marshal::{marshal, proof_marshal, unmarshal};
use avm_runtime::{CodePoint, Tuple, U256, Value};
use common::{h, unhex};

const NEXT: &str = "66214d20380418b741102a579e516247a7ac97585f0c22a5b3658f9df6dab77c";

fn int(x: u64) -> Value {
    Value::int(x)
}

fn tup(slots: Vec<Value>) -> Value {
    Value::tuple(slots)
}

/// The 15 entries of `test_cases.json`, built as values, with their expected hashes (facts
/// copied from the vectors so that they are checked even without the corpus).
fn literal_vectors() -> Vec<(&'static str, Value, &'static str)> {
    let simple = || tup(vec![int(5), int(2), int(6)]);
    // VECTORS.md abridges these two; the bytes of test_cases.json hold four slots each.
    let nested = || tup(vec![int(5), simple(), int(6), simple()]);
    let zeros = |n| Value::Tuple(Tuple::zeros(n));
    vec![
        (
            "int",
            int(10),
            "c65a7bb8d6351c1cf70c95a316cc6a92839c986682d98bc35f958f4883f9d2a8",
        ),
        (
            "simple codepoint",
            Value::CodePoint(CodePoint::detached(8, None, h(NEXT))),
            "d7b6562dc184f5505ad7408c1da663e3092cce76ebace7c7b4a9e4422a04ab4b",
        ),
        (
            "immediate codepoint",
            Value::CodePoint(CodePoint::detached(8, Some(simple()), h(NEXT))),
            "c082d8d772211ab706bb2277039a3eaa2fa3a941cc58462fbbc00ffe62539930",
        ),
        (
            "tup0",
            zeros(0),
            "5dfd744753c13a6de9cf0e9e3d0164cdf0b1bbdb5efb3660a684d46477176058",
        ),
        (
            "tup1",
            zeros(1),
            "2a8f4ba075caedbd99c272a27401e41bb284440072d43f5f9fef39a6614af4e2",
        ),
        (
            "tup2",
            zeros(2),
            "73f8265778d49893306537e33dde465258f541ae702c268f5a5db5d144c3c29c",
        ),
        (
            "tup3",
            zeros(3),
            "80bf91db80385696d94aff140b59fa3c4538dc2df09aa16b932e16eba15c2156",
        ),
        (
            "tup4",
            zeros(4),
            "ab867e60be5040c95d4e11c0c1c1c37bede69f15cbc1a82f50f4fe893099f333",
        ),
        (
            "tup5",
            zeros(5),
            "1b3fc18066146e7be513b909a78e728a57837146df860f867236000e4e72a233",
        ),
        (
            "tup6",
            zeros(6),
            "8940970ad21032a8af292021aa6957a414e0221edb73255ca55907b0876b9281",
        ),
        (
            "tup7",
            zeros(7),
            "d35d917ea081947f9cef5ac39c2867d177dfd3bd9a292b81103b6aef7270c872",
        ),
        (
            "tup8",
            zeros(8),
            "cc9028263ecc40d4f47bf40d33eae4b3e7091315fa658fc2938b301af7aa8eb6",
        ),
        (
            "simple_tup",
            simple(),
            "7671917122161c2003a90ab7bddc4d16a0feacadcd1bb4bc0a4cb700c154f728",
        ),
        (
            "nested_tup",
            nested(),
            "bc85479108e94cd63b06260a8d5d346b8c56717836a5274b596b475077ece5a8",
        ),
        (
            "double_nested_tup",
            tup(vec![nested(), simple(), nested(), simple()]),
            "49ab4213afbca2a70d56783784f86407cea2607b9a180eda0fecde7b5960c350",
        ),
    ]
}

#[test]
fn literal_value_hashes() {
    for (name, value, hash) in literal_vectors() {
        assert_eq!(value.hash(), h(hash), "{name}");
        let bytes = marshal(&value).unwrap();
        let back = unmarshal(&bytes).unwrap();
        assert_eq!(back.hash(), h(hash), "{name} after a round trip");
        assert_eq!(
            marshal(&back).unwrap(),
            bytes,
            "{name} re-marshals identically"
        );
    }
}

#[test]
fn test_cases_json_from_corpus() {
    let Some(shared) = common::shared("test_cases_json_from_corpus") else {
        return;
    };
    let text = std::fs::read_to_string(shared.join("corpus/vectors/test_cases.json")).unwrap();
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 15);
    let literal = literal_vectors();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = unhex(case["value"].as_str().unwrap());
        let value = unmarshal(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(value.hash(), h(case["hash"].as_str().unwrap()), "{name}");
        assert_eq!(marshal(&value).unwrap(), bytes, "{name} round trip");
        let mut proof = Vec::new();
        proof_marshal(&value, 255, &mut proof);
        assert_eq!(
            proof,
            unhex(case["proof_value"].as_str().unwrap()),
            "{name} proof form"
        );
        let (_, expected, _) = literal
            .iter()
            .find(|(n, _, _)| *n == name)
            .expect("named in the literal list");
        assert!(
            value == *expected,
            "{name}: the corpus entry is the literal vector"
        );
    }
}

#[test]
fn constants_of_vectors_section_3() {
    assert_eq!(
        *ERR_CODEPOINT_HASH,
        h("b4c00615f95dc249934075fcc669947596baf6e070ac80a59f79dae98aa932f0")
    );
    assert_eq!(
        *EMPTY_TUPLE_HASH,
        h("5dfd744753c13a6de9cf0e9e3d0164cdf0b1bbdb5efb3660a684d46477176058")
    );
    assert_eq!(
        tup(vec![int(5), Value::none()]).hash(),
        h("55bfbdc75cf90eb3ad8a6ba0e029fb5e4fe7606ad0c9ef598a0815f755a63006")
    );
    // Stacks hash as nested pairs (v, rest) with () at the bottom (AVM.md §2.5).
    let one = tup(vec![int(1), Value::none()]);
    assert_eq!(
        one.hash(),
        h("c06c1e0ab1fde965934546068ec3325001234b92c667541f71535192f3c463c7")
    );
    let two = tup(vec![int(2), one]);
    assert_eq!(
        two.hash(),
        h("6c39a8bd47aec5dbb4c421ced6dfe4b70b2cb5953621665aa5d2100b7e103c49")
    );
    let seven = tup(vec![int(7), Value::none()]);
    let Value::Tuple(t) = &seven else {
        unreachable!()
    };
    let pre = t.preimage();
    assert_eq!(
        pre.inner,
        h("544fdfbf64bf6ec8a43a68f3ebd764c2a367a0b642b2d5acc91279d891aceb3d")
    );
    assert_eq!(pre.size, U256::from(3));
    assert_eq!(
        hash_preimage(&pre.inner, &pre.size),
        h("4f9bdb1af7edd2f43106d1a9c0bcdef6e1b98ccaf7d2c2c3b6fc40388a1dbf43")
    );
}

#[test]
fn tuple_preimages_of_avm_section_2_2() {
    let cases = [
        (
            tup(vec![]),
            "bc36789e7a1e281436464229828f817d6612f7b477d66591ff96a9e064bcc98a",
            1,
        ),
        (
            tup(vec![int(1), int(2)]),
            "bd3b886874dc1dd044c1c2b760f081ea4ef4a5a89f5278e38da10a0e938fdf74",
            3,
        ),
        (
            tup(vec![Value::none()]),
            "651e4547e46a0bd43a071447d954467bb9aa861b9133954c10ad0ff47c08c033",
            2,
        ),
    ];
    for (value, inner, size) in cases {
        let Value::Tuple(t) = &value else {
            unreachable!()
        };
        assert_eq!(t.preimage().inner, h(inner));
        assert_eq!(t.size(), U256::from(size));
    }
}

#[test]
fn sizes_wrap_at_2_256() {
    // Eight copies of the previous level, 86 levels deep, exceeds 2^256 (AVM.md §1.3).
    let mut value = int(0);
    let mut size = U256::one();
    for _ in 0..90 {
        value = Value::Tuple(Tuple::new(vec![value; 8]));
        size = size
            .overflowing_mul(U256::from(8))
            .0
            .overflowing_add(U256::one())
            .0;
    }
    assert_eq!(value.size(), size);
    let _ = value.hash();
}
