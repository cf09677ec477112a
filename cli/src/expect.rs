//! `--expect FILE`: compares a run's report with what a recording says it must be.
//!
//! The file is in the format of the corpus's `*.expect.json`: an object whose `expected` member
//! holds the fields (an object of just the fields is taken too). Each field names a field of
//! the run's JSON report ([`crate::run`]) and is compared with it; `machine_hash_when_blocked`
//! is the report's `machine_hash`. Numbers compare by value whether written as numbers or
//! decimal strings, hex strings without regard to case. A field the report does not have is an
//! error, not a silent pass, so a misspelled expectation cannot hide a mismatch.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::out::Failure;
use crate::read_file;

/// The report fields an expectation may name, with the report's name for each.
const FIELDS: [(&str, &str); 15] = [
    ("status", "status"),
    ("block_reason", "block_reason"),
    ("stopped_by", "stopped_by"),
    ("steps", "steps"),
    ("gas", "gas"),
    ("machine_hash", "machine_hash"),
    ("machine_hash_when_blocked", "machine_hash"),
    ("inbox_consumed", "inbox_consumed"),
    ("inbox_acc", "inbox_acc"),
    ("log_count", "log_count"),
    ("log_hashes", "log_hashes"),
    ("log_acc", "log_acc"),
    ("send_count", "send_count"),
    ("sends", "sends"),
    ("send_acc", "send_acc"),
];

/// What a run is expected to report.
#[derive(Debug)]
pub struct Expectation {
    path: PathBuf,
    /// The expected fields, each with the report field it is compared with.
    fields: Vec<(String, &'static str, Value)>,
}

/// A field whose value differs from the expectation.
#[derive(Debug, PartialEq)]
pub struct Difference {
    /// The expectation's name for it.
    pub field: String,
    /// What the file says.
    pub expected: Value,
    /// What the run reported (`null` when it has no such field, e.g. `block_reason` of a halt).
    pub actual: Value,
}

impl Difference {
    /// One line saying what differs; for lists, their lengths and the first element that
    /// differs rather than both lists whole.
    pub fn describe(&self) -> String {
        let field = &self.field;
        let (Value::Array(expected), Value::Array(actual)) = (&self.expected, &self.actual) else {
            return format!("{field}: expected {}, got {}", self.expected, self.actual);
        };
        let lengths = match expected.len() == actual.len() {
            true => format!("{} each", expected.len()),
            false => format!("{} expected, {} got", expected.len(), actual.len()),
        };
        let at = (0..expected.len().max(actual.len()))
            .find(
                |&i| !matches!((expected.get(i), actual.get(i)), (Some(a), Some(b)) if same(a, b)),
            )
            .unwrap_or_default();
        let show = |v: Option<&Value>| v.map_or("nothing".to_string(), Value::to_string);
        format!(
            "{field}: {lengths}; first difference at [{at}]: expected {}, got {}",
            show(expected.get(at)),
            show(actual.get(at))
        )
    }
}

impl Expectation {
    /// Reads and checks an expectation file.
    pub fn load(path: &Path) -> Result<Expectation, Failure> {
        let bytes = read_file(path)?;
        let bad = |why: String| Failure::engine(path.display().to_string(), why);
        let document: Value = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not an expectation file: {e}")))?;
        let fields = match document.get("expected") {
            Some(Value::Object(fields)) => fields,
            Some(_) => return Err(bad("`expected` is not an object".into())),
            None => document
                .as_object()
                .ok_or_else(|| bad("not a JSON object".into()))?,
        };
        Ok(Expectation {
            path: path.to_path_buf(),
            fields: Self::known(fields).map_err(bad)?,
        })
    }

