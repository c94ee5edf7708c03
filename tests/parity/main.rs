//! GPU vs CPU-reference parity for every op, and end-to-end checks of `RrsLinear`.
//! Runs on whatever adapter `Context::new` finds (lavapipe in CI). Integer outputs are
//! compared bit-exactly; float tolerances are stated and justified where they are used.

mod channel_max;
mod common;
mod gemm;
mod hadamard;
mod linear;
mod quantize;
