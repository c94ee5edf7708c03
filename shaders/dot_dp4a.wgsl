// 4-lane i8 dot product through WGSL's dot4I8Packed (native dp4a where the adapter has it).
// The GEMM feeds it nibbles expanded to 16 × value per byte, so it returns 256 × the
// exact product sum.
fn dot4x(a: u32, b: u32) -> i32 {
    return dot4I8Packed(a, b);
}
