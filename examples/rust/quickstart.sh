# A new Rust project that uses timrest from your clone (TIMREST_SRC; it is not on crates.io yet).
cargo new --quiet --vcs none tim-cleanup && cd tim-cleanup
cargo add --quiet timrest --path "$TIMREST_SRC" --features emulator   # `emulator`: only for this example
cp "$TIMREST_SRC/examples/quickstart.rs" src/main.rs
cargo run --quiet
