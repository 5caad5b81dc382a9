//! Every file a command writes, planned before any work starts: refused when it is an input of
//! the run, when it is not a regular file, or (without `--force`) when it exists and is not the
//! run's own checkpoint being resumed; locked against a second run aimed at the same path; and
//! written atomically (`shears_files::write_atomic`).

use anyhow::{Context, Result, anyhow, bail};
use shears_files::{Existing, FileError, OutputLock, check_target, same_file, write_atomic};
use shears_ir::Graph;
use std::path::{Path, PathBuf};

/// A resumable run's checkpoint: `given` (`--checkpoint`), else `output` with `.ckpt`; it
/// must exist to `--resume`.
pub fn checkpoint_path(given: Option<&Path>, output: &Path, resume: bool) -> Result<PathBuf> {
    let path = given.map_or_else(|| output.with_extension("ckpt"), Path::to_path_buf);
    if resume && !path.exists() {
        bail!(
            "--resume: no checkpoint at '{}' (pass --checkpoint PATH)",
            path.display()
        );
    }
    Ok(path)
}

/// The files a run reads and writes.
#[derive(Debug, Default)]
pub struct Outputs {
    force: bool,
    inputs: Vec<(PathBuf, &'static str)>,
    planned: Vec<Planned>,
    locks: Vec<OutputLock>,
    /// Whether the model read keeps its weights in an external data file, as the model
    /// written will.
    external_model: bool,
}

#[derive(Debug)]
struct Planned {
    path: PathBuf,
    /// The option that named the path, for messages (`-o`, `--checkpoint`, `--report`).
    flag: &'static str,
    /// Whether the run may replace an existing file without `--force` (a resumed checkpoint).
    own: bool,
}

impl Outputs {
    pub fn new(force: bool) -> Self {
        Outputs {
            force,
            ..Outputs::default()
        }
    }

    /// Registers a file the run reads (`what` names it in messages); outputs may never be one.
    pub fn input(&mut self, path: impl AsRef<Path>, what: &'static str) -> &mut Self {
        self.inputs.push((path.as_ref().to_path_buf(), what));
        self
    }

    /// Registers MODEL as an input when it names a file rather than a built-in, with the
    /// external data files it names.
    pub fn model_input(&mut self, model: &str) -> &mut Self {
        if let Some(path) = crate::model::file_of(model) {
            for data in shears_onnx::external_data_files(path) {
                self.input(data, "model's data file");
                self.external_model = true;
            }
            self.input(path, "model");
        }
        self
    }

    /// Plans a model output, with its external data file when the model read has one (call
    /// [`Outputs::model_input`] first). `own`: as for a resumed run's output.
    pub fn model_output(&mut self, path: &Path, own: bool) -> &mut Self {
        if self.external_model {
            self.plan(&shears_onnx::data_path(path), "-o", own);
        }
        self.plan(path, "-o", own)
    }

    /// Plans an output file.
    pub fn file(&mut self, path: impl AsRef<Path>, flag: &'static str) -> &mut Self {
        self.plan(path.as_ref(), flag, false)
    }

    /// Plans the model output (`-o`) and checkpoint of a resumable run. `resumed` is the
    /// checkpoint's model when resuming: a file already at `output` is then the run's own (and
    /// may be replaced without `--force`) only if it holds exactly that model as the exporter
    /// writes it.
    pub fn resumable(
        &mut self,
        output: &Path,
        checkpoint: &Path,
        resumed: Option<&Graph>,
    ) -> Result<&mut Self> {
        let own = match resumed {
            Some(graph) => {
                let files = shears_onnx::to_files(graph, output)?;
                let holds =
                    |path: &Path, bytes: &[u8]| std::fs::read(path).is_ok_and(|b| b == bytes);
                holds(output, &files.model)
                    && files
                        .data
                        .as_ref()
                        .is_none_or(|(path, bytes)| holds(path, bytes))
            }
            None => false,
        };
        self.model_output(output, own);
        Ok(self.checkpoint(checkpoint, resumed.is_some()))
    }

