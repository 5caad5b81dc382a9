//! Seeded fuzzing of ONNX import: never a panic, never a hang, whatever the file holds.
//!
//! The seeds are every model of the test zoo (`tests/zoo/*/model.onnx`), the light models the
//! other tests use (the every-op graph, LeNet-5 and ResNet-20 as shears writes them) and two
//! hand-built files for the folds and the old-opset forms. Each mutant is a seed changed byte by
//! byte (bit flips, random bytes, truncation, a duplicated, inserted or deleted range, two files
//! spliced) or structurally (decoded, then dims, attribute values, input and output names, op
//! types, initializer data or the opset changed, and re-encoded). It goes through
//! `shears_onnx::load` and, when that succeeds, through `verify`, `param_count`, `mac_count`,
//! `save` and a re-load of what was saved. Each call must return rather than panic, and a
//! mutant may take at most a few seconds; the failing mutants are written to a temporary
//! directory to reproduce them.
//!
//! `SHEARS_FUZZ_MUTANTS` sets the number of mutants (default 20 000, some 15 s in a debug test
//! build on 2 cores), `SHEARS_FUZZ_SEED` the seed (default 15), `SHEARS_FUZZ_TIMEOUT_S` the time one
//! mutant may take (default 5 s). The counts are printed (`--nocapture` shows them).

mod common;

use common::*;
use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};
use prost::Message;
use shears_ir::zoo::{self, ArchSpec};
use shears_onnx::proto::tensor_shape_proto::dimension;
use shears_onnx::proto::{ModelProto, TensorProto, type_proto};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A seed file: its name and bytes, and the model decoded for structured mutations.
struct Seed {
    name: String,
    bytes: Vec<u8>,
    model: ModelProto,
}

/// What one mutant did.
#[derive(Debug)]
enum Outcome {
    /// Loaded; `export` is the error of `save` or of re-loading the saved bytes, if any.
    Loaded { export: Option<String> },
    /// Refused with an error (its variant name).
    Refused(String),
    /// A call panicked.
    Panicked { call: &'static str, message: String },
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_models_never_panic_or_hang() {
    let mutants: usize = env_or("SHEARS_FUZZ_MUTANTS", 20_000);
    let seed: u64 = env_or("SHEARS_FUZZ_SEED", 15);
    let timeout = Duration::from_secs_f64(env_or("SHEARS_FUZZ_TIMEOUT_S", 5.0));
    let seeds = seeds();
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);

    let started = Instant::now();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let (mut loaded, mut refused, mut export_failed) = (0, 0, 0);
    let mut failures: Vec<(String, PathBuf)> = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    for k in 0..mutants {
        let (how, bytes) = mutant(&mut rng, &seeds);
        let t = Instant::now();
        let outcome = run_with_timeout(bytes.clone(), timeout);
        if t.elapsed() > slowest.0 {
            slowest = (t.elapsed(), how.clone());
        }
        match outcome {
            Some(Outcome::Loaded { export: None }) => loaded += 1,
            Some(Outcome::Loaded { export: Some(e) }) => {
                loaded += 1;
                export_failed += 1;
                let path = keep(k, "export", &bytes);
                failures.push((format!("{how}: loaded, but export failed: {e}"), path));
            }
            Some(Outcome::Refused(kind)) => {
                refused += 1;
                *counts.entry(kind).or_default() += 1;
            }
            Some(Outcome::Panicked { call, message }) => {
                let path = keep(k, "panic", &bytes);
                failures.push((format!("{how}: {call} panicked: {message}"), path));
            }
            None => {
                let path = keep(k, "hang", &bytes);
                failures.push((format!("{how}: took more than {timeout:?}"), path));
                break;
            }
        }
    }
    println!(
        "fuzz: {mutants} mutants of {} seeds (seed {seed}) in {:.1?}: {loaded} loaded ({export_failed} \
         of them failed to export or re-load), {refused} refused with an error, {} panics or hangs; \
         slowest mutant {:.1?} ({})",
        seeds.len(),
        started.elapsed(),
        failures.len() - export_failed,
        slowest.0,
        slowest.1
    );
    println!("fuzz: errors by kind: {counts:?}");
    let report: Vec<String> = failures
        .iter()
        .take(20)
        .map(|(what, path)| format!("{what} (mutant kept in {})", path.display()))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing mutants:\n{}",
        failures.len(),
        report.join("\n")
    );
}

