//! Source locations of a `.mexe`: where in the Mini source each instruction came from.
//!
//! The arb-os compiler writes, beside each instruction, `"debug_info": {"location": {"line",
//! "column", "absolute", "file_id"} | null, …}` (older emitters: a `"location"` key on the
//! instruction itself), and at the top level a chart from file id (a decimal string) to a
//! module or file name: `"file_info_chart"` (older: `"file_name_chart"`). The loader ignores
//! all of it (MEXE.md §1, §2); [`source_map`] reads it in a second pass, only for the tools
//! that want it (the profiler), so loading a program never pays for it.

use std::collections::HashMap;

use json_event_parser::JsonEvent;

use super::{read_code, read_members};
use crate::error::{Error, Location, MexeError, Result};
use crate::json::Events;

/// Where one instruction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceLocation {
    /// Index into [`SourceMap::files`].
    pub file: u32,
    /// 1-based source line, as the compiler wrote it.
    pub line: u32,
    /// Source column, as the compiler wrote it.
    pub column: u32,
}

/// The source locations of a program's instructions and the names of their files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMap {
    /// File names: those of the file chart in document order, then, for a file id that
    /// locations use and the chart lacks, `file <id>`.
    pub files: Vec<String>,
    /// Per loaded pc (`code` index), the instruction's own location, if the file gives one.
    pub locations: Vec<Option<SourceLocation>>,
}

impl SourceMap {
    /// The location of instruction `pc`, if it has one (`None` past the code, too).
    pub fn location(&self, pc: usize) -> Option<SourceLocation> {
        self.locations.get(pc).copied().flatten()
    }

    /// The name of file `file` (an index from a [`SourceLocation`]).
    pub fn file_name(&self, file: u32) -> &str {
        &self.files[file as usize]
    }

    /// Whether any instruction has a location.
    pub fn has_locations(&self) -> bool {
        self.locations.iter().any(Option::is_some)
    }
}

/// A location as written: the file is still the compiler's 64-bit id.
#[derive(Clone, Copy)]
struct RawLocation {
    file_id: u64,
    line: u32,
    column: u32,
}

/// Reads the source locations and file chart of a `.mexe` document (after an optional UTF-8
/// byte order mark). Instructions without a location, and files without any, are not errors;
/// a location or chart of the wrong shape is a [`Error::Mexe`], and JSON that does not parse
/// an [`Error::Json`].
pub fn source_map(json: &[u8]) -> Result<SourceMap> {
    let json = json.strip_prefix(crate::BOM).unwrap_or(json);
    let mut events = Events::new(json);
    let at = Location::File;
    if events.next()? != JsonEvent::StartObject {
        return Err(Error::mexe(at, MexeError::NotAnObject));
    }
    let mut code = None;
    let mut chart = Vec::new();
    read_members(&mut events, at, MexeError::NotAnObject, |events, key| {
        match key {
            "code" => code = Some(read_code(events, read_instruction)?),
            "file_info_chart" | "file_name_chart" => read_chart(events, &mut chart)?,
            _ => events.skip_value()?,
        }
        Ok(())
    })?;
    let code = code.ok_or(Error::mexe(at, MexeError::MissingKey("code")))?;
    Ok(resolve(&code, chart))
}

/// Gives each file id an index: the chart's files in order, then ids the chart lacks.
fn resolve(code: &[Option<RawLocation>], chart: Vec<(u64, String)>) -> SourceMap {
    let mut index: HashMap<u64, u32> = HashMap::new();
    let mut files = Vec::new();
    for (id, name) in chart {
        index.entry(id).or_insert_with(|| {
            files.push(name);
            (files.len() - 1) as u32
        });
    }
    let locations = code
        .iter()
        .map(|raw| {
            raw.map(|raw| SourceLocation {
                file: *index.entry(raw.file_id).or_insert_with(|| {
                    files.push(format!("file {}", raw.file_id));
                    (files.len() - 1) as u32
                }),
                line: raw.line,
                column: raw.column,
            })
        })
        .collect();
    SourceMap { files, locations }
}

/// The location of one instruction: `debug_info.location`, or a `location` key of its own.
fn read_instruction(events: &mut Events<'_>, at: Location) -> Result<Option<RawLocation>> {
    let mut location = None;
    let not_a_key = MexeError::Expected("an instruction object");
    read_members(events, at, not_a_key, |events, key| {
        match key {
            "debug_info" => location = location.or(read_debug_info(events, at)?),
            "location" => location = location.or(read_location(events, at)?),
            _ => events.skip_value()?,
        }
        Ok(())
    })?;
    Ok(location)
}

