//! Every WGSL shader parses and validates with naga (no GPU needed), and the dp4a GEMM
//! lowers to SPIR-V's native packed dot-product instruction.

const SHADERS: &[(&str, &str)] = &[
    (
        "hadamard_chunk_2048",
        concat!(
            include_str!("../shaders/hadamard_tile_2048.wgsl"),
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard_regs.wgsl"),
            include_str!("../shaders/hadamard_chunk.wgsl")
        ),
    ),
    (
        "hadamard_cross_2048",
        concat!(
            include_str!("../shaders/hadamard_tile_2048.wgsl"),
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard.wgsl")
        ),
    ),
    (
        "hadamard_chunk_4096",
        concat!(
            include_str!("../shaders/hadamard_tile_4096.wgsl"),
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard_regs.wgsl"),
            include_str!("../shaders/hadamard_chunk.wgsl")
        ),
    ),
    (
        "hadamard_cross_4096",
        concat!(
            include_str!("../shaders/hadamard_tile_4096.wgsl"),
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard.wgsl")
        ),
    ),
    (
        "hadamard_chunk_8192",
        concat!(
            include_str!("../shaders/hadamard_tile_8192.wgsl"),
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard_regs.wgsl"),
            include_str!("../shaders/hadamard_chunk.wgsl")
        ),
    ),
    (
        "hadamard_subgroup_16384",
        concat!(
            "const TILE: u32 = 16384u;\nconst BUF: u32 = 8192u;\nconst QBITS: u32 = 3u;\n",
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard_regs.wgsl"),
            include_str!("../shaders/hadamard_subgroup.wgsl")
        ),
    ),
    (
        "hadamard_cross_8192",
        concat!(
            include_str!("../shaders/hadamard_tile_8192.wgsl"),
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard.wgsl")
        ),
    ),
    (
        "channel_max",
        concat!(
            include_str!("../shaders/div_rn.wgsl"),
            include_str!("../shaders/channel_max.wgsl")
        ),
    ),
    (
        "quantize_8192",
        concat!(
            include_str!("../shaders/quantize_stage_8192.wgsl"),
            include_str!("../shaders/div_rn.wgsl"),
            include_str!("../shaders/quantize.wgsl"),
            include_str!("../shaders/quantize_entry.wgsl")
        ),
    ),
    (
        "quantize_4096",
        concat!(
            include_str!("../shaders/quantize_stage_4096.wgsl"),
            include_str!("../shaders/div_rn.wgsl"),
            include_str!("../shaders/quantize.wgsl"),
            include_str!("../shaders/quantize_entry_subgroup.wgsl")
        ),
    ),
    (
        "quantize_none",
        concat!(
            include_str!("../shaders/quantize_stage_none.wgsl"),
            include_str!("../shaders/div_rn.wgsl"),
            include_str!("../shaders/quantize.wgsl"),
            include_str!("../shaders/quantize_entry.wgsl")
        ),
    ),
    (
        "quantize_2048",
        concat!(
            include_str!("../shaders/quantize_stage_2048.wgsl"),
            include_str!("../shaders/div_rn.wgsl"),
            include_str!("../shaders/quantize.wgsl"),
            include_str!("../shaders/quantize_entry_subgroup.wgsl")
        ),
    ),
    ("copy", include_str!("../shaders/copy.wgsl")),
    (
        "subgroup_probe",
        include_str!("../shaders/subgroup_probe.wgsl"),
    ),
    ("f16", include_str!("../shaders/f16.wgsl")),
    ("permute", include_str!("../shaders/permute.wgsl")),
    (
        "permute_tiles",
        concat!(
            "const TILE_K: u32 = 8192u;\n",
            include_str!("../shaders/permute.wgsl"),
            include_str!("../shaders/nibble_tile.wgsl"),
            include_str!("../shaders/permute_tiles.wgsl")
        ),
    ),
    (
        "gemv_gather",
        concat!(
            "const TILE_K: u32 = 2048u;\nconst TILES_PER_WG: u32 = 4u;\n",
            include_str!("../shaders/dot_portable.wgsl"),
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/nibble_tile.wgsl"),
            include_str!("../shaders/gemv_gather.wgsl")
        ),
    ),
    (
        "gemv_dp4a",
        concat!(
            include_str!("../shaders/dot_dp4a.wgsl"),
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/gemv.wgsl")
        ),
    ),
    (
        "gemv_staged_4",
        concat!(
            "const ROWS: u32 = 4u;\nconst SCALED: bool = false;\n",
            include_str!("../shaders/dot_portable.wgsl"),
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/gemv_staged.wgsl")
        ),
    ),
    (
        "gemv_staged_8",
        concat!(
            "const ROWS: u32 = 8u;\nconst SCALED: bool = true;\n",
            include_str!("../shaders/dot_portable.wgsl"),
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/gemv_staged.wgsl")
        ),
    ),
    (
        "gemv_staged_16",
        concat!(
            "const ROWS: u32 = 16u;\nconst SCALED: bool = true;\n",
            include_str!("../shaders/dot_dp4a.wgsl"),
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/gemv_staged.wgsl")
        ),
    ),
    ("matmul", include_str!("../shaders/matmul.wgsl")),
    (
        "gemm_large_dp4a",
        concat!(
            include_str!("../shaders/gemm_tile_large.wgsl"),
            include_str!("../shaders/dot_dp4a.wgsl"),
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/gemm.wgsl")
        ),
    ),
    (
        "gemm_medium_portable",
        concat!(
            include_str!("../shaders/gemm_tile_medium.wgsl"),
            include_str!("../shaders/dot_portable.wgsl"),
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/gemm.wgsl")
        ),
    ),
    (
        "gemv_coop",
        concat!(
            include_str!("../shaders/coop_enable.wgsl"),
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/coop_unpack.wgsl"),
            include_str!("../shaders/gemv_coop.wgsl")
        ),
    ),
    (
        "gemm_coop_scaled",
        concat!(
            include_str!("../shaders/coop_enable.wgsl"),
            "const SCALED: bool = true;\n",
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/coop_unpack.wgsl"),
            include_str!("../shaders/gemm_coop.wgsl")
        ),
    ),
    (
        "hadamard_mixed_12",
        concat!(
            include_str!("../shaders/hadamard_dense_12.wgsl"),
            "const BUF: u32 = 1536u;\nconst WG: u32 = 128u;\n",
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard_regs.wgsl"),
            include_str!("../shaders/hadamard_mixed.wgsl")
        ),
    ),
    (
        "hadamard_mixed_20",
        concat!(
            include_str!("../shaders/hadamard_dense_20.wgsl"),
            "const BUF: u32 = 5120u;\nconst WG: u32 = 512u;\n",
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard_regs.wgsl"),
            include_str!("../shaders/hadamard_mixed.wgsl")
        ),
    ),
    (
        "hadamard_mixed_28",
        concat!(
            include_str!("../shaders/hadamard_dense_28.wgsl"),
            "const BUF: u32 = 7168u;\nconst WG: u32 = 512u;\n",
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard_regs.wgsl"),
            include_str!("../shaders/hadamard_mixed.wgsl")
        ),
    ),
    (
        "hadamard_mixed_36",
        concat!(
            include_str!("../shaders/hadamard_dense_36.wgsl"),
            "const BUF: u32 = 9216u;\nconst WG: u32 = 1024u;\n",
            include_str!("../shaders/hadamard_params.wgsl"),
            include_str!("../shaders/hadamard_regs.wgsl"),
            include_str!("../shaders/hadamard_mixed.wgsl")
        ),
    ),
    (
        "gemm_coop_plain",
        concat!(
            include_str!("../shaders/coop_enable.wgsl"),
            "const SCALED: bool = false;\n",
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/coop_unpack.wgsl"),
            include_str!("../shaders/gemm_coop.wgsl")
        ),
    ),
    (
        "gemm_small_dp4a",
        concat!(
            include_str!("../shaders/gemm_tile_small.wgsl"),
            include_str!("../shaders/dot_dp4a.wgsl"),
            include_str!("../shaders/gemm_params.wgsl"),
            include_str!("../shaders/gemm.wgsl")
        ),
    ),
];