/// Every seed loads, and what shears saves of it loads back: the checks refuse no valid model.
#[test]
fn every_seed_loads_and_round_trips() {
    for seed in seeds() {
        let graph = shears_onnx::load(&seed.bytes).unwrap_or_else(|e| panic!("{}: {e}", seed.name));
        let saved = shears_onnx::save(&graph).unwrap_or_else(|e| panic!("{}: {e}", seed.name));
        let back = shears_onnx::load(&saved).unwrap_or_else(|e| panic!("{}: {e}", seed.name));
        assert_eq!(back.param_count(), graph.param_count(), "{}", seed.name);
    }
}

/// Runs one mutant on a worker thread; `None` if it takes longer than `timeout` (the worker is
/// left behind: the test fails anyway).
fn run_with_timeout(bytes: Vec<u8>, timeout: Duration) -> Option<Outcome> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("fuzz-mutant".into())
        .spawn(move || {
            let _ = tx.send(run(&bytes));
        })
        .expect("spawn a fuzz worker");
    rx.recv_timeout(timeout).ok()
}

/// `f` under `catch_unwind`, a panic as an [`Outcome::Panicked`] naming `call`.
fn guarded<T>(call: &'static str, f: impl FnOnce() -> T) -> Result<T, Outcome> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Outcome::Panicked { call, message }
    })
}

/// Loads a mutant and, if it loads, uses the graph as a caller would.
fn run(bytes: &[u8]) -> Outcome {
    let attempt = || -> Result<Outcome, Outcome> {
        let graph = match guarded("load", || shears_onnx::load(bytes))? {
            Ok(graph) => graph,
            Err(e) => return Ok(Outcome::Refused(variant(&e))),
        };
        let _ = guarded("verify", || graph.verify())?;
        guarded("param_count", || graph.param_count())?;
        let _ = guarded("mac_count", || graph.mac_count())?;
        let export = match guarded("save", || shears_onnx::save(&graph))? {
            Err(e) => Some(format!("save: {e}")),
            Ok(saved) => guarded("re-load", || shears_onnx::load(&saved))?
                .err()
                .map(|e| format!("re-load: {e}")),
        };
        Ok(Outcome::Loaded { export })
    };
    attempt().unwrap_or_else(|o| o)
}

/// The name of an error's variant, with the one inside `InFile`/`Invalid` for IR errors.
fn variant(e: &shears_onnx::OnnxError) -> String {
    let debug = format!("{e:?}");
    let end = debug.find([' ', '(', '{']).unwrap_or(debug.len());
    match e {
        shears_onnx::OnnxError::Invalid(ir) => {
            let inner = format!("{ir:?}");
            let inner_end = inner.find([' ', '(', '{']).unwrap_or(inner.len());
            format!("Invalid({})", &inner[..inner_end])
        }
        _ => debug[..end].to_string(),
    }
}

/// Writes a failing mutant where it can be loaded again.
fn keep(k: usize, what: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shears-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the fuzz failure directory");
    let path = dir.join(format!("mutant-{k}-{what}.onnx"));
    std::fs::write(&path, bytes).expect("write a failing mutant");
    path
}

// ---- seeds ----

fn seeds() -> Vec<Seed> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let zoo_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/zoo");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&zoo_dir)
        .expect("read the test zoo")
        .map(|e| e.expect("a zoo entry").path())
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 12, "the zoo has {} models", dirs.len());
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        files.push((name, std::fs::read(dir.join("model.onnx")).unwrap()));
    }
    files.push((
        "every_op".into(),
        shears_onnx::save(&every_op_graph()).unwrap(),
    ));
    for arch in ["lenet5", "resnet20"] {
        let graph = zoo::build(arch, &ArchSpec::default()).unwrap();
        files.push((arch.into(), shears_onnx::save(&graph).unwrap()));
    }
    files.push(("folds".into(), folds_model().encode_to_vec()));
    files.push(("opset10".into(), opset10_model().encode_to_vec()));
    files
        .into_iter()
        .map(|(name, bytes)| {
            let model = ModelProto::decode(bytes.as_slice()).expect("a seed decodes");
            Seed { name, bytes, model }
        })
        .collect()
}