/// `{"location": …, "attributes": …}` (or `null`): the location, other keys skipped.
fn read_debug_info(events: &mut Events<'_>, at: Location) -> Result<Option<RawLocation>> {
    if !null_or_object(events, at, "`debug_info` to be an object")? {
        return Ok(None);
    }
    let mut location = None;
    let not_a_key = MexeError::Expected("a `debug_info` key");
    read_members(events, at, not_a_key, |events, key| {
        match key {
            "location" => location = read_location(events, at)?,
            _ => events.skip_value()?,
        }
        Ok(())
    })?;
    Ok(location)
}

/// Reads the start of a value that may be `null` (false) or an object (true, its `{` read);
/// anything else is an error expecting `expected`.
fn null_or_object(events: &mut Events<'_>, at: Location, expected: &'static str) -> Result<bool> {
    match events.next()? {
        JsonEvent::Null => Ok(false),
        JsonEvent::StartObject => Ok(true),
        _ => Err(Error::mexe(at, MexeError::Expected(expected))),
    }
}

/// `null`, or `{"line": L, "column": C, "file_id": F, …}` with unsigned integers (other keys,
/// such as `absolute`, skipped).
fn read_location(events: &mut Events<'_>, at: Location) -> Result<Option<RawLocation>> {
    if !null_or_object(events, at, "a location to be an object or null")? {
        return Ok(None);
    }
    let (mut line, mut column, mut file_id) = (None, None, None);
    let not_a_key = MexeError::Expected("a location key");
    read_members(events, at, not_a_key, |events, key| {
        match key {
            "line" => line = Some(read_number(events, at)?),
            "column" => column = Some(read_number(events, at)?),
            "file_id" => file_id = Some(read_number(events, at)?),
            _ => events.skip_value()?,
        }
        Ok(())
    })?;
    let missing = |key| Error::mexe(at, MexeError::MissingKey(key));
    let narrow = |n: u64| {
        u32::try_from(n)
            .map_err(|_| Error::mexe(at, MexeError::Expected("a line and column below 2^32")))
    };
    Ok(Some(RawLocation {
        file_id: file_id.ok_or(missing("file_id"))?,
        line: narrow(line.ok_or(missing("line"))?)?,
        column: narrow(column.ok_or(missing("column"))?)?,
    }))
}

/// An unsigned 64-bit JSON integer, read exactly (file ids exceed an f64's integers).
fn read_number(events: &mut Events<'_>, at: Location) -> Result<u64> {
    match events.next()? {
        JsonEvent::Number(n) => n.parse().map_err(|_| {
            Error::mexe(
                at,
                MexeError::Expected("a location's numbers to be unsigned 64-bit integers"),
            )
        }),
        _ => Err(Error::mexe(
            at,
            MexeError::Expected("a location's numbers to be integers"),
        )),
    }
}

/// `{"<decimal file id>": "name", …}`, appended to `chart`. A value may also be an object with
/// a string `name` (other keys skipped).
fn read_chart(events: &mut Events<'_>, chart: &mut Vec<(u64, String)>) -> Result<()> {
    let at = Location::File;
    let shape = MexeError::Expected("a file chart mapping file ids to names");
    if events.next()? != JsonEvent::StartObject {
        return Err(Error::mexe(at, shape));
    }
    read_members(events, at, shape.clone(), |events, key| {
        let id = key
            .parse::<u64>()
            .map_err(|_| Error::mexe(at, shape.clone()))?;
        chart.push((id, read_file_name(events, at)?));
        Ok(())
    })
}

