//! Fuzz target: see `iop_callback::fuzzing::callback_query` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| iop_callback::fuzzing::callback_query(data));