/// Constants folded at import: `ConstantOfShape`, a `Shape`–`Gather`–`Unsqueeze`–`Concat`
/// target for a `Reshape`, a `Slice`, `Squeeze` and `Cast` of constants, a transposed constant
/// weight, constant arithmetic.
fn folds_model() -> ModelProto {
    let nodes = vec![
        node(
            "ConstantOfShape",
            "ones",
            &["gate_shape"],
            &["gate"],
            vec![attr_tensor("value", float_data("", &[1], &[0.5]))],
        ),
        node("Mul", "scale", &["x", "gate"], &["xs"], vec![]),
        node("Shape", "shape", &["xs"], &["s"], vec![]),
        node(
            "Gather",
            "batch",
            &["s", "zero"],
            &["n"],
            vec![attr_int("axis", 0)],
        ),
        node("Unsqueeze", "n1", &["n", "zero1"], &["n_1"], vec![]),
        node("Slice", "feat", &["sizes", "zero1", "one1"], &["f"], vec![]),
        node("Mul", "feat2", &["f", "one1"], &["f2"], vec![]),
        node(
            "Concat",
            "target",
            &["n_1", "f2"],
            &["t"],
            vec![attr_int("axis", 0)],
        ),
        node("Reshape", "flat", &["xs", "t"], &["v"], vec![]),
        node(
            "Transpose",
            "wt",
            &["w"],
            &["w_t"],
            vec![attr_ints("perm", &[1, 0])],
        ),
        node("Cast", "wc", &["w_t"], &["w_c"], vec![attr_int("to", 1)]),
        node("MatMul", "fc", &["v", "w_c"], &["y0"], vec![]),
        node("Squeeze", "sq", &["b2"], &["b"], vec![]),
        node("Add", "bias", &["y0", "b"], &["y"], vec![]),
    ];
    let inits = vec![
        int64_data("gate_shape", &[4], &[1, 2, 1, 1]),
        int64_data("zero", &[], &[0]),
        int64_data("zero1", &[1], &[0]),
        int64_data("one1", &[1], &[1]),
        int64_data("sizes", &[2], &[8, 3]),
        float_data("w", &[3, 8], &[0.25; 24]),
        float_data("b2", &[1, 3], &[1.0, 2.0, 3.0]),
    ];
    model(
        13,
        nodes,
        inits,
        vec![value("x", &[None, Some(2), Some(2), Some(2)])],
        vec![value("y", &[None, Some(3)])],
    )
}

/// The forms of opset 10: a `Constant` weight, attributes for `Clip`, `Dropout` and `Pad`,
/// `Slice` with constant inputs, an initializer also listed as an input.
fn opset10_model() -> ModelProto {
    let w: Vec<f32> = (0..2 * 3 * 3 * 3).map(|i| i as f32 / 10.0).collect();
    let nodes = vec![
        node(
            "Constant",
            "wk",
            &[],
            &["w"],
            vec![attr_tensor("value", float_data("", &[2, 3, 3, 3], &w))],
        ),
        node(
            "Pad",
            "pad",
            &["x"],
            &["xp"],
            vec![attr_ints("pads", &[0, 0, 1, 1, 0, 0, 1, 1])],
        ),
        node("Conv", "conv", &["xp", "w", "b"], &["c"], vec![]),
        node(
            "Clip",
            "relu6",
            &["c"],
            &["r"],
            vec![attr_float("min", 0.0), attr_float("max", 6.0)],
        ),
        node(
            "Slice",
            "half",
            &["r", "starts", "ends", "axes"],
            &["h"],
            vec![],
        ),
        node(
            "Dropout",
            "drop",
            &["h"],
            &["d", "mask"],
            vec![attr_float("ratio", 0.25)],
        ),
        node(
            "AveragePool",
            "pool",
            &["d"],
            &["p"],
            vec![
                attr_ints("kernel_shape", &[2, 2]),
                attr_ints("strides", &[2, 2]),
            ],
        ),
        node("Flatten", "flat", &["p"], &["f"], vec![]),
        node(
            "Gemm",
            "fc",
            &["f", "fw", "fb"],
            &["y"],
            vec![attr_int("transB", 1)],
        ),
    ];
    let inits = vec![
        float_data("b", &[2], &[0.5, -0.5]),
        int64_data("starts", &[1], &[0]),
        int64_data("ends", &[1], &[1]),
        int64_data("axes", &[1], &[1]),
        float_data("fw", &[4, 4], &[0.1; 16]),
        float_data("fb", &[4], &[0.0; 4]),
    ];
    model(
        10,
        nodes,
        inits,
        vec![
            value("x", &[Some(1), Some(3), Some(4), Some(4)]),
            value("b", &[Some(2)]),
        ],
        vec![value("y", &[Some(1), Some(4)])],
    )
}

