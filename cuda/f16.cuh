// f16 elements (IEEE half bits, no CUDA header needed) as f32 and back: widening is exact,
// narrowing rounds to nearest even. Shared by the sources that take f16 tensors.

typedef unsigned short f16;  // IEEE half bits (no header needed)

__device__ __forceinline__ float half_to_float(unsigned short h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
__device__ __forceinline__ unsigned short float_to_half(float v) {
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
  return h;
}
__device__ __forceinline__ float load_f32(const float* p) { return *p; }
__device__ __forceinline__ float load_f32(const f16* p) { return half_to_float(*p); }
__device__ __forceinline__ void store_f32(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_f32(f16* p, float v) { *p = float_to_half(v); }

// One 16-byte chunk (16-byte aligned) as floats: 4 f32 or 8 f16.
__device__ __forceinline__ void load_chunk(const float* p, float* d) {
  const float4 v = *reinterpret_cast<const float4*>(p);
  d[0] = v.x, d[1] = v.y, d[2] = v.z, d[3] = v.w;
}
__device__ __forceinline__ void load_chunk(const f16* p, float* d) {
  const uint4 w = *reinterpret_cast<const uint4*>(p);
  const u32 words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int i = 0; i < 4; ++i)
    d[2 * i] = half_to_float(words[i] & 0xFFFFu), d[2 * i + 1] = half_to_float(words[i] >> 16);
}

// Eight consecutive elements (16-byte aligned) as floats: two chunks of f32, one of f16.
__device__ __forceinline__ void load8(const float* p, float (&d)[8]) {
  load_chunk(p, d);
  load_chunk(p + 4, d + 4);
}
__device__ __forceinline__ void load8(const f16* p, float (&d)[8]) { load_chunk(p, d); }
