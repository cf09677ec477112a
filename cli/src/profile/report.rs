//! The profile's report: the tally of a run turned into sorted rows (opcodes, blocks, source
//! files, source lines) and written as tables, as one JSON object, or as folded stacks.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use avm_interp::Stop;
use avm_runtime::Program;
use avm_runtime::mexe::SourceMap;
use avm_runtime::opcode;
use serde_json::json;

use super::{Cost, Ended, Sources, Tally};
use crate::out::{Failure, Out};
use crate::run::big_number;

/// The bucket of steps at instructions that have no source location and none before them in
/// code order (and at `ERR`).
const NO_LOCATION: &str = "(no location)";

/// The bucket of steps at codepoints built at run time.
const RUN_TIME: &str = "(run-time code)";

/// A finished run, ready to report.
#[derive(Debug)]
pub(super) struct Profile<'a> {
    pub(super) program: &'a Program,
    pub(super) tally: &'a Tally,
    pub(super) sources: &'a Sources,
    pub(super) ended: Ended,
    /// How long the profiled run took.
    pub(super) wall: Duration,
}

/// The source line a step counts toward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Place {
    /// Line `line` of file `file` (an index into [`SourceMap::files`]).
    Line { file: u32, line: u32 },
    /// [`NO_LOCATION`].
    NoLocation,
    /// [`RUN_TIME`].
    RunTime,
}

impl Place {
    /// The place standing for the whole file of this one.
    fn file(self) -> Place {
        match self {
            Place::Line { file, .. } => Place::Line { file, line: 0 },
            other => other,
        }
    }

    /// The file's name, or the bucket's.
    fn file_name(self, map: &SourceMap) -> &str {
        match self {
            Place::Line { file, .. } => map.file_name(file),
            Place::NoLocation => NO_LOCATION,
            Place::RunTime => RUN_TIME,
        }
    }

    /// The line, for a real source line.
    fn line(self) -> Option<u32> {
        match self {
            Place::Line { line, .. } => Some(line),
            _ => None,
        }
    }
}

/// A named row: an opcode or a source file.
#[derive(Debug)]
struct Row {
    name: String,
    cost: Cost,
}

/// A block: its entry pc (`None`: run-time code), arrivals and cost.
#[derive(Debug)]
struct BlockRow {
    pc: Option<u32>,
    arrivals: u64,
    cost: Cost,
}

/// A source line (`line` is `None` for a bucket) and its cost.
#[derive(Debug)]
struct LineRow {
    file: String,
    line: Option<u32>,
    cost: Cost,
}

impl LineRow {
    /// `file:line`, or the bucket's name.
    fn label(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.file),
            None => self.file.clone(),
        }
    }
}

/// Everything the report says, every row sorted.
#[derive(Debug)]
pub(super) struct Report {
    ended: Ended,
    total: Cost,
    wall: Duration,
    /// By steps.
    opcodes: Vec<Row>,
    /// By steps.
    blocks: Vec<BlockRow>,
    /// By gas; `None` when the program has no source locations.
    files: Option<Vec<Row>>,
    /// By gas; `None` when the program has no source locations.
    lines: Option<Vec<LineRow>>,
    notes: Vec<String>,
}