    /// The fields of `fields`, each with its report field; an unknown name is an error.
    fn known(fields: &Map<String, Value>) -> Result<Vec<(String, &'static str, Value)>, String> {
        if fields.is_empty() {
            return Err("the expectation names no field".into());
        }
        fields
            .iter()
            .map(|(name, value)| {
                let report = FIELDS
                    .iter()
                    .find(|(known, _)| known == name)
                    .map(|(_, report)| *report)
                    .ok_or_else(|| format!("unknown field `{name}`"))?;
                Ok((name.clone(), report, value.clone()))
            })
            .collect()
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many fields it checks.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// The fields of `report` (a run's JSON report) that differ from the expectation.
    pub fn differences(&self, report: &Value) -> Vec<Difference> {
        self.fields
            .iter()
            .filter_map(|(field, name, expected)| {
                let actual = report.get(*name).cloned().unwrap_or(Value::Null);
                (!same(expected, &actual)).then(|| Difference {
                    field: field.clone(),
                    expected: expected.clone(),
                    actual,
                })
            })
            .collect()
    }

    /// The verdict as a JSON object for the report: the file, whether it matched, and each
    /// difference.
    pub fn verdict_json(&self, differences: &[Difference]) -> Value {
        json!({
            "file": self.path.display().to_string(),
            "fields": self.fields.len(),
            "matches": differences.is_empty(),
            "differences": differences.iter().map(|d| json!({
                "field": d.field,
                "expected": d.expected,
                "actual": d.actual,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Whether an expected value and a reported one say the same: numbers by value (a number or a
/// decimal string), strings without regard to case (hex), lists element by element.
fn same(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        (Value::Number(_) | Value::String(_), Value::Number(_) | Value::String(_)) => {
            match (decimal(expected), decimal(actual)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            }
        }
        _ => expected == actual,
    }
}

/// The value of a non-negative integer written as a JSON number or a decimal string.
fn decimal(value: &Value) -> Option<u128> {
    match value {
        Value::Number(n) => n.as_u64().map(u128::from),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expectation(fields: Value) -> Result<Expectation, String> {
        Ok(Expectation {
            path: PathBuf::from("test.expect.json"),
            fields: Expectation::known(fields.as_object().unwrap())?,
        })
    }

    #[test]
    fn numbers_compare_by_value_and_hex_without_case() {
        let e = expectation(json!({"gas": 17019, "steps": "12", "log_acc": "0xABcd"})).unwrap();
        let report = json!({"gas": "17019", "steps": 12, "log_acc": "0xabCD"});
        assert_eq!(e.differences(&report), []);
        let report = json!({"gas": 17018, "steps": 12, "log_acc": "0xabce"});
        let fields: Vec<_> = e
            .differences(&report)
            .into_iter()
            .map(|d| d.field)
            .collect();
        assert_eq!(fields, ["gas", "log_acc"]);
    }

    #[test]
    fn the_hash_when_blocked_is_the_reported_machine_hash() {
        let e = expectation(json!({"machine_hash_when_blocked": "0x01"})).unwrap();
        assert_eq!(e.differences(&json!({"machine_hash": "0x01"})), []);
        let missing = e.differences(&json!({}));
        assert_eq!(missing[0].actual, Value::Null);
    }

    #[test]
    fn lists_compare_element_by_element() {
        let e = expectation(json!({"log_hashes": ["0xAA", "0xbb"]})).unwrap();
        assert_eq!(e.differences(&json!({"log_hashes": ["0xaa", "0xBB"]})), []);
        assert_eq!(e.differences(&json!({"log_hashes": ["0xaa"]})).len(), 1);
    }

    #[test]
    fn a_list_difference_names_its_first_differing_element() {
        let e = expectation(json!({"log_hashes": ["0xaa", "0xbb"]})).unwrap();
        let d = e.differences(&json!({"log_hashes": ["0xaa", "0xcc", "0xdd"]}));
        assert_eq!(
            d[0].describe(),
            r#"log_hashes: 2 expected, 3 got; first difference at [1]: expected "0xbb", got "0xcc""#
        );
    }

    #[test]
    fn unknown_or_no_fields_are_refused() {
        assert!(
            expectation(json!({"stepz": 1}))
                .unwrap_err()
                .contains("stepz")
        );
        assert!(expectation(json!({})).is_err());
    }
}
