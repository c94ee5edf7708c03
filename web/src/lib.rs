//! placeholder
use wasm_bindgen::prelude::*;
#[wasm_bindgen]
pub fn version() -> String {
    "x".into()
}
