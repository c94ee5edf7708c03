// FP32 reference layer: y[i, j] = Σ_k x[i, k] · w[j, k], 16×16 tiles through shared memory.
#define MM_TILE 16
extern "C" __global__ void matmul(const float* __restrict__ x, const float* __restrict__ w,
                                  float* __restrict__ y, unsigned m, unsigned n, unsigned k) {
  grid_dependency();
  __shared__ float xs[MM_TILE][MM_TILE + 1], ws[MM_TILE][MM_TILE + 1];
  const unsigned i = blockIdx.y * MM_TILE + threadIdx.y, j = blockIdx.x * MM_TILE + threadIdx.x;
  float acc = 0.0f;
  for (unsigned k0 = 0; k0 < k; k0 += MM_TILE) {
    const unsigned wi = blockIdx.x * MM_TILE + threadIdx.y;
    xs[threadIdx.y][threadIdx.x] = i < m && k0 + threadIdx.x < k ? x[(size_t)i * k + k0 + threadIdx.x] : 0.0f;
    ws[threadIdx.y][threadIdx.x] = wi < n && k0 + threadIdx.x < k ? w[(size_t)wi * k + k0 + threadIdx.x] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int t = 0; t < MM_TILE; ++t) acc += xs[threadIdx.y][t] * ws[threadIdx.x][t];
    __syncthreads();
  }
  if (i < m && j < n) y[(size_t)i * n + j] = acc;
}