impl Profile<'_> {
    /// Sorts the tally into the report's rows and notes.
    pub(super) fn report(&self) -> Report {
        let (files, lines) = match self.sources {
            Sources::Located(map) => {
                let places = self.place_costs(map);
                (Some(file_rows(&places, map)), Some(line_rows(&places, map)))
            }
            Sources::NoLocations | Sources::Assembler => (None, None),
        };
        Report {
            ended: self.ended.clone(),
            total: self.tally.total,
            wall: self.wall,
            opcodes: self.opcode_rows(),
            blocks: self.block_rows(),
            files,
            lines,
            notes: self.notes(),
        }
    }

    /// The opcodes that ran, by steps (then gas, then name).
    fn opcode_rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = (0..=u8::MAX)
            .map(|byte| Row {
                name: opcode::mnemonic(byte),
                cost: self.tally.opcodes[usize::from(byte)],
            })
            .filter(|row| row.cost.steps > 0)
            .collect();
        rows.sort_by(|a, b| {
            (b.cost.steps, b.cost.gas, &a.name).cmp(&(a.cost.steps, a.cost.gas, &b.name))
        });
        rows
    }

    /// The blocks control arrived at, by steps (then entry pc; run-time code last among equals).
    fn block_rows(&self) -> Vec<BlockRow> {
        let loaded = self
            .tally
            .blocks
            .iter()
            .enumerate()
            .map(|(pc, block)| BlockRow {
                pc: Some(pc as u32),
                arrivals: block.arrivals,
                cost: block.cost,
            });
        let run_time = BlockRow {
            pc: None,
            arrivals: self.tally.run_time.arrivals,
            cost: self.tally.run_time.cost,
        };
        let mut rows: Vec<BlockRow> = loaded
            .chain([run_time])
            .filter(|row| row.arrivals > 0)
            .collect();
        let key = |row: &BlockRow| {
            (
                row.cost.steps,
                std::cmp::Reverse(row.pc.unwrap_or(u32::MAX)),
            )
        };
        rows.sort_by_key(|row| std::cmp::Reverse(key(row)));
        rows
    }

    /// The cost of each place that steps ran at: every loaded pc counts toward its carried
    /// place ([`carried_places`]), run-time code toward [`RUN_TIME`].
    fn place_costs(&self, map: &SourceMap) -> HashMap<Place, Cost> {
        let places = carried_places(map, self.program.len());
        let mut costs: HashMap<Place, Cost> = HashMap::new();
        for (place, cost) in places.iter().zip(&self.tally.pcs) {
            if cost.steps > 0 {
                costs.entry(*place).or_default().add(*cost);
            }
        }
        if self.tally.run_time.cost.steps > 0 {
            costs
                .entry(Place::RunTime)
                .or_default()
                .add(self.tally.run_time.cost);
        }
        costs
    }

    /// What a reader needs to know to read the rows right.
    fn notes(&self) -> Vec<String> {
        let mut notes = vec![
            "gas: each step's gas is the gas used after it minus before it (a step that raises \
             an error counts its error cost toward its own opcode, block and line)"
                .to_string(),
            "blocks: a block starts at the first step and wherever control did not fall through \
             from the instruction before (after a jump or cjump, taken or not, and after an error \
             jump); it is keyed by its entry pc, and all run-time code is one block"
                .to_string(),
        ];
        match self.sources {
            Sources::Located(_) => {
                notes.push(format!(
                    "lines: an instruction without a source location counts toward the nearest \
                     instruction before it in code order that has one (Mini emits each function \
                     contiguously, so compiler-generated code stays with its source line); \
                     instructions before the first located one, and ERR, count as \
                     \"{NO_LOCATION}\", and steps at run-time codepoints as \"{RUN_TIME}\""
                ));
                notes.push(
                    "functions: the .mexe names no functions (its globals and type_tree name \
                     variables and types), so source rows are per file and per line"
                        .to_string(),
                );
            }
            Sources::NoLocations => notes.push(
                "lines: the .mexe carries no source locations, so there are no file or line rows"
                    .to_string(),
            ),
            Sources::Assembler => notes.push(
                "lines: assembler text carries no source locations, so there are no file or line \
                 rows"
                    .to_string(),
            ),
        }
        notes
    }
}

/// The place each loaded instruction (`ERR` at index `len` included) counts toward: its own
/// location's line, or else that of the nearest instruction before it in code order that has
/// one (Mini emits each function contiguously, so compiler-generated code stays with the source
/// line it came from). Instructions before the first located one, and `ERR` (which no source
/// wrote), are [`Place::NoLocation`].
fn carried_places(map: &SourceMap, len: usize) -> Vec<Place> {
    let mut current = Place::NoLocation;
    let mut places: Vec<Place> = (0..len)
        .map(|pc| {
            if let Some(at) = map.location(pc) {
                current = Place::Line {
                    file: at.file,
                    line: at.line,
                };
            }
            current
        })
        .collect();
    places.push(Place::NoLocation);
    places
}