    /// Plans a checkpoint: with `resume` it is the run's own file (read, then replaced);
    /// without, an existing one is an earlier run's and needs `--force` to be replaced.
    pub fn checkpoint(&mut self, path: impl AsRef<Path>, resume: bool) -> &mut Self {
        self.plan(path.as_ref(), "--checkpoint", resume)
    }

    /// Plans the files `names` in the directory `dir`.
    pub fn in_dir(&mut self, dir: &Path, names: &[&str], flag: &'static str) -> &mut Self {
        for name in names {
            self.plan(&dir.join(name), flag, false);
        }
        self
    }

    fn plan(&mut self, path: &Path, flag: &'static str, own: bool) -> &mut Self {
        self.planned.push(Planned {
            path: path.to_path_buf(),
            flag,
            own,
        });
        self
    }

    /// Checks every planned output, creates their directories and locks them for this run.
    /// Call before any long work.
    pub fn claim(&mut self) -> Result<()> {
        for (i, out) in self.planned.iter().enumerate() {
            self.check(out)?;
            if let Some(other) = self.planned[..i]
                .iter()
                .find(|o| o.path == out.path || same_file(&o.path, &out.path))
            {
                bail!(
                    "'{}' is given both as {} and as {}: choose different paths",
                    out.path.display(),
                    other.flag,
                    out.flag
                );
            }
        }
        for out in &self.planned {
            if let Some(dir) = out.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create directory '{}'", dir.display()))?;
            }
            let lock = OutputLock::acquire(&out.path).map_err(|e| explain(e, out.flag))?;
            self.locks.push(lock);
        }
        Ok(())
    }

    fn check(&self, out: &Planned) -> Result<()> {
        if let Some((_, what)) = self
            .inputs
            .iter()
            .find(|(input, _)| same_file(input, &out.path))
        {
            bail!(
                "'{}' ({}) is the {what} this run reads: shears never writes over an input; choose another path",
                out.path.display(),
                out.flag
            );
        }
        check_target(&out.path, self.existing(out)).map_err(|e| explain(e, out.flag))
    }

    fn existing(&self, out: &Planned) -> Existing {
        if self.force || out.own {
            Existing::Replace
        } else {
            Existing::Refuse
        }
    }

    /// Writes `bytes` to a planned output, atomically; without `--force` it refuses a file that
    /// appeared since [`Outputs::claim`].
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let out = self
            .planned
            .iter()
            .find(|o| o.path == path)
            .ok_or_else(|| {
                anyhow!(
                    "internal: '{}' was not planned as an output",
                    path.display()
                )
            })?;
        write_atomic(path, bytes, self.existing(out)).map_err(|e| explain(e, out.flag))
    }

    /// Writes pretty JSON to a planned output.
    pub fn write_json(&self, path: &Path, value: &impl serde::Serialize) -> Result<()> {
        self.write(
            path,
            (serde_json::to_string_pretty(value)? + "\n").as_bytes(),
        )
    }
}

/// A file error in the command line's terms: what to pass or change.
fn explain(error: FileError, flag: &str) -> anyhow::Error {
    match error {
        FileError::Exists { path } if flag == "--checkpoint" => anyhow!(
            "'{}' holds the checkpoint of an earlier run: continue it with --resume, or pass --force to start afresh",
            path.display()
        ),
        FileError::Exists { path } => anyhow!(
            "'{}' already exists: choose another {flag} path or pass --force to overwrite it",
            path.display()
        ),
        FileError::NotRegular { path, kind } => anyhow!(
            "'{}' ({flag}) is {kind}: shears only ever replaces regular files; choose a file path",
            path.display()
        ),
        FileError::Busy { path, holder } => anyhow!(
            "another shears run{} is writing '{}': wait for it to finish or choose another {flag} path",
            holder
                .map(|p| format!(" (process {p})"))
                .unwrap_or_default(),
            path.display()
        ),
        other => anyhow::Error::new(other),
    }
}
