//! Every rejection of MEXE.md §6 is a typed error naming where and why; nothing panics.

use avm_runtime::error::{Location, MexeError};
use avm_runtime::hash::ERR_CODEPOINT_HASH;
use avm_runtime::{Error, Value, mexe};

const HALT: &str = r#"{"opcode": 116, "immediate": null}"#;

fn program(code: &str, static_val: &str) -> String {
    format!(r#"{{"code": [{code}], "static_val": {static_val}}}"#)
}

fn rejected(json: &str) -> (Location, MexeError) {
    match mexe::load(json.as_bytes()) {
        Err(Error::Mexe { at, reason }) => (at, reason),
        other => panic!("expected a .mexe error for {json}, got {other:?}"),
    }
}

fn with_immediate(imm: &str) -> String {
    program(
        &format!(r#"{{"opcode": 59, "immediate": {imm}}}, {HALT}"#),
        r#"{"Tuple": []}"#,
    )
}

#[test]
fn malformed_json_reports_line_and_column() {
    match mexe::load(b"{\"code\": [\n  {\"opcode\": 1,,}]}") {
        Err(Error::Json { line, .. }) => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn top_level_shape() {
    assert_eq!(rejected("[]"), (Location::File, MexeError::NotAnObject));
    assert_eq!(
        rejected(r#"{"static_val": {"Tuple": []}}"#),
        (Location::File, MexeError::MissingKey("code"))
    );
    assert_eq!(
        rejected(&format!(r#"{{"code": [{HALT}]}}"#)),
        (Location::File, MexeError::MissingKey("static_val"))
    );
    assert!(matches!(
        rejected(r#"{"code": {}, "static_val": {"Tuple": []}}"#).1,
        MexeError::Expected(_)
    ));
    assert_eq!(
        rejected(&program(&format!("{HALT}, 7"), r#"{"Tuple": []}"#)),
        (
            Location::Instruction(1),
            MexeError::Expected("an instruction object")
        )
    );
}

#[test]
fn instruction_keys() {
    let tuple = r#"{"Tuple": []}"#;
    assert_eq!(
        rejected(&program(r#"{"immediate": null}"#, tuple)),
        (Location::Instruction(0), MexeError::MissingKey("opcode"))
    );
    assert_eq!(
        rejected(&program(&format!(r#"{HALT}, {{"opcode": 1}}"#), tuple)),
        (Location::Instruction(1), MexeError::MissingKey("immediate"))
    );
    for bad in [
        "256",
        "-1",
        "1.5",
        "\"1\"",
        "null",
        r#"{"AVMOpcode": 300}"#,
        r#"{"Other": 1}"#,
    ] {
        let json = program(&format!(r#"{{"opcode": {bad}, "immediate": null}}"#), tuple);
        assert!(
            matches!(
                rejected(&json),
                (Location::Instruction(0), MexeError::BadOpcode(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn values() {
    let at = Location::Instruction(0);
    assert_eq!(
        rejected(&with_immediate(r#"{"Foo": "1"}"#)),
        (at, MexeError::UnknownTag("Foo".into()))
    );
    let nine = [r#"{"Int": "0"}"#; 9].join(",");
    assert_eq!(
        rejected(&with_immediate(&format!(r#"{{"Tuple": [{nine}]}}"#))),
        (at, MexeError::TupleTooLong(9))
    );
    for bad in ["", "xyz", "0x10", "1 2", "+5"] {
        assert_eq!(
            rejected(&with_immediate(&format!(r#"{{"Int": "{bad}"}}"#))),
            (at, MexeError::BadHex(bad.into()))
        );
    }
    let wide = format!(r#"{{"Int": "1{}"}}"#, "0".repeat(64));
    assert_eq!(
        rejected(&with_immediate(&wide)),
        (at, MexeError::IntTooWide)
    );
    for bad in ["abc", "+5", "0+", "0x00"] {
        assert_eq!(
            rejected(&with_immediate(&format!(r#"{{"Buffer": "{bad}"}}"#))),
            (at, MexeError::BadHex(bad.into())),
            "{bad}"
        );
    }
    for bad in ["-1", "1.5", "\"3\"", "18446744073709551616"] {
        let json = with_immediate(&format!(r#"{{"CodePoint": {{"Internal": {bad}}}}}"#));
        assert!(
            matches!(rejected(&json), (_, MexeError::BadInternal(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        rejected(&with_immediate(r#"{"CodePoint": {"External": 1}}"#)).1,
        MexeError::UnknownTag(_)
    ));
}

#[test]
fn codepoint_references_only_point_forward_in_code() {
    let backward = with_immediate(r#"{"CodePoint": {"Internal": 0}}"#);
    assert_eq!(
        rejected(&backward),
        (
            Location::Instruction(0),
            MexeError::ReferenceOutOfRange {
                target: 0,
                min: 1,
                max: 2
            }
        )
    );
    let past_end = with_immediate(r#"{"CodePoint": {"Internal": 3}}"#);
    assert!(matches!(
        rejected(&past_end).1,
        MexeError::ReferenceOutOfRange { target: 3, .. }
    ));
    let static_past_end = program(HALT, r#"{"CodePoint": {"Internal": 2}}"#);
    assert_eq!(
        rejected(&static_past_end),
        (
            Location::Static,
            MexeError::ReferenceOutOfRange {
                target: 2,
                min: 0,
                max: 1
            }
        )
    );
}

#[test]
fn accepted_forms() {
    // The static value may point anywhere, N = n and the marker both mean ERR, opcodes may be
    // `{"AVMOpcode": n}`, Ints may carry leading zeros and upper-case digits.
    let json = program(
        &format!(
            r#"{{"opcode": {{"AVMOpcode": 59}}, "immediate": {{"Tuple": [{{"CodePoint": {{"Internal": 2}}}}, {{"CodePoint": {{"Internal": 18446744073709551615}}}}]}}, "debug_info": {{"x": [1, {{}}]}}}}, {HALT}"#
        ),
        &format!(
            r#"{{"Tuple": [{{"CodePoint": {{"Internal": 0}}}}, {{"Int": "{}FF"}}, {{"Buffer": "0100"}}]}}"#,
            "0".repeat(70)
        ),
    );
    let program = mexe::load(json.as_bytes()).unwrap();
    assert_eq!(program.len(), 2);
    let Some(Value::Tuple(imm)) = program.codepoint(0).immediate() else {
        panic!()
    };
    for slot in imm.slots() {
        assert_eq!(slot.hash(), *ERR_CODEPOINT_HASH);
    }
    let Value::Tuple(st) = program.static_value() else {
        panic!()
    };
    assert_eq!(st.get(1), Some(&Value::int(255u64)));
    assert!(
        mexe::load(br#"{"code": [], "static_val": {"Int": "0"}}"#)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn missing_file_is_an_io_error() {
    match mexe::load_file("/nonexistent/program.mexe") {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("/nonexistent/program.mexe")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_mexe_is_one_object_with_each_key_once() {
    let good = program(HALT, r#"{"Tuple": []}"#);
    assert!(mexe::load(good.as_bytes()).is_ok());
    for trailing in [" {}", "x", " 1", "]"] {
        let result = mexe::load(format!("{good}{trailing}").as_bytes());
        assert!(
            matches!(
                result,
                Err(Error::Json { .. }
                    | Error::Mexe {
                        reason: MexeError::TrailingText,
                        ..
                    })
            ),
            "{trailing}: {result:?}"
        );
    }
    assert!(
        mexe::load(format!("{good}\n\n").as_bytes()).is_ok(),
        "whitespace is fine"
    );
    let twice = format!(r#"{{"code": [{HALT}], "code": [], "static_val": {{"Tuple": []}}}}"#);
    assert_eq!(
        rejected(&twice),
        (Location::File, MexeError::DuplicateKey("code".into()))
    );
    let twice = format!(r#"{{"x": 1, "x": 2, "code": [{HALT}], "static_val": {{"Tuple": []}}}}"#);
    assert_eq!(rejected(&twice).1, MexeError::DuplicateKey("x".into()));
    let instruction = program(
        r#"{"opcode": 116, "opcode": 1, "immediate": null}"#,
        r#"{"Tuple": []}"#,
    );
    assert_eq!(
        rejected(&instruction),
        (
            Location::Instruction(0),
            MexeError::DuplicateKey("opcode".into())
        )
    );
}

#[test]
fn a_byte_order_mark_is_allowed_and_empty_sources_are_not() {
    let good = program(HALT, r#"{"Tuple": []}"#);
    let with_bom = [b"\xef\xbb\xbf".as_slice(), good.as_bytes()].concat();
    assert!(mexe::load(&with_bom).is_ok());
    assert!(avm_runtime::Program::from_source(&with_bom).is_ok());
    assert!(avm_runtime::Program::from_source(b"\xef\xbb\xbfhalt\n").is_ok());
    for empty in [&b""[..], b"  \n\t\n", b"\xef\xbb\xbf"] {
        assert!(
            matches!(
                avm_runtime::Program::from_source(empty),
                Err(Error::EmptySource)
            ),
            "{empty:?}"
        );
    }
    assert!(matches!(
        avm_runtime::asm::assemble("; only a comment\n"),
        Err(Error::Asm { .. })
    ));
}

#[test]
fn inputs_are_read_up_to_a_bound() {
    let path = std::env::temp_dir().join(format!("avm-too-large-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(avm_runtime::MAX_INPUT_BYTES + 1).unwrap();
    drop(file);
    match mexe::load_file(&path) {
        Err(Error::TooLarge { limit, .. }) => assert_eq!(limit, avm_runtime::MAX_INPUT_BYTES),
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(&path).unwrap();
}
