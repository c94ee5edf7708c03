// Prepended first to the cooperative-matrix kernels (enable directives precede every
// declaration): wgpu's experimental cooperative matrices, and f16 for their operands.
enable f16;
enable wgpu_cooperative_matrix;