// ---- mutations ----

/// One mutant of a random seed, and how it was made.
fn mutant(rng: &mut TestRng, seeds: &[Seed]) -> (String, Vec<u8>) {
    let seed = &seeds[rng.random_range(0..seeds.len())];
    if rng.random_bool(0.5) {
        let other = &seeds[rng.random_range(0..seeds.len())];
        let (how, bytes) = byte_mutant(rng, &seed.bytes, &other.bytes);
        (format!("{} {how}", seed.name), bytes)
    } else {
        let mut model = seed.model.clone();
        let edits = rng.random_range(1..=3);
        let hows: Vec<&str> = (0..edits)
            .map(|_| structured_edit(rng, &mut model))
            .collect();
        (
            format!("{} {}", seed.name, hows.join(", ")),
            model.encode_to_vec(),
        )
    }
}

/// A byte-level mutant of `bytes` (`other` for splices).
fn byte_mutant(rng: &mut TestRng, bytes: &[u8], other: &[u8]) -> (&'static str, Vec<u8>) {
    let mut b = bytes.to_vec();
    let n = b.len();
    let at = |rng: &mut TestRng, len: usize| rng.random_range(0..len.max(1));
    let how = match rng.random_range(0..8) {
        0 => {
            for _ in 0..rng.random_range(1..=8) {
                let i = at(rng, n);
                b[i] ^= 1 << rng.random_range(0..8);
            }
            "bit flips"
        }
        1 => {
            for _ in 0..rng.random_range(1..=8) {
                let i = at(rng, n);
                b[i] = rng.random();
            }
            "random bytes"
        }
        2 => {
            b.truncate(at(rng, n));
            "truncation"
        }
        3 => {
            let (s, len) = (at(rng, n), rng.random_range(1..=64));
            let chunk: Vec<u8> = b[s..(s + len).min(n)].to_vec();
            let to = at(rng, n);
            b.splice(to..to, chunk);
            "duplicated range"
        }
        4 => {
            let to = at(rng, n);
            let len = rng.random_range(1..=16);
            let noise: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            b.splice(to..to, noise);
            "inserted bytes"
        }
        5 => {
            let s = at(rng, n);
            let e = (s + rng.random_range(1..=256)).min(n);
            b.drain(s..e);
            "deleted range"
        }
        6 => {
            let cut = at(rng, n);
            let from = at(rng, other.len());
            b.truncate(cut);
            b.extend_from_slice(&other[from..]);
            "splice"
        }
        _ => {
            // Protobuf varints and lengths: make one huge, zero or truncated.
            let i = at(rng, n);
            let v = [0x00, 0x7f, 0x80, 0xff][rng.random_range(0..4)];
            let end = (i + rng.random_range(1..=10)).min(n);
            b[i..end].fill(v);
            "varint bytes"
        }
    };
    (how, b)
}

/// Interesting integers: boundaries, overflows, negatives and small values.
fn interesting_int(rng: &mut TestRng, current: i64) -> i64 {
    const VALUES: [i64; 18] = [
        0,
        1,
        -1,
        2,
        3,
        -2,
        7,
        255,
        65_536,
        100_000,
        1 << 20,
        (1 << 31) - 1,
        1 << 31,
        1 << 32,
        1 << 40,
        1 << 62,
        i64::MAX,
        i64::MIN,
    ];
    match rng.random_range(0..4) {
        0 => current.wrapping_mul(2),
        1 => current.wrapping_add(if rng.random_bool(0.5) { 1 } else { -1 }),
        2 => rng.random_range(-4..64),
        _ => VALUES[rng.random_range(0..VALUES.len())],
    }
}

