//! The opcode table equals AVM.md §7.2 and PROOFS.md §3.3 (read from `../shared/spec`).

mod common;

use avm_runtime::opcode::{self, OPCODES};

fn numbers(cell: &str) -> Vec<u64> {
    cell.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn table_matches_avm_section_7_2() {
    let Some(shared) = common::shared("table_matches_avm_section_7_2") else {
        return;
    };
    let spec = std::fs::read_to_string(shared.join("spec/AVM.md")).unwrap();
    let mut rows = 0;
    for line in spec.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() != 10
            || cells[1].len() != 2
            || !cells[1].bytes().all(|b| b.is_ascii_hexdigit())
        {
            continue;
        }
        let byte = u8::from_str_radix(cells[1], 16).unwrap();
        let op = opcode::info(byte).unwrap_or_else(|| panic!("{byte:#04x} missing"));
        let name = cells[2];
        assert_eq!(op.name, name);
        assert_eq!(op.pops, cells[4].parse::<u8>().unwrap(), "{name} k");
        assert_eq!(op.aux_pops, cells[5].parse::<u8>().unwrap(), "{name} j");
        assert_eq!(u64::from(op.pushes), numbers(cells[6])[0], "{name} pushes");
        assert_eq!(op.gas, numbers(cells[7])[0], "{name} gas");
        let levels = cells[8];
        if levels != "–" && !levels.starts_with("– (aux") {
            let data = numbers(levels.split('(').next().unwrap());
            let ours: Vec<u64> = op.levels.iter().map(|&l| u64::from(l)).collect();
            assert_eq!(ours, data, "{name} levels");
        }
        rows += 1;
    }
    assert_eq!(rows, 78);
    assert_eq!(OPCODES.iter().flatten().count(), rows);
}
