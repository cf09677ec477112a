#!/bin/sh
# Seeds the local fuzz corpora (fuzz/corpus/<target>/, never committed) from the project's own
# programs and, when ../shared is present beside the checkout, from the shared corpus.
set -eu
cd "$(dirname "$0")"
root=..
shared=${AVM_SHARED:-$root/../shared}
avm="cargo run --quiet --release --manifest-path $root/Cargo.toml --bin avm --"
mkdir -p corpus/diff_engines corpus/mexe_load corpus/unmarshal corpus/arbos_inbox

# mexe_load: the examples as .mexe, plus every corpus program.
for f in $root/examples/*.avm; do
  $avm asm "$f" -o "corpus/mexe_load/$(basename "$f" .avm).mexe"
done
# unmarshal: an Int, (), a 2-tuple of Ints, a buffer.
python3 - <<'PY'
import os
d = "corpus/unmarshal"
word = lambda n: n.to_bytes(32, "big")
seeds = {
    "int": b"\x00" + word(10),
    "empty_tuple": b"\x03",
    "pair": b"\x05" + b"\x00" + word(1) + b"\x00" + word(2),
    "buffer": b"\x0c" + word(3) + b"\x01\x02\x03",
    "nested": b"\x04" + b"\x04" + b"\x03",
}
for name, data in seeds.items():
    open(os.path.join(d, name), "wb").write(data)
PY
# diff_engines and arbos_inbox start from nothing useful to seed: their bytes are generator
# input. arbos_inbox needs the shared corpus at run time.
if [ -d "$shared/corpus" ]; then
  find "$shared/corpus" -name '*.mexe' -size -2M -exec cp {} corpus/mexe_load/ \;
  echo "seeded from $shared/corpus"
else
  echo "no $shared/corpus: seeded from the project's own programs only"
fi
