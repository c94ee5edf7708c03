//! GPU vs CPU-reference parity for every op, and end-to-end checks of `RrsLinear`.
//! Runs on whatever adapter `Context::new` finds (lavapipe in CI). Integer outputs are
//! compared bit-exactly; float tolerances are stated and justified where they are used.
//!
//! The test bodies are async (they use the ops' `_async` entry points) so that the same
//! tests also run in the browser: `web/tests/parity.rs` includes these modules and
//! `list.rs` and runs them under wasm-bindgen-test in headless Chromium.

mod channel_max;
mod common;
mod gemm;
mod hadamard;
mod linear;
mod quantize;

/// Wrap each listed `module::test` body as a `#[test]` that blocks on it.
macro_rules! parity_tests {
    ($($module:ident: [$($test:ident),* $(,)?]),* $(,)?) => {
        mod run {
            $(mod $module {
                $(#[test]
                fn $test() {
                    pollster::block_on(crate::$module::$test());
                })*
            })*
        }
    };
}

include!("list.rs");
