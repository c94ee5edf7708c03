// The parity tests, by module. Each is a `pub async fn()` in its module; the native
// harness (`main.rs`) and the browser harness (`web/tests/parity.rs`) each define
// `parity_tests!` to wrap every one as a test and then include this list, so both run
// the same tests against the same CPU reference.
parity_tests! {
    channel_max: [
        sorted_matches_reference_bit_exactly,
        reciprocals_are_correctly_rounded,
        fixed_and_identity_orders_match_reference,
        zero_input_gives_clamped_scales,
        non_finite_inputs_are_errors,
        group_must_divide_k,
        f16_rows_match_reference,
        row_normalized_matches_reference,
    ],
    gemm: [
        integer_sums_are_bit_exact,
        scaled_output_matches_reference,
        decode_kernel_matches_reference,
        gather_decode_kernel_matches_reference,
        coop_decode_kernel_matches_reference,
        coop_gemm_matches_reference,
        permute_matches_reference,
        mismatched_k_is_an_error,
    ],
    hadamard: [
        small_matrices_are_symmetric_hadamard,
        dense_matrices_are_hadamard,
        reference_matches_dense_matmul,
        every_tile_agrees,
        subgroup_pass_is_used_and_agrees,
        one_pass_is_used_and_agrees,
        gpu_matches_reference_and_is_an_involution,
        unsupported_sizes_are_errors_that_list_the_families,
        signed_zeros_survive_the_dense_pass,
        f16_rows_match_reference_on_every_backend,
        into_a_kept_buffer_matches_and_checks_shapes,
    ],
    linear: [
        gpu_layer_matches_cpu_reference,
        rrs_beats_rtn_and_quarot_on_outliers,
        bad_inputs_are_clear_errors,
        f16_activations_match_cpu_reference,
    ],
    quantize: [
        matches_reference_bit_exactly,
        rotated_matches_reference,
        f16_rows_match_reference,
        row_scales_are_correctly_rounded,
        outputs_reuse_freed_buffers,
        buffers_dropped_while_recording_wait_for_its_submission,
        layout_lower_index_in_lower_nibble,
        k_must_be_a_multiple_of_8,
        every_stage_matches_reference,
        entries_past_k_stay_inside_the_input,
    ],
}