fn interesting_float(rng: &mut TestRng) -> f32 {
    const VALUES: [f32; 9] = [
        0.0,
        -1.0,
        1.0,
        0.5,
        1e30,
        -1e-30,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    VALUES[rng.random_range(0..VALUES.len())]
}

/// Op types shears imports or folds, and a few it does not.
const OP_TYPES: [&str; 24] = [
    "Conv",
    "BatchNormalization",
    "Gemm",
    "MatMul",
    "Relu",
    "Clip",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Flatten",
    "Reshape",
    "Add",
    "Mul",
    "Concat",
    "Split",
    "Slice",
    "Pad",
    "ReduceMean",
    "Gather",
    "Squeeze",
    "Unsqueeze",
    "ConstantOfShape",
    "Shape",
    "Resize",
];

/// Applies one structured edit to `m`; returns what it did.
fn structured_edit(rng: &mut TestRng, m: &mut ModelProto) -> &'static str {
    let names = value_names(m);
    let Some(g) = m.graph.as_mut() else {
        return "no graph";
    };
    let n_nodes = g.node.len().max(1);
    match rng.random_range(0..14) {
        0 => {
            let Some(t) = pick_tensor(rng, g) else {
                return "no tensor";
            };
            if t.dims.is_empty() {
                t.dims.push(1);
            }
            let i = rng.random_range(0..t.dims.len());
            t.dims[i] = interesting_int(rng, t.dims[i]);
            "tensor dim"
        }
        1 => {
            let Some(t) = pick_tensor(rng, g) else {
                return "no tensor";
            };
            let mut ints = int_values(t);
            if ints.is_empty() {
                return "no int values";
            }
            let i = rng.random_range(0..ints.len());
            ints[i] = interesting_int(rng, ints[i]);
            t.raw_data = ints.iter().flat_map(|v| v.to_le_bytes()).collect();
            t.int64_data.clear();
            t.data_type = 7;
            "int tensor value"
        }
        2 => {
            let Some(t) = pick_tensor(rng, g) else {
                return "no tensor";
            };
            match rng.random_range(0..4) {
                0 => {
                    let keep = rng.random_range(0..=t.raw_data.len());
                    t.raw_data.truncate(keep);
                }
                1 => t
                    .raw_data
                    .extend((0..rng.random_range(1..16)).map(|_| rng.random::<u8>())),
                2 => t.data_type = rng.random_range(0..20),
                _ => {
                    let x = interesting_float(rng);
                    if t.raw_data.len() >= 4 {
                        let i = rng.random_range(0..t.raw_data.len() / 4) * 4;
                        t.raw_data[i..i + 4].copy_from_slice(&x.to_le_bytes());
                    } else if let Some(v) = t.float_data.first_mut() {
                        *v = x;
                    }
                }
            }
            "tensor data"
        }
        3 => {
            let i = rng.random_range(0..g.input.len().max(1));
            let Some(input) = g.input.get_mut(i) else {
                return "no input";
            };
            let Some(type_proto::Value::TensorType(t)) =
                input.r#type.as_mut().and_then(|t| t.value.as_mut())
            else {
                return "input without type";
            };
            let Some(shape) = t.shape.as_mut() else {
                return "input without shape";
            };
            if shape.dim.is_empty() || rng.random_bool(0.1) {
                shape.dim.push(dim(Some(1)));
            }
            let i = rng.random_range(0..shape.dim.len());
            let old = match shape.dim[i].value {
                Some(dimension::Value::DimValue(v)) => v,
                _ => 1,
            };
            shape.dim[i].value = match rng.random_range(0..8) {
                0 => Some(dimension::Value::DimParam("n".into())),
                1 => None,
                _ => Some(dimension::Value::DimValue(interesting_int(rng, old))),
            };
            "input dim"
        }
        4 => {
            let Some(node) = g.node.get_mut(rng.random_range(0..n_nodes)) else {
                return "no node";
            };
            let i = rng.random_range(0..node.attribute.len().max(1));
            let Some(a) = node.attribute.get_mut(i) else {
                return "no attribute";
            };
            if !a.ints.is_empty() {
                let i = rng.random_range(0..a.ints.len());
                a.ints[i] = interesting_int(rng, a.ints[i]);
            } else if let Some(i) = a.i {
                a.i = Some(interesting_int(rng, i));
            } else if a.f.is_some() {
                a.f = Some(interesting_float(rng));
            } else if let Some(t) = a.t.as_mut() {
                t.dims = vec![interesting_int(rng, 1)];
            }
            "attribute value"
        }
        5 => {
            let Some(node) = g.node.get_mut(rng.random_range(0..n_nodes)) else {
                return "no node";
            };
            match rng.random_range(0..5) {
                0 => node.attribute.push(attr_int("bogus", 1)),
                1 => {
                    if let Some(a) = node.attribute.first().cloned() {
                        node.attribute.push(a);
                    }
                }
                2 => {
                    if let Some(a) = node.attribute.first_mut() {
                        a.r#type = rng.random_range(0..15);
                    }
                }
                3 => {
                    if !node.attribute.is_empty() {
                        let i = rng.random_range(0..node.attribute.len());
                        node.attribute.remove(i);
                    }
                }
                _ => node
                    .attribute
                    .push(attr_ints("axes", &[interesting_int(rng, 1)])),
            }
            "attribute list"
        }
        6 | 7 => {
            let Some(node) = g.node.get_mut(rng.random_range(0..n_nodes)) else {
                return "no node";
            };
            let name = if names.is_empty() || rng.random_bool(0.1) {
                String::new()
            } else {
                names[rng.random_range(0..names.len())].clone()
            };
            if node.input.is_empty() || rng.random_bool(0.2) {
                node.input.push(name);
            } else {
                let i = rng.random_range(0..node.input.len());
                node.input[i] = name;
            }
            "input name"
        }
        8 => {
            let Some(node) = g.node.get_mut(rng.random_range(0..n_nodes)) else {
                return "no node";
            };
            let Some(out) = node.output.first_mut() else {
                return "no output";
            };
            if !names.is_empty() {
                *out = names[rng.random_range(0..names.len())].clone();
            }
            "output name"
        }
        9 => {
            let Some(node) = g.node.get_mut(rng.random_range(0..n_nodes)) else {
                return "no node";
            };
            node.op_type = OP_TYPES[rng.random_range(0..OP_TYPES.len())].into();
            "op type"
        }
        10 => {
            if g.node.len() >= 2 {
                let (i, j) = (
                    rng.random_range(0..g.node.len()),
                    rng.random_range(0..g.node.len()),
                );
                match rng.random_range(0..3) {
                    0 => g.node.swap(i, j),
                    1 => {
                        g.node.remove(i);
                    }
                    _ => {
                        let copy = g.node[i].clone();
                        g.node.insert(j, copy);
                    }
                }
            }
            "node order"
        }
        11 => {
            match rng.random_range(0..3) {
                0 => {
                    if let Some(o) = g.output.first().cloned() {
                        g.output.push(o);
                    }
                }
                1 => {
                    if let (Some(o), false) = (g.output.first_mut(), names.is_empty()) {
                        o.name = names[rng.random_range(0..names.len())].clone();
                    }
                }
                _ => {
                    if let Some(t) = g.initializer.first().cloned() {
                        g.initializer.push(t);
                    }
                }
            }
            "graph outputs or initializers"
        }
        12 => {
            if let Some(t) = pick_tensor(rng, g) {
                t.raw_data.clear();
                t.float_data = vec![interesting_float(rng); rng.random_range(0..4)];
            }
            "tensor moved to float_data"
        }
        _ => {
            if let Some(o) = m.opset_import.first_mut() {
                o.version = rng.random_range(1..=25);
            }
            "opset"
        }
    }
}