/// The `file:line` each loaded pc counts toward (by [`carried_places`]), when the program has
/// source locations.
pub(super) fn source_labels(sources: &Sources, len: usize) -> Option<Vec<String>> {
    let Sources::Located(map) = sources else {
        return None;
    };
    let label = |place: Place| match place.line() {
        Some(line) => format!("{}:{line}", place.file_name(map)),
        None => place.file_name(map).to_string(),
    };
    Some(carried_places(map, len).into_iter().map(label).collect())
}

/// Source files by gas (then steps, then name), buckets included.
fn file_rows(places: &HashMap<Place, Cost>, map: &SourceMap) -> Vec<Row> {
    let mut files: HashMap<Place, Cost> = HashMap::new();
    for (place, cost) in places {
        files.entry(place.file()).or_default().add(*cost);
    }
    let mut rows: Vec<Row> = files
        .into_iter()
        .map(|(place, cost)| Row {
            name: place.file_name(map).to_string(),
            cost,
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.cost.gas, b.cost.steps, &a.name).cmp(&(a.cost.gas, a.cost.steps, &b.name))
    });
    rows
}

/// Source lines by gas (then steps, file name, line), buckets included.
fn line_rows(places: &HashMap<Place, Cost>, map: &SourceMap) -> Vec<LineRow> {
    let mut rows: Vec<LineRow> = places
        .iter()
        .map(|(place, cost)| LineRow {
            file: place.file_name(map).to_string(),
            line: place.line(),
            cost: *cost,
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.cost.gas, b.cost.steps, &a.file, a.line).cmp(&(
            a.cost.gas,
            a.cost.steps,
            &b.file,
            b.line,
        ))
    });
    rows
}

/// `part` as a percentage of `whole` (0 when `whole` is).
pub(super) fn share(part: u128, whole: u128) -> String {
    match whole {
        0 => "0.0%".to_string(),
        _ => format!("{:.1}%", part as f64 * 100.0 / whole as f64),
    }
}

/// A frame name for folded stacks: `;` separates frames and a line ends a stack.
fn frame(name: &str) -> String {
    name.replace(';', ",").replace(['\n', '\r'], " ")
}

impl Report {
    /// The cells `steps, steps%, gas, gas%` of `cost`.
    fn cost_cells(&self, cost: Cost) -> [String; 4] {
        [
            cost.steps.to_string(),
            share(cost.steps.into(), self.total.steps.into()),
            cost.gas.to_string(),
            share(cost.gas, self.total.gas),
        ]
    }

    /// The report as tables of at most `top` rows each.
    pub(super) fn write_text(&self, top: usize, out: &mut Out) -> Result<(), Failure> {
        self.write_summary(out)?;
        let opcodes = self.opcodes.iter().take(top);
        let rows = opcodes.map(|row| self.named(&row.name, row.cost));
        let heading = title("opcodes", top, self.opcodes.len(), "steps");
        write_table(out, &heading, &["opcode"], rows)?;
        let rows = self.blocks.iter().take(top).map(|row| {
            let pc = row.pc.map_or(RUN_TIME.to_string(), |pc| pc.to_string());
            let mut cells = vec![pc, row.arrivals.to_string()];
            cells.extend(self.cost_cells(row.cost));
            cells
        });
        let heading = title("blocks", top, self.blocks.len(), "steps");
        write_table(out, &heading, &["entry pc", "arrivals"], rows)?;
        if let (Some(files), Some(lines)) = (&self.files, &self.lines) {
            let rows = files.iter().take(top);
            let rows = rows.map(|row| self.named(&row.name, row.cost));
            let heading = title("files", top, files.len(), "gas");
            write_table(out, &heading, &["file"], rows)?;
            let rows = lines.iter().take(top);
            let rows = rows.map(|row| self.named(&row.label(), row.cost));
            let heading = title("lines", top, lines.len(), "gas");
            write_table(out, &heading, &["file:line"], rows)?;
        }
        Ok(())
    }

