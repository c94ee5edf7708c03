// f16 → f32, one element per thread, exactly (`convert::widen`, for the ops without f16
// kernels).
extern "C" __global__ void widen_h(const f16* __restrict__ src, float* __restrict__ dst,
                                   unsigned long long n) {
  grid_dependency();
  const unsigned long long i = global_block() * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = half_to_float(src[i]);
}
