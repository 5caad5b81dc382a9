//! PyTorch's side of `shears bench --against-pytorch`: the same built-in architecture, input
//! shape, batches and measurement, run by `scripts/bench_pytorch.py` in a `python3` process.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::Path;
use std::process::Command;

/// One PyTorch measurement, as the script prints it.
#[derive(Clone, Debug, Deserialize)]
pub struct Timing {
    pub what: String,
    pub batch: usize,
    pub images_per_sec: f64,
}

/// A run of the script: PyTorch's version, its thread count and its timings.
#[derive(Debug, Deserialize)]
pub struct Reference {
    pub version: String,
    pub threads: usize,
    pub timings: Vec<Timing>,
}

/// What the script measures.
pub struct Request<'a> {
    pub arch: &'a str,
    pub input_shape: [usize; 3],
    pub classes: usize,
    pub batches: &'a [usize],
    pub train: bool,
    pub runs: usize,
}

/// Checks, before any measurement, that the script exists.
pub fn check_script(script: &Path) -> Result<()> {
    if !script.is_file() {
        bail!(
            "--against-pytorch runs '{}', which does not exist: run from the shears checkout or give --pytorch-script",
            script.display()
        );
    }
    Ok(())
}

/// Runs the script once and reads its timings.
pub fn measure(script: &Path, request: &Request) -> Result<Reference> {
    let join = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .args(["--json", "--arch", request.arch])
        .args(["--input-shape", &join(&request.input_shape)])
        .args(["--classes", &request.classes.to_string()])
        .args(["--batch", &join(request.batches)])
        .args(["--runs", &request.runs.to_string()]);
    if request.train {
        command.arg("--train");
    }
    let output = command
        .output()
        .context("--against-pytorch needs python3 with torch (pip install torch==2.15.0)")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no message");
        bail!(
            "the PyTorch benchmark failed: {last} (it needs python3 with torch: pip install torch==2.15.0)"
        );
    }
    serde_json::from_slice(&output.stdout).context("the PyTorch benchmark printed no timings")
}