    /// How the run ended, its totals and speed, and the notes (wrapped to [`TEXT_WIDTH`]).
    fn write_summary(&self, out: &mut Out) -> Result<(), Failure> {
        let (status, why) = self.ended.words();
        match why {
            Some(why) => writeln!(out, "status: {status} ({})", why.replace('_', " "))?,
            None => writeln!(out, "status: {status}")?,
        }
        let secs = self.wall.as_secs_f64();
        writeln!(
            out,
            "steps: {}  gas used: {}  profiled in {:.1} ms ({:.1} M steps/s)",
            self.total.steps,
            self.total.gas,
            secs * 1e3,
            self.total.steps as f64 / secs.max(1e-9) / 1e6
        )?;
        writeln!(out, "notes:")?;
        for note in &self.notes {
            for (i, line) in wrap(note, TEXT_WIDTH - 4).iter().enumerate() {
                let bullet = if i == 0 { "-" } else { " " };
                writeln!(out, "  {bullet} {line}")?;
            }
        }
        Ok(())
    }

    /// A row of a name and its cost cells.
    fn named(&self, name: &str, cost: Cost) -> Vec<String> {
        let mut row = vec![name.to_string()];
        row.extend(self.cost_cells(cost));
        row
    }

    /// The report as one JSON object, every row included.
    pub(super) fn write_json(&self, out: &mut Out) -> Result<(), Failure> {
        let (status, why) = self.ended.words();
        let cost = |cost: Cost| (cost.steps, big_number(cost.gas));
        let mut object = json!({
            "status": status,
            "steps": self.total.steps,
            "gas": big_number(self.total.gas),
            "wall_ms": self.wall.as_secs_f64() * 1e3,
            "opcodes": self.opcodes.iter().map(|row| {
                let (steps, gas) = cost(row.cost);
                json!({"name": row.name, "steps": steps, "gas": gas})
            }).collect::<Vec<_>>(),
            "blocks": self.blocks.iter().map(|row| {
                let (steps, gas) = cost(row.cost);
                json!({"pc": row.pc, "arrivals": row.arrivals, "steps": steps, "gas": gas})
            }).collect::<Vec<_>>(),
            "files": self.files.as_ref().map(|files| files.iter().map(|row| {
                let (steps, gas) = cost(row.cost);
                json!({"file": row.name, "steps": steps, "gas": gas})
            }).collect::<Vec<_>>()),
            "lines": self.lines.as_ref().map(|lines| lines.iter().map(|row| {
                let (steps, gas) = cost(row.cost);
                json!({"file": row.file, "line": row.line, "steps": steps, "gas": gas})
            }).collect::<Vec<_>>()),
            "notes": self.notes,
        });
        match (&self.ended, why) {
            (Ended::Machine(Stop::Blocked(_)), Some(why)) => object["block_reason"] = json!(why),
            (_, Some(why)) => object["stopped_by"] = json!(why),
            (_, None) => {}
        }
        writeln!(out, "{object}")
    }

    /// Folded stacks weighted by gas: `FILE;FILE:LINE GAS` per source line (a bucket is one
    /// frame), or `OPCODE GAS` per opcode when the program has no source locations.
    pub(super) fn folded(&self) -> String {
        let mut text = String::new();
        match &self.lines {
            Some(lines) => {
                for row in lines.iter().filter(|row| row.cost.gas > 0) {
                    let file = frame(&row.file);
                    let _ = match row.line {
                        Some(line) => writeln!(text, "{file};{file}:{line} {}", row.cost.gas),
                        None => writeln!(text, "{file} {}", row.cost.gas),
                    };
                }
            }
            None => {
                for row in self.opcodes.iter().filter(|row| row.cost.gas > 0) {
                    let _ = writeln!(text, "{} {}", frame(&row.name), row.cost.gas);
                }
            }
        }
        text
    }
}

