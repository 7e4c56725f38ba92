//! Fuzz target: see `iop_callback::fuzzing::canonical_string` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| iop_callback::fuzzing::canonical_string(data));