/// A chart entry: `"name"` or `{"name": "name", …}`.
fn read_file_name(events: &mut Events<'_>, at: Location) -> Result<String> {
    let shape = || {
        Error::mexe(
            at,
            MexeError::Expected("a file chart mapping file ids to names"),
        )
    };
    match events.next()? {
        JsonEvent::String(name) => Ok(name.into_owned()),
        JsonEvent::StartObject => {
            let mut name = None;
            loop {
                match events.next()? {
                    JsonEvent::EndObject => return name.ok_or_else(shape),
                    JsonEvent::ObjectKey(key) if key == "name" && name.is_none() => {
                        match events.next()? {
                            JsonEvent::String(text) => name = Some(text.into_owned()),
                            _ => return Err(shape()),
                        }
                    }
                    JsonEvent::ObjectKey(_) => events.skip_value()?,
                    _ => return Err(shape()),
                }
            }
        }
        _ => Err(shape()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two files, three instructions: located, `null`, located in the other file; the chart
    /// after the code, as arb-os writes it, and one deeply nested immediate to skip.
    const TWO_FILES: &str = r#"{
        "arbos_version": 58,
        "code": [
            {"opcode": 59, "immediate": {"Tuple": [{"Tuple": [{"Int": "1"}]}]},
             "debug_info": {"location": {"line": 3, "column": 5, "absolute": 40,
                                         "file_id": 18315375561174092854},
                            "attributes": {"breakpoint": false}}},
            {"opcode": 1, "immediate": null,
             "debug_info": {"location": null, "attributes": {"breakpoint": false}}},
            {"opcode": 116, "immediate": null,
             "debug_info": {"location": {"line": 12, "column": 1, "absolute": 99,
                                         "file_id": 7}, "attributes": {}}}
        ],
        "static_val": {"Tuple": []},
        "file_info_chart": {"7": "std::queue", "18315375561174092854": "main"}
    }"#;

    #[test]
    fn reads_locations_and_file_names() {
        let map = source_map(TWO_FILES.as_bytes()).unwrap();
        assert_eq!(map.files, ["std::queue", "main"]);
        assert_eq!(map.locations.len(), 3);
        let main = map.location(0).unwrap();
        assert_eq!(
            (map.file_name(main.file), main.line, main.column),
            ("main", 3, 5)
        );
        assert_eq!(map.location(1), None);
        let queue = map.location(2).unwrap();
        assert_eq!((map.file_name(queue.file), queue.line), ("std::queue", 12));
        assert_eq!(map.location(3), None, "past the code");
        assert!(map.has_locations());
    }

    #[test]
    fn a_file_missing_from_the_chart_is_named_by_its_id() {
        let json = TWO_FILES.replace(r#""7": "std::queue", "#, "");
        let map = source_map(json.as_bytes()).unwrap();
        assert_eq!(map.files, ["main", "file 7"]);
        assert_eq!(map.file_name(map.location(2).unwrap().file), "file 7");
    }

    #[test]
    fn older_emitters_location_key_and_file_name_chart_are_read() {
        let json = r#"{"code": [{"opcode": 1, "immediate": null,
            "location": {"line": 10, "column": 2, "absolute": 1, "file_id": 5}},
            {"opcode": 1, "immediate": null}],
            "static_val": {"Tuple": []}, "file_name_chart": {"5": "builtin/kvs.mini"}}"#;
        let map = source_map(json.as_bytes()).unwrap();
        assert_eq!(map.files, ["builtin/kvs.mini"]);
        assert_eq!(map.location(0).map(|l| l.line), Some(10));
        assert_eq!(map.location(1), None);
    }

    #[test]
    fn a_program_without_debug_info_has_no_locations() {
        let json = r#"{"version": 2, "code": [{"opcode": 1, "immediate": null}],
            "static_val": {"Tuple": []}, "extensions": []}"#;
        let map = source_map(json.as_bytes()).unwrap();
        assert_eq!(map.locations, [None]);
        assert!(map.files.is_empty());
        assert!(!map.has_locations());
    }

    #[test]
    fn malformed_locations_and_charts_are_typed_errors() {
        let bad = |from: &str, to: &str| {
            let json = TWO_FILES.replace(from, to);
            assert_ne!(json, TWO_FILES, "the edit applies: {from}");
            source_map(json.as_bytes()).unwrap_err()
        };
        let at_instruction = |error: Error, n: usize| match error {
            Error::Mexe { at, .. } => assert_eq!(at, Location::Instruction(n)),
            other => panic!("{other:?}"),
        };
        at_instruction(bad(r#""line": 12"#, r#""line": "12""#), 2);
        at_instruction(bad(r#""line": 3"#, r#""line": -3"#), 0);
        at_instruction(bad(r#""line": 3"#, r#""line": 4294967296"#), 0);
        at_instruction(bad(r#""line": 3, "#, ""), 0);
        at_instruction(bad(r#""location": null"#, r#""location": 5"#), 1);
        assert!(matches!(
            bad(r#""7": "std::queue""#, r#""seven": "std::queue""#),
            Error::Mexe {
                at: Location::File,
                ..
            }
        ));
        assert!(matches!(
            bad(r#""7": "std::queue""#, r#""7": 7"#),
            Error::Mexe {
                at: Location::File,
                ..
            }
        ));
        assert!(matches!(
            source_map(b"[1, 2]"),
            Err(Error::Mexe {
                reason: MexeError::NotAnObject,
                ..
            })
        ));
        assert!(matches!(
            source_map(br#"{"static_val": 1}"#),
            Err(Error::Mexe {
                reason: MexeError::MissingKey("code"),
                ..
            })
        ));
        assert!(matches!(
            source_map(b"{\"code\": [}"),
            Err(Error::Json { .. })
        ));
    }
}
