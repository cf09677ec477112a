//! Every corpus program loads, with the initial machine hashes the recordings and the spec give.
//! Reads `../shared` (skipped, with the reason printed, when it is absent).

mod common;

use std::collections::HashMap;
use std::path::Path;

use avm_runtime::hash::hex_hash;
use avm_runtime::{Program, mexe};
use common::h;

fn load(path: &Path) -> Program {
    mexe::load_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `beforeState.machineHash` of the first recorded proof of each program that has one.
fn first_proof_hashes(shared: &Path) -> HashMap<String, String> {
    let mut hashes = HashMap::new();
    for entry in std::fs::read_dir(shared.join("corpus/proofs")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        let Some(program) = name.strip_suffix("-proofs.json") else {
            continue;
        };
        let proofs: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let bytes: Vec<u8> = proofs[0]["Assertion"]["beforeState"]["machineHash"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        hashes.insert(program.to_string(), format!("0x{hex}"));
    }
    hashes
}

/// Initial machine hashes of the speedtest programs, from the table of VECTORS.md §8.
fn speedtest_table(shared: &Path) -> HashMap<String, String> {
    let spec = std::fs::read_to_string(shared.join("spec/VECTORS.md")).unwrap();
    spec.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells.len() > 4 && cells[1].ends_with(".mexe") && cells[3].len() == 64)
                .then(|| (cells[1].to_string(), format!("0x{}", cells[3])))
        })
        .collect()
}

#[test]
fn every_corpus_program_loads_with_its_recorded_hash() {
    let Some(shared) = common::shared("every_corpus_program_loads_with_its_recorded_hash") else {
        return;
    };
    let proofs = first_proof_hashes(&shared);
    let table = speedtest_table(&shared);
    assert_eq!(proofs.len(), 21);
    assert_eq!(table.len(), 50);
    let mut loaded = 0;
    let mut checked = 0;
    for dir in ["corpus/machine-cases", "corpus/speedtest"] {
        for path in common::files(&shared.join(dir), "mexe") {
            let program = load(&path);
            let name = path.file_name().unwrap().to_str().unwrap();
            let hash = hex_hash(&program.initial_machine_hash());
            for expected in [proofs.get(name), table.get(name)].into_iter().flatten() {
                assert_eq!(&hash, expected, "{name}");
                checked += 1;
            }
            loaded += 1;
        }
    }
    assert_eq!(loaded, 73);
    assert_eq!(checked, 71);
}

#[test]
fn contract_mexe_machine_hash_components() {
    let Some(shared) = common::shared("contract_mexe_machine_hash_components") else {
        return;
    };
    let program = load(&shared.join("corpus/machine-cases/contract.mexe"));
    assert_eq!(program.len(), 75_754);
    let parts = program.initial_machine_hash_parts();
    let empty = h("5dfd744753c13a6de9cf0e9e3d0164cdf0b1bbdb5efb3660a684d46477176058");
    assert_eq!(
        parts.pc,
        h("d0a3e54b4b003d385120c60cd219e640e96a54f2bc585888314f7cada2195dc0")
    );
    assert_eq!(
        (parts.data_stack, parts.aux_stack, parts.register),
        (empty, empty, empty)
    );
    assert_eq!(
        parts.static_value,
        h("fa3af10ade41dd77b3cf69a00ccc3f3e8ea637510968354b624a9ae62b416bc0")
    );
    assert_eq!(
        parts.error_handler,
        h("b4c00615f95dc249934075fcc669947596baf6e070ac80a59f79dae98aa932f0")
    );
    assert_eq!(
        program.initial_machine_hash(),
        h("7c44c91b56094e077d79d3073207688fa460ffff3e40ed7588802a85a755c737")
    );
}

#[test]
fn arbos_loads_with_its_published_hash() {
    let Some(shared) = common::shared("arbos_loads_with_its_published_hash") else {
        return;
    };
    let program = load(&shared.join("corpus/arbos/arbos.mexe"));
    assert_eq!(program.len(), 67_096);
    assert_eq!(
        hex_hash(&program.initial_machine_hash()),
        "0x83f4d87e7e1a243b097a2840f5e8cd9ef775acb19688864ed034b76db479b1b9"
    );
}

#[test]
fn worked_examples_of_mexe_section_7() {
    let Some(shared) = common::shared("worked_examples_of_mexe_section_7") else {
        return;
    };
    let cases = shared.join("corpus/machine-cases");
    let sideload = load(&cases.join("sideloadtest.mexe"));
    let expected = [
        "ca6a83c46283e3731dd5f5218b7b56ba6aacfb7ea1f0a94cea7a6fe113ac62c2",
        "7d66253c216d6792bc5e898fc69e6041f143bb6dabd89677c479aef8234eb60a",
        "de25e5702704cc4e7f6ea33035c0aa6fc6ed6289dd14211112782371c946a0e9",
        "dc207027f0fefccc361e5ed5bf81a9b2591d0858607f1535afc92441cd2fc149",
        "b4c00615f95dc249934075fcc669947596baf6e070ac80a59f79dae98aa932f0",
    ];
    for (pc, hash) in expected.iter().enumerate() {
        assert_eq!(
            sideload.codepoint(pc).hash(),
            h(hash),
            "sideloadtest cp[{pc}]"
        );
    }
    let code = load(&cases.join("opcodetestcode.mexe"));
    let expected = [
        "af40c4a6b118a814a393b52b25219f52eedd99c84cf80985512012b7c00f906a",
        "1eb9703cfe9a3bbdd552febe32b93530d82f91dea6089b24e18cabb3fc9d6e57",
        "2deaaa216e645a60085eef8b1cc069bfa7a742d0e98c8f336299a045befba8b7",
        "07cc42e22b81baa9e7390f0ef36551ed95c7347007368b68270d685f956c4a76",
        "21dba4c04444c483e01ed0ce4e1f093e294aad59b93f74a3140cdbcdeb7d666c",
        "7628764fe28924cd0d870d4dc3e652e4da24a9d80d200dd68aea4646f46b1cef",
        "830a80bcd404fe6186e15eaa8450503aeb0090bda062922426838a058f1e5bf0",
        "e0224a1023cb5c059900e01fe7c674738320243b24bdf8fc384a1ebac125a7d3",
    ];
    for (pc, hash) in expected.iter().enumerate() {
        assert_eq!(
            code.codepoint(pc).hash(),
            h(hash),
            "opcodetestcode cp[{pc}]"
        );
    }
    let stack = load(&cases.join("opcodeteststack.mexe"));
    assert_eq!(
        stack.static_value().hash(),
        h("5ff244eaa88fa69987877783936d90c2e32ba7fe17e3b765c24f623829b7051a")
    );
    let buffers = load(&cases.join("bufferopcodetest.mexe"));
    assert_eq!(buffers.len(), 1253);
    assert_eq!(
        buffers.entry().hash(),
        h("ccf4d6aba852a9535bc6f695f2767f056cf32187da0b4fc00aeabb8df9099238")
    );
    assert_eq!(
        buffers.static_value().hash(),
        h("7af6a98b634748ab942b47dd419313da317b2e5793392d167ece1f77230bb1cb")
    );
}
