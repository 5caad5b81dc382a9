//! The user's files are sacred: what shears may write, what it refuses, and bad values refused
//! before any work. Each test is a scenario of the hostile-user report of issue 15.

mod common;

use common::*;
use shears_files::OutputLock;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

/// `shears export lenet5 -o PATH`, plus `extra` options.
fn export(path: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["export", "lenet5", "-o", path.to_str().unwrap()];
    args.extend(extra);
    shears(&args)
}

#[test]
fn force_never_replaces_a_special_file() {
    let dir = temp_dir("special");
    assert_user_error(
        &["export", "lenet5", "-o", "/dev/null", "--force"],
        "is a device",
    );
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    let fifo = dir.join("fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    assert_user_error(
        &["export", "lenet5", "-o", fifo.to_str().unwrap(), "--force"],
        "is a FIFO",
    );
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_user_error(
        &["export", "lenet5", "-o", dir.to_str().unwrap(), "--force"],
        "is a directory",
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn no_output_may_be_an_input_even_with_force() {
    let dir = temp_dir("inputs");
    let model = dir.join("m.onnx");
    assert!(export(&model, &["--force"]).status.success());
    let before = std::fs::read(&model).unwrap();
    let m = model.to_str().unwrap();
    let out = dir.join("out.onnx");
    let o = out.to_str().unwrap();
    let prune = [
        "prune",
        m,
        "--criterion",
        "l1",
        "--ratio",
        "0.5",
        "-o",
        o,
        "--force",
    ];
    assert_user_error(
        &[&prune[..], &["--checkpoint", m]].concat(),
        "is the model this run reads",
    );
    let dotted = dir.join(".").join("m.onnx");
    assert_user_error(
        &["export", m, "-o", dotted.to_str().unwrap(), "--force"],
        "is the model this run reads",
    );
    assert_user_error(
        &[
            &prune[..],
            &["--report", dir.to_str().unwrap(), "--checkpoint", o],
        ]
        .concat(),
        "both as -o and as --checkpoint",
    );
    assert_eq!(
        std::fs::read(&model).unwrap(),
        before,
        "the input is untouched"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn existing_files_are_replaced_only_with_force() {
    let dir = temp_dir("existing");
    let out = dir.join("p.onnx");
    let o = out.to_str().unwrap();
    let prune = [
        "prune",
        "lenet5",
        "--criterion",
        "l1",
        "--ratio",
        "0.5",
        "-o",
        o,
    ];
    let run = shears(&prune);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(out.with_extension("ckpt").exists());
    assert_user_error(
        &prune,
        "already exists: choose another -o path or pass --force",
    );
    // The checkpoint of the earlier run is not silently replaced by a new run either.
    std::fs::remove_file(&out).unwrap();
    assert_user_error(
        &prune,
        "holds the checkpoint of an earlier run: continue it with --resume",
    );
    let forced = shears(&[&prune[..], &["--force"]].concat());
    assert!(forced.status.success(), "{}", stderr(&forced));

    // A history file, a report file: the same rule.
    let history = dir.join("history.json");
    std::fs::write(&history, "mine").unwrap();
    write_idx(&dir, "train", 32);
    write_idx(&dir, "t10k", 16);
    let trained = dir.join("t.onnx");
    assert_user_error(
        &[
            "train",
            "--model",
            "lenet5",
            "--data",
            "mnist",
            "--data-dir",
            dir.to_str().unwrap(),
            "--epochs",
            "1",
            "-o",
            trained.to_str().unwrap(),
            "--history",
            history.to_str().unwrap(),
        ],
        "history.json' already exists",
    );
    assert_eq!(std::fs::read_to_string(&history).unwrap(), "mine");
    assert!(
        !trained.exists(),
        "nothing is trained before the outputs are checked"
    );
    let report = dir.join("report");
    std::fs::create_dir_all(&report).unwrap();
    std::fs::write(report.join("report.md"), "mine").unwrap();
    let other = dir.join("q.onnx");
    assert_user_error(
        &[
            "prune",
            "lenet5",
            "--criterion",
            "l1",
            "--ratio",
            "0.5",
            "-o",
            other.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        "report.md' already exists",
    );
    assert_eq!(
        std::fs::read_to_string(report.join("report.md")).unwrap(),
        "mine"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn resume_replaces_its_own_output_but_not_an_unrelated_file() {
    let dir = temp_dir("resume-own");
    let out = dir.join("p.onnx");
    let o = out.to_str().unwrap();
    let prune = [
        "prune",
        "lenet5",
        "--criterion",
        "l1",
        "--ratio",
        "0.5",
        "-o",
        o,
        "--steps",
        "2",
    ];
    let run = shears(&[&prune[..], &["--max-steps", "1"]].concat());
    assert!(run.status.success(), "{}", stderr(&run));
    // The output of step 1 is this run's own: --resume goes on and replaces it.
    let resumed = shears(&[&prune[..], &["--resume"]].concat());
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    // An unrelated file at -o is not the run's own.
    std::fs::write(&out, "a file of the user's").unwrap();
    assert_user_error(&[&prune[..], &["--resume"]].concat(), "already exists");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "a file of the user's"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_second_run_on_the_same_output_is_refused() {
    let dir = temp_dir("lock");
    let out = dir.join("busy.onnx");
    let lock = OutputLock::acquire(&out).unwrap();
    let expected = format!(
        "another shears run (process {}) is writing",
        std::process::id()
    );
    assert_user_error(
        &["export", "lenet5", "-o", out.to_str().unwrap()],
        &expected,
    );
    drop(lock);
    assert!(export(&out, &[]).status.success());
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["busy.onnx"],
        "no lock or temporary file is left behind"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn resume_checks_the_model_by_content_not_by_path() {
    let dir = temp_dir("resume-content");
    let model = dir.join("m.onnx");
    assert!(export(&model, &[]).status.success());
    let out = dir.join("p.onnx");
    let prune = |model: &str, extra: &[&str]| {
        let mut args = vec![
            "prune",
            model,
            "--criterion",
            "l1",
            "--ratio",
            "0.5",
            "--steps",
            "2",
            "-o",
        ];
        args.push(out.to_str().unwrap());
        args.extend(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| shears(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let first = run(prune(model.to_str().unwrap(), &["--max-steps", "1"]));
    assert!(first.status.success(), "{}", stderr(&first));
    std::fs::remove_file(&out).unwrap();
    // The same file spelled another way is the same model.
    let dotted = dir.join(".").join("m.onnx");
    let spelled = run(prune(dotted.to_str().unwrap(), &["--resume"]));
    assert!(spelled.status.success(), "{}", stderr(&spelled));
    // Another model under the same name is not.
    std::fs::remove_file(&out).unwrap();
    let vgg = shears(&["export", "vgg11", "-o", model.to_str().unwrap(), "--force"]);
    assert!(vgg.status.success(), "{}", stderr(&vgg));
    let args = prune(model.to_str().unwrap(), &["--resume"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_user_error(&args, "the checkpoint belongs to another run: the model");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_values_are_refused_before_any_work() {
    let prune = [
        "prune",
        "lenet5",
        "--criterion",
        "l1",
        "-o",
        "/tmp/shears-never-written.onnx",
    ];
    assert_user_error(
        &[&prune[..], &["--ratio", "-0.1"]].concat(),
        "'-0.1' is not a fraction",
    );
    assert_user_error(
        &[&prune[..], &["--ratio", "0.5", "--steps", "1000000"]].concat(),
        "between 1 and 1000",
    );
    assert_user_error(
        &["eval", "lenet5", "--data", "mnist", "--limit", "0"],
        "at least 1",
    );
    assert_user_error(
        &["eval", "lenet5", "--data", "mnist", "--mean", "inf"],
        "not a finite number",
    );
    assert_user_error(
        &["eval", "lenet5", "--data", "mnist", "--std", "0"],
        "not a positive number",
    );
    let train = [
        "train",
        "--model",
        "lenet5",
        "--data",
        "mnist",
        "-o",
        "/tmp/shears-never.onnx",
    ];
    assert_user_error(
        &[&train[..], &["--momentum", "2"]].concat(),
        "not a momentum",
    );
    assert_user_error(&[&train[..], &["--step-every", "0"]].concat(), "at least 1");
    let fashion = [
        "train",
        "--model",
        "lenet5",
        "--data",
        "fashion-mnist",
        "--train-limit",
        "8",
        "-o",
        "/tmp/shears-never.onnx",
    ];
    assert_user_error(
        &[&fashion[..], &["--crop-padding", "1000000000"]].concat(),
        "--crop-padding 1000000000 is more than the images' side (28x28)",
    );
    assert_user_error(&["demo", "--target-macs", "1.5"], "'1.5' is not a fraction");
    assert_user_error(
        &["info", "lenet5", "--input-shape", "3,100000,100000"],
        "limit",
    );
    assert_user_error(
        &["info", "lenet5", "--input-shape", "3,16000,16000"],
        "limit",
    );
    assert_user_error(
        &["bench", "lenet5", "--batch", "100000000", "--runs", "1"],
        "use a smaller batch",
    );
    assert!(!Path::new("/tmp/shears-never-written.onnx").exists());
}

#[test]
fn empty_splits_and_mismatched_data_are_refused_up_front() {
    let dir = temp_dir("empty-split");
    write_idx(&dir, "train", 16);
    write_idx(&dir, "t10k", 0);
    let d = dir.to_str().unwrap();
    assert_user_error(
        &["eval", "lenet5", "--data", "mnist", "--data-dir", d],
        "has no samples",
    );
    let out = dir.join("never.onnx");
    assert_user_error(
        &[
            "train",
            "--model",
            "lenet5",
            "--data",
            "mnist",
            "--data-dir",
            d,
            "-o",
            out.to_str().unwrap(),
        ],
        "has no samples",
    );
    assert!(!out.exists());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_corrupt_checkpoint_is_refused() {
    let dir = temp_dir("corrupt-ckpt");
    write_idx(&dir, "train", 32);
    write_idx(&dir, "t10k", 16);
    let out = dir.join("t.onnx");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--model",
            "lenet5",
            "--data",
            "mnist",
            "--data-dir",
            dir.to_str().unwrap(),
            "--batch",
            "16",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        shears(&args)
    };
    let first = train(&["--epochs", "1"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let ckpt = out.with_extension("ckpt");
    let mut bytes = std::fs::read(&ckpt).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    bytes[n / 2 + 1] ^= 0x01;
    std::fs::write(&ckpt, &bytes).unwrap();
    let err = train(&["--epochs", "2", "--resume"]);
    assert_eq!(err.status.code(), Some(2));
    assert!(
        stderr(&err).contains("checksum does not match"),
        "{}",
        stderr(&err)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn non_finite_weights_are_refused() {
    let dir = temp_dir("nan");
    let mut graph = shears_ir::zoo::build("lenet5", &Default::default()).unwrap();
    let conv = graph
        .nodes
        .iter_mut()
        .find(|n| n.op.param_count() > 0)
        .unwrap();
    match &mut conv.op {
        shears_ir::Op::Conv2d(c) => c.weight.data[3] = f32::NAN,
        other => panic!("expected a conv first, got {}", other.type_name()),
    }
    let path = dir.join("nan.onnx");
    std::fs::write(&path, shears_onnx::save(&graph).unwrap()).unwrap();
    assert_user_error(&["info", path.to_str().unwrap()], "NaN");
    std::fs::remove_dir_all(dir).ok();
}

/// `kill -9` at seeded random moments, then `--resume`: the run always continues, the output is
/// never a partial file, no temporary file survives a finished run, and the result equals an
/// uninterrupted run's.
#[test]
fn killed_runs_resume_to_the_uninterrupted_result() {
    let dir = temp_dir("kill");
    write_idx(&dir, "train", 512);
    write_idx(&dir, "t10k", 64);
    let train = |out: &Path, resume: bool| {
        let mut args = vec![
            "train",
            "--model",
            "lenet5",
            "--data",
            "mnist",
            "--data-dir",
            dir.to_str().unwrap(),
            "--epochs",
            "6",
            "--batch",
            "32",
            "--lr",
            "0.05",
            "--no-flip",
            "-o",
            out.to_str().unwrap(),
        ];
        if resume {
            args.push("--resume");
        }
        Command::new(env!("CARGO_BIN_EXE_shears"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let straight = dir.join("straight.onnx");
    assert!(train(&straight, false).wait().unwrap().success());

    let killed = dir.join("killed.onnx");
    let ckpt = killed.with_extension("ckpt");
    let mut delays = [700u64, 250, 1300, 400, 900, 150, 1100].iter().cycle();
    let (mut kills, mut finished) = (0, false);
    for _ in 0..40 {
        let mut child = train(&killed, ckpt.exists());
        std::thread::sleep(std::time::Duration::from_millis(*delays.next().unwrap()));
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            finished = true;
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        if killed.exists() {
            let info = shears(&["info", killed.to_str().unwrap()]);
            assert!(
                info.status.success(),
                "a partial model at -o: {}",
                stderr(&info)
            );
        }
    }
    assert!(finished && kills > 0, "kills {kills}, finished {finished}");
    let a = shears_onnx::load_file(&straight).unwrap();
    let b = shears_onnx::load_file(&killed).unwrap();
    for (x, y) in a.nodes.iter().zip(&b.nodes) {
        for (u, v) in x.op.arrays().iter().zip(y.op.arrays()) {
            let worst = u
                .data
                .iter()
                .zip(&v.data)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max);
            assert!(
                worst < 1e-4,
                "{}: differs by {worst} after {kills} kills",
                x.name
            );
        }
    }
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(dir).ok();
}

/// Two `shears` processes aimed at one output: the second stops at once, naming the first.
#[test]
fn a_concurrent_run_is_refused_and_names_the_first() {
    let dir = temp_dir("concurrent");
    write_idx(&dir, "train", 512);
    write_idx(&dir, "t10k", 64);
    let out = dir.join("m.onnx");
    let args = [
        "train",
        "--model",
        "lenet5",
        "--data",
        "mnist",
        "--data-dir",
        dir.to_str().unwrap(),
        "--epochs",
        "50",
        "--batch",
        "32",
        "-o",
        out.to_str().unwrap(),
    ];
    let mut first = Command::new(env!("CARGO_BIN_EXE_shears"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = dir.join(".m.onnx.lock");
    for _ in 0..200 {
        if std::fs::read_to_string(&lock).is_ok_and(|pid| !pid.is_empty()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let expected = format!("another shears run (process {}) is writing", first.id());
    assert_user_error(&[&args[..], &["--force"]].concat(), &expected);
    first.kill().unwrap();
    first.wait().unwrap();
    std::fs::remove_dir_all(dir).ok();
}

/// A resume on other data (same file names, other content) names the data that differs.
#[test]
fn resume_on_other_data_is_refused() {
    let dir = temp_dir("other-data");
    let (a, b) = (dir.join("a"), dir.join("b"));
    for (d, n) in [(&a, 32), (&b, 48)] {
        std::fs::create_dir_all(d).unwrap();
        write_idx(d, "train", n);
        write_idx(d, "t10k", 16);
    }
    let out = dir.join("m.onnx");
    let train = |data: &Path, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--model",
            "lenet5",
            "--data",
            "mnist",
            "--data-dir",
            data.to_str().unwrap(),
            "--batch",
            "16",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let first = shears(
        &train(&a, &["--epochs", "1"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(first.status.success(), "{}", stderr(&first));
    std::fs::remove_file(&out).unwrap();
    let resumed = train(&b, &["--epochs", "2", "--resume"]);
    let resumed: Vec<&str> = resumed.iter().map(String::as_str).collect();
    assert_user_error(
        &resumed,
        "the checkpoint belongs to another run: the training data",
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A model's external data file (PyTorch's `m.onnx.data`) is an input too: never an output.
#[test]
fn the_external_data_file_of_a_model_is_an_input() {
    use prost::Message;
    let dir = temp_dir("external");
    let graph = shears_ir::zoo::build("lenet5", &Default::default()).unwrap();
    let mut model = shears_onnx::to_model(&graph).unwrap();
    let t = &mut model.graph.as_mut().unwrap().initializer[0];
    let data = std::mem::take(&mut t.raw_data);
    t.data_location = 1;
    t.external_data = vec![shears_onnx::proto::StringStringEntryProto {
        key: "location".into(),
        value: "m.onnx.data".into(),
    }];
    let path = dir.join("m.onnx");
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    let data_file = dir.join("m.onnx.data");
    std::fs::write(&data_file, &data).unwrap();
    let info = shears(&["info", path.to_str().unwrap()]);
    assert!(info.status.success(), "{}", stderr(&info));
    assert_user_error(
        &[
            "export",
            path.to_str().unwrap(),
            "-o",
            data_file.to_str().unwrap(),
            "--force",
        ],
        "is the model's data file this run reads",
    );
    assert_eq!(std::fs::read(&data_file).unwrap(), data);
    std::fs::remove_dir_all(dir).ok();
}

/// An ONNX model with symbolic H and W takes `--input-shape`; without it the error says so.
#[test]
fn symbolic_sizes_take_input_shape() {
    use prost::Message;
    use shears_onnx::proto::{tensor_shape_proto::dimension, type_proto};
    let dir = temp_dir("symbolic");
    let graph = shears_ir::zoo::build("resnet20", &Default::default()).unwrap();
    let mut model = shears_onnx::to_model(&graph).unwrap();
    let input = &mut model.graph.as_mut().unwrap().input[0];
    if let Some(type_proto::Value::TensorType(t)) = input.r#type.as_mut().unwrap().value.as_mut() {
        for d in &mut t.shape.as_mut().unwrap().dim[2..] {
            d.value = Some(dimension::Value::DimParam("size".into()));
        }
    }
    let path = dir.join("free.onnx");
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    let p = path.to_str().unwrap();
    assert_user_error(
        &["info", p],
        "dimension 2 is symbolic ('size'): give the input size to import it for (--input-shape C,H,W)",
    );
    let info = shears(&["info", p, "--input-shape", "3,32,32", "--json"]);
    assert!(info.status.success(), "{}", stderr(&info));
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(json["macs"], 40_813_184);
    assert_user_error(
        &["info", p, "--classes", "3"],
        "--classes applies to built-in architectures",
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A full disk (emulated: a 16 KiB file-size limit with SIGXFSZ ignored, so writes fail with
/// EFBIG as they fail with ENOSPC): a clear error, and no truncated file or temporary left in
/// the report folder.
#[test]
fn a_full_disk_leaves_no_truncated_report_file() {
    let dir = temp_dir("full-disk");
    let (out, report) = (dir.join("p.onnx"), dir.join("report"));
    let command = format!(
        "trap '' XFSZ; ulimit -f 16; exec '{}' prune lenet5 --criterion l1 --ratio 0.9 -o '{}' --report '{}'",
        env!("CARGO_BIN_EXE_shears"),
        out.display(),
        report.display()
    );
    let run = Command::new("bash")
        .args(["-c", &command])
        .output()
        .unwrap();
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot write the report") && err.contains("File too large"),
        "{err}"
    );
    let mut left: Vec<String> = std::fs::read_dir(&report)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["report.json", "report.md"],
        "only whole files remain"
    );
    std::fs::remove_dir_all(dir).ok();
}
