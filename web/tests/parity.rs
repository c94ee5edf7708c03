//! The op parity tests of `tests/parity/`, run inside headless Chromium on its WebGPU
//! adapter (SwiftShader on a machine without a GPU) against the same CPU reference:
//! `scripts/test-web.sh`, or `cargo test -p rrs-web --target wasm32-unknown-unknown` with
//! the environment it sets.

#![cfg(target_arch = "wasm32")]

#[path = "../../tests/parity/channel_max.rs"]
mod channel_max;
#[path = "../../tests/parity/common.rs"]
mod common;
#[path = "../../tests/parity/gemm.rs"]
mod gemm;
#[path = "../../tests/parity/hadamard.rs"]
mod hadamard;
#[path = "../../tests/parity/linear.rs"]
mod linear;
#[path = "../../tests/parity/quantize.rs"]
mod quantize;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// Wrap each listed `module::test` body as an async `#[wasm_bindgen_test]`.
macro_rules! parity_tests {
    ($($module:ident: [$($test:ident),* $(,)?]),* $(,)?) => {
        mod run {
            $(mod $module {
                $(#[wasm_bindgen_test::wasm_bindgen_test]
                async fn $test() {
                    crate::$module::$test().await;
                })*
            })*
        }
    };
}

include!("../../tests/parity/list.rs");
