//! Inputs the byte-level fuzz targets once reported, kept as regressions of the targets' checks.

use avm_fuzzing::targets;

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A buffer spelled with trailing zero bytes is the same value as without them (AVM.md §1.2), so
/// marshaling it back drops them. The first finding: a buffer at the top level.
#[test]
fn buffer_with_trailing_zeros_round_trips_to_its_canonical_form() {
    let x = unhex(&format!("0c{:064x}010200", 3));
    assert_eq!(targets::unmarshal(&x), Ok(()));
}

/// The second finding: such a buffer inside a codepoint's immediate, inside a deep nest.
#[test]
fn buffer_inside_a_codepoint_immediate() {
    let x = unhex(
        "04060304040404040404040404040404040403040406030404040404040404040404040404040404040404040604040404040101010101060c000000000000000000000000000000000000000000000000000000000000002500010000000100070000040000ffff0433333333333334000000060a0000000000000000000000000000000000000000000000000000000000000000000000000000000404040404040404000000000000000000000000002500010000000100070000040000ffff0433333333333334000000060a000004040404040404040404040404040404040404040404030403",
    );
    assert_eq!(targets::unmarshal(&x), Ok(()));
}

/// Bytes after a whole value are rejected by the unmarshaller (a typed error), never decoded.
#[test]
fn trailing_bytes_are_a_typed_error_not_a_finding() {
    // An Int marshals to exactly 33 bytes; a trailing byte is rejected by the loader instead.
    let x = unhex(&format!("00{:064x}00", 5));
    assert_eq!(
        targets::unmarshal(&x),
        Ok(()),
        "trailing bytes are a typed error, not a value"
    );
}