fn validate(name: &str, src: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    (module, info)
}

/// Shader `name` of [`SHADERS`], validated.
fn validated(name: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let (_, src) = SHADERS.iter().find(|(n, _)| *n == name).unwrap();
    validate(name, src)
}

#[test]
fn every_shader_validates() {
    for (name, src) in SHADERS {
        let (module, _) = validate(name, src);
        assert!(!module.entry_points.is_empty(), "{name} has no entry point");
    }
}

/// The directory of the WGSL sources.
fn shaders_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders")
}

#[test]
fn every_shader_file_is_covered() {
    for entry in std::fs::read_dir(shaders_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name.trim_end_matches(".wgsl");
        let text = std::fs::read_to_string(shaders_dir().join(&name)).unwrap();
        let covered = SHADERS
            .iter()
            .any(|(n, src)| *n == stem || src.contains(&text));
        assert!(covered, "shaders/{name} is not validated by this test");
    }
}

/// The opcodes of shader `name`'s SPIR-V as naga writes it for Vulkan (with index clamping,
/// as wgpu compiles the kernels).
fn spirv_opcodes(name: &str) -> Vec<u32> {
    let (module, info) = validated(name);
    let options = naga::back::spv::Options {
        lang_version: (1, 6),
        ..Default::default()
    };
    let words = naga::back::spv::write_vec(&module, &info, &options, None)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    // Walk the instruction stream (after the 5-word header): each instruction starts
    // with (word count << 16) | opcode.
    let mut opcodes = Vec::new();
    let mut i = 5;
    while i < words.len() {
        let (count, opcode) = ((words[i] >> 16) as usize, words[i] & 0xffff);
        opcodes.push(opcode);
        i += count.max(1);
    }
    opcodes
}