/// A table's title: `opcodes: top 20 of 63, by steps`.
fn title(what: &str, top: usize, of: usize, by: &str) -> String {
    format!("{what}: top {} of {of}, by {by}", top.min(of))
}

/// The width the text report's notes are wrapped to.
const TEXT_WIDTH: usize = 100;

/// `text` in lines of at most `width` characters, broken at spaces (a longer word stays whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// Writes a table under `title`: the `first` columns, then steps, gas and their shares. The
/// first column is left-aligned, the others right-aligned, each as wide as its widest cell.
fn write_table(
    out: &mut Out,
    title: &str,
    first: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<(), Failure> {
    let header = first.iter().chain(&["steps", "steps%", "gas", "gas%"]);
    write_columns(out, title, header.copied(), rows)
}

/// Writes a table under `title`: the header, then the rows, the first column left-aligned and
/// the others right-aligned, each as wide as its widest cell.
pub(super) fn write_columns<'h>(
    out: &mut Out,
    title: &str,
    header: impl Iterator<Item = &'h str>,
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<(), Failure> {
    let header: Vec<String> = header.map(str::to_string).collect();
    let rows: Vec<Vec<String>> = std::iter::once(header).chain(rows).collect();
    let width = |col: usize| rows.iter().map(|row| row[col].chars().count()).max();
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|col| width(col).unwrap_or(0))
        .collect();
    writeln!(out, "\n{title}")?;
    for row in &rows {
        let mut line = String::from(" ");
        for (col, (cell, width)) in row.iter().zip(&widths).enumerate() {
            let _ = match col {
                0 => write!(line, " {cell:<width$}"),
                _ => write!(line, "  {cell:>width$}"),
            };
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use avm_runtime::mexe::SourceLocation;

    fn at(file: u32, line: u32) -> Option<SourceLocation> {
        Some(SourceLocation {
            file,
            line,
            column: 1,
        })
    }

    #[test]
    fn unlocated_instructions_carry_the_location_before_them() {
        let map = SourceMap {
            files: vec!["main".into(), "lib".into()],
            locations: vec![None, at(0, 4), None, None, at(1, 9), None],
        };
        let line = |file, line| Place::Line { file, line };
        assert_eq!(
            carried_places(&map, 6),
            [
                Place::NoLocation,
                line(0, 4),
                line(0, 4),
                line(0, 4),
                line(1, 9),
                line(1, 9),
                Place::NoLocation, // ERR
            ]
        );
    }

    #[test]
    fn files_and_lines_keep_every_step_and_sort_by_gas() {
        let map = SourceMap {
            files: vec!["main".into(), "lib".into()],
            locations: vec![],
        };
        let cost = |steps, gas| Cost { steps, gas };
        let places = HashMap::from([
            (Place::Line { file: 0, line: 1 }, cost(5, 10)),
            (Place::Line { file: 0, line: 2 }, cost(1, 40)),
            (Place::Line { file: 1, line: 1 }, cost(7, 30)),
            (Place::NoLocation, cost(2, 2)),
        ]);
        let files = file_rows(&places, &map);
        let names: Vec<(&str, Cost)> = files.iter().map(|r| (r.name.as_str(), r.cost)).collect();
        assert_eq!(
            names,
            [
                ("main", cost(6, 50)),
                ("lib", cost(7, 30)),
                (NO_LOCATION, cost(2, 2))
            ]
        );
        let lines: Vec<String> = line_rows(&places, &map)
            .iter()
            .map(LineRow::label)
            .collect();
        assert_eq!(lines, ["main:2", "lib:1", "main:1", NO_LOCATION]);
    }

    #[test]
    fn shares_and_big_gas_never_fail() {
        assert_eq!(share(1, 3), "33.3%");
        assert_eq!(share(0, 0), "0.0%");
        assert_eq!(big_number(7), json!(7));
        assert_eq!(big_number(u128::MAX), json!(u128::MAX.to_string()));
        assert_eq!(frame("a;b\nc"), "a,b c");
        assert_eq!(wrap("aa bb  cc dddddd", 5), ["aa bb", "cc", "dddddd"]);
    }
}
