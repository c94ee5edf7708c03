// INT4 dot product of two words of 8 nibbles with shifts and multiplies only
// (for adapters without packed 4x8 integer dot products). Exact.
fn dot8(a: u32, b: u32) -> i32 {
    var acc = 0;
    for (var i = 0u; i < 8u; i++) {
        let sh = 28u - 4u * i;
        acc += (bitcast<i32>(a << sh) >> 28u) * (bitcast<i32>(b << sh) >> 28u);
    }
    return acc;
}

fn finish(acc: i32) -> i32 {
    return acc;
}