#[test]
fn dp4a_gemm_emits_native_dot_product() {
    // OpSDot is opcode 4450.
    assert!(
        spirv_opcodes("gemm_large_dp4a").contains(&4450),
        "no OpSDot in the SPIR-V of the dp4a GEMM"
    );
}

/// naga 30's SPIR-V writer takes the cooperative-matrix kernel (it panics on cooperative
/// operands that are not bound to a `let` first), and emits the loads and products.
#[test]
fn coop_decode_emits_cooperative_matrix_instructions() {
    let ops = spirv_opcodes("gemv_coop");
    // OpCooperativeMatrixLoadKHR 4457, OpCooperativeMatrixStoreKHR 4458,
    // OpCooperativeMatrixMulAddKHR 4459.
    for (op, what) in [(4457, "load"), (4458, "store"), (4459, "multiply-add")] {
        assert!(
            ops.contains(&op),
            "no cooperative-matrix {what} in gemv_coop"
        );
    }
}

/// `const NAME: u32 = value;` of the WGSL file shaders/FILE.
fn constant(file: &str, name: &str) -> usize {
    let src = std::fs::read_to_string(shaders_dir().join(format!("{file}.wgsl"))).unwrap();
    let prefix = format!("const {name}: u32 = ");
    let line = src
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("shaders/{file}.wgsl: no {name}"));
    let value = &line[prefix.len()..];
    value[..value.find('u').unwrap()].parse().unwrap()
}

/// The host's view of each FWHT tile (`hadamard::exchange_elements`, `workgroup_size`) and
/// of the decode kernel's columns per workgroup is what the shaders declare.
#[test]
fn host_constants_match_the_shaders() {
    for tile in rrs::hadamard::TILES {
        let file = format!("hadamard_tile_{tile}");
        assert_eq!(constant(&file, "TILE"), tile);
        assert_eq!(
            constant(&file, "BUF"),
            rrs::hadamard::exchange_elements(tile),
            "tile {tile}"
        );
        assert_eq!(
            constant(&file, "WG"),
            rrs::hadamard::workgroup_size(tile),
            "tile {tile}"
        );
    }
    assert_eq!(constant("gemv", "COLS"), rrs::gemm::DECODE_COLUMNS);
}

