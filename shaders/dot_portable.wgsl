// 4-lane i8 dot product with shifts and multiplies only (adapters without packed 4x8
// integer dot products). Exact; same contract as the dot4I8Packed snippet.
fn dot4x(a: u32, b: u32) -> i32 {
    var acc = 0;
    for (var i = 0u; i < 4u; i++) {
        let sh = 24u - 8u * i;
        acc += (bitcast<i32>(a << sh) >> 24u) * (bitcast<i32>(b << sh) >> 24u);
    }
    return acc;
}