/// Every value name in the graph: inputs, initializers, node outputs.
fn value_names(m: &ModelProto) -> Vec<String> {
    let Some(g) = &m.graph else {
        return Vec::new();
    };
    g.input
        .iter()
        .map(|v| v.name.clone())
        .chain(g.initializer.iter().map(|t| t.name.clone()))
        .chain(g.node.iter().flat_map(|n| n.output.iter().cloned()))
        .collect()
}

/// A random initializer, or the tensor of a random `Constant` or `ConstantOfShape` node.
fn pick_tensor<'g>(
    rng: &mut TestRng,
    g: &'g mut shears_onnx::proto::GraphProto,
) -> Option<&'g mut TensorProto> {
    let in_nodes = g
        .node
        .iter()
        .filter(|n| n.attribute.iter().any(|a| a.t.is_some()))
        .count();
    let k = rng.random_range(0..(g.initializer.len() + in_nodes).max(1));
    if k < g.initializer.len() {
        return g.initializer.get_mut(k);
    }
    g.node
        .iter_mut()
        .filter_map(|n| n.attribute.iter_mut().find_map(|a| a.t.as_mut()))
        .nth(k - g.initializer.len())
}

/// An integer tensor's values (INT64 or INT32, raw or typed); empty for other tensors.
fn int_values(t: &TensorProto) -> Vec<i64> {
    match t.data_type {
        7 if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        7 => t.int64_data.clone(),
        6 if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().unwrap()) as i64)
            .collect(),
        6 => t.int32_data.iter().map(|&v| v as i64).collect(),
        _ => Vec::new(),
    }
}