/// The staged decode kernel's columns per workgroup and workgroup memory are what the host
/// assumes (`gemm::STAGED_COLUMNS`, `gemm::staged_workgroup_bytes`, which decides where it
/// runs: 16 KiB, WebGPU's default, for 16 rows).
#[test]
fn staged_decode_matches_the_host() {
    assert_eq!(
        constant("gemv_staged", "GROUPS") * constant("gemv_staged", "NC"),
        rrs::gemm::STAGED_COLUMNS
    );
    for rows in [4, 8, 16] {
        assert_eq!(
            workgroup_bytes(&format!("gemv_staged_{rows}")) as usize,
            rrs::gemm::staged_workgroup_bytes(rows),
            "{rows} rows"
        );
    }
    assert_eq!(rrs::gemm::staged_workgroup_bytes(16), 16384);
    assert!(spirv_opcodes("gemv_staged_16").contains(&4450));
}

/// Bytes of workgroup memory shader `name` declares.
fn workgroup_bytes(name: &str) -> u32 {
    let (module, _) = validated(name);
    module
        .global_variables
        .iter()
        .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
        .map(|(_, v)| module.types[v.ty].inner.size(module.to_ctx()))
        .sum()
}

/// A context turns the cooperative-matrix kernels on only with `COOP_WORKGROUP_BYTES` of
/// workgroup memory: that must cover what each of them declares.
#[test]
fn coop_workgroup_memory_matches_the_shaders() {
    for name in ["gemv_coop", "gemm_coop_plain", "gemm_coop_scaled"] {
        let bytes = workgroup_bytes(name);
        assert!(
            bytes <= rrs::gemm::COOP_WORKGROUP_BYTES,
            "{name} declares {bytes} bytes of workgroup memory"
        );
    }
    assert_eq!(
        workgroup_bytes("gemm_coop_plain"),
        rrs::gemm::COOP_WORKGROUP_BYTES
    );
}

/// `shaders/hadamard_dense_<m>.wgsl` as generated from `hadamard::small_hadamard(m)`: a
/// column's m elements read from workgroup memory into a value (no array in memory to index),
/// and the rows of H_m as sums with the signs in the code, each from its first term in
/// ascending order (the reference's summation order; −v for a −1 entry, and x − v for
/// x + (−v), are the same IEEE results).
fn dense_source(m: usize) -> String {
    let h = rrs::hadamard::small_hadamard(m);
    let mut s = format!(
        "// H_{m} for `hadamard_mixed.wgsl`: `column` reads the {m} elements j, j + P, … of a row\n\
         // from workgroup memory into a value, `dense` applies row a of H_{m} to them:\n\
         // Σ_b H_{m}[a][b] · v[b], b ascending from the first term (the CPU reference's order),\n\
         // the signs written into the code. Generated from `hadamard::small_hadamard({m})` by\n\
         // `tests/shaders.rs` (`RRS_BLESS=1 cargo test --test shaders` rewrites it), which checks\n\
         // it against the reference.\nconst M: u32 = {m}u;\n\n\
         fn column(j: u32, pn: u32) -> array<f32, M> {{\n    return array<f32, M>(\n"
    );
    for b in 0..m {
        let at = match b {
            0 => "j".to_string(),
            1 => "j + pn".to_string(),
            _ => format!("j + {b}u * pn"),
        };
        s.push_str(&format!("        buf[pad({at})],\n"));
    }
    s.push_str("    );\n}\n\nfn dense(a: u32, v: array<f32, M>) -> f32 {\n    switch a {\n");
    for (a, row) in h.iter().enumerate() {
        let label = if a + 1 == m {
            format!("{a}u, default")
        } else {
            format!("{a}u")
        };
        let mut sum = String::new();
        for (b, &sign) in row.iter().enumerate() {
            match (b, sign > 0) {
                (0, true) => sum.push_str("v[0]"),
                (0, false) => sum.push_str("-v[0]"),
                (_, true) => sum.push_str(&format!(" + v[{b}]")),
                (_, false) => sum.push_str(&format!(" - v[{b}]")),
            }
        }
        s.push_str(&format!(
            "        case {label}: {{\n            return {sum};\n        }}\n"
        ));
    }
    s.push_str("    }\n}\n");
    s
}

#[test]
fn dense_sums_are_the_reference_matrices() {
    for m in rrs::hadamard::FACTORS {
        let path = shaders_dir().join(format!("hadamard_dense_{m}.wgsl"));
        let want = dense_source(m);
        if std::env::var_os("RRS_BLESS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let got = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            got == want,
            "{} is not H_{m} as the reference builds it (RRS_BLESS=1 rewrites it)",
            path.display()
        );
    }
}
