//! Real topologies from ONNX files, end to end. The test zoo (`crates/onnx/tests/zoo`, small
//! torchvision architectures written by `scripts/export_zoo.py` with reference outputs from ONNX
//! Runtime) and the models the `onnx` package ships under `backend/test/data/light` (ResNet-50,
//! DenseNet-121, ShuffleNet, ... with dummy weights):
//!
//! - import, run: the reference outputs (max abs error <= 1e-4);
//! - import, export, run in ONNX Runtime: the same outputs;
//! - prune 30% of the channels (l1, global), export, run in ONNX Runtime: the outputs shears
//!   computes for the pruned graph, with fewer parameters; and the pruned graph computes what
//!   the masked one does.
//!
//! ONNX Runtime runs through `scripts/ort_run.py` (`scripts/install-deps.sh` installs it).

mod common;

use shears_ir::{Array, Graph};
use shears_prune::importance::{Criterion, CriterionOptions, Reduction, ScoreContext};
use shears_prune::schedule::{PlanConfig, Scope, apply};
use shears_prune::{ChannelGroup, DependencyGraph};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shears-zoo-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs ONNX Runtime on `model` with `input` and returns its first `outputs` outputs, one
/// after the other.
fn ort(model: &Path, input: &Path, outputs: usize) -> Array {
    let files: Vec<PathBuf> = (0..outputs)
        .map(|k| model.with_extension(format!("ort{k}.pb")))
        .collect();
    let status = Command::new("python3")
        .arg(repo().join("scripts/ort_run.py"))
        .args([model, input])
        .args(&files)
        .output()
        .expect("python3 runs (scripts/install-deps.sh installs onnxruntime)");
    assert!(
        status.status.success(),
        "ONNX Runtime failed on {}:\n{}",
        model.display(),
        String::from_utf8_lossy(&status.stderr)
    );
    concat(&files)
}

/// The tensors of `files`, one after the other (as `common::run` lists outputs).
fn concat(files: &[PathBuf]) -> Array {
    let data: Vec<f32> = files
        .iter()
        .flat_map(|f| shears_onnx::load_tensor_file(f).unwrap().data)
        .collect();
    Array::new(vec![data.len()], data)
}

fn run(graph: &Graph, input: &Array) -> Vec<f32> {
    common::run(graph, &input.data, input.shape[0])
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    common::compare(got, want).unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// The l1 plan removing 30% of the prunable channels, ranked globally.
fn plan_30_percent(graph: &Graph, groups: &[ChannelGroup]) -> Vec<(usize, Vec<usize>)> {
    let mut l1 = Criterion::L1
        .build(&CriterionOptions::new(Reduction::Mean, 0))
        .unwrap();
    let prunable: Vec<&ChannelGroup> = groups.iter().filter(|g| g.is_prunable()).collect();
    let ctx = ScoreContext::new(graph, 0.3);
    let mut scores = vec![None; groups.len()];
    for (g, s) in prunable.iter().zip(l1.score(&ctx, &prunable).unwrap()) {
        scores[g.id] = s;
    }
    let plan = PlanConfig {
        scope: Scope::Global,
        ..PlanConfig::default()
    };
    plan.plan(groups, &scores, &Default::default(), 0.3)
        .into_iter()
        .map(|c| (c.group, c.indices))
        .collect()
}

/// Export, ONNX Runtime, pruning and masking on one model with one input.
fn check(name: &str, graph: &Graph, input_file: &Path, want: Option<&Array>) {
    let dir = scratch(name);
    let input = shears_onnx::load_tensor_file(input_file).unwrap();
    let own = run(graph, &input);
    if let Some(want) = want {
        close(
            &format!("{name}: shears on the reference input"),
            &own,
            &want.data,
        );
    }
    let exported = dir.join("exported.onnx");
    shears_onnx::save_file(graph, &exported, shears_onnx::Existing::Replace).unwrap();
    let source = graph.onnx_opset.unwrap();
    let written = shears_onnx::load_file(&exported)
        .unwrap()
        .onnx_opset
        .unwrap();
    if shears_onnx::WRITABLE_OPSETS.contains(&source) {
        assert_eq!(
            written, source,
            "{name}: the export keeps the input's opset"
        );
    } else {
        assert_eq!(
            written,
            shears_onnx::OPSET_VERSION,
            "{name}: opset {source}"
        );
    }
    let want = want.map_or(own.clone(), |w| w.data.clone());
    close(
        &format!("{name}: ONNX Runtime on shears' export"),
        &ort(&exported, input_file, graph.outputs.len()).data,
        &want,
    );

    let deps = DependencyGraph::build(graph).unwrap();
    let cuts = plan_30_percent(graph, deps.groups());
    assert!(!cuts.is_empty(), "{name}: nothing to prune");
    let cuts: Vec<_> = cuts
        .iter()
        .map(|(g, i)| (&deps.groups()[*g], i.clone()))
        .collect();
    let plan: Vec<_> = cuts
        .iter()
        .map(|(g, i)| shears_prune::schedule::Cut {
            group: g.id,
            indices: i.clone(),
        })
        .collect();
    let pruned = apply(graph, deps.groups(), &plan).unwrap();
    assert!(
        pruned.param_count() < graph.param_count(),
        "{name}: no parameter removed"
    );
    let pruned_file = dir.join("pruned.onnx");
    shears_onnx::save_file(&pruned, &pruned_file, shears_onnx::Existing::Replace).unwrap();
    close(
        &format!("{name}: ONNX Runtime on the pruned export"),
        &ort(&pruned_file, input_file, graph.outputs.len()).data,
        &run(&pruned, &input),
    );
    // Exactly for every group whose channels no layer norm renormalises (pruning those only
    // approximates masking them, see `ChannelGroup::approximate`).
    let exact: Vec<_> = cuts
        .iter()
        .filter(|(g, _)| g.approximate.is_none())
        .cloned()
        .collect();
    assert!(!exact.is_empty(), "{name}: no group prunes exactly");
    common::prune_equals_mask(graph, &exact, &input.data, input.shape[0])
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    std::fs::remove_dir_all(dir).ok();
}

/// The model folders (those with a `model.onnx`) of a zoo in the repository, sorted.
fn models_in(zoo: &str) -> Vec<PathBuf> {
    let mut models: Vec<PathBuf> = std::fs::read_dir(repo().join(zoo))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.onnx").exists() && p.join("input_0.pb").exists())
        .collect();
    models.sort();
    models
}

#[test]
fn the_test_zoo_round_trips_and_prunes() {
    let models = models_in("crates/onnx/tests/zoo");
    assert!(models.len() >= 12, "the zoo has {} models", models.len());
    for dir in models {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let graph = shears_onnx::load_file(dir.join("model.onnx"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = shears_onnx::load_tensor_file(dir.join("output_0.pb")).unwrap();
        check(&name, &graph, &dir.join("input_0.pb"), Some(&want));
        eprintln!("{name}: ok");
    }
}

/// The dense-prediction zoo (`crates/onnx/tests/dense_zoo`, written by
/// `scripts/export_dense_zoo.py` with PyTorch's default exporter and the TorchScript one): FPN,
/// LR-ASPP and DeepLabV3 heads (nearest and bilinear `Resize`, by scales and by sizes), a
/// YOLO-style detector with three outputs, and models with a free image size, imported at
/// 3x32x32. Every output is compared.
#[test]
fn the_dense_prediction_zoo_round_trips_and_prunes() {
    let models = models_in("crates/onnx/tests/dense_zoo");
    assert!(
        models.len() >= 10,
        "the dense zoo has {} models",
        models.len()
    );
    for dir in models {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let options = shears_onnx::ImportOptions {
            input_shape: name.contains("free_size").then(|| vec![3, 32, 32]),
        };
        let graph = shears_onnx::load_file_with(dir.join("model.onnx"), &options)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let outputs: Vec<PathBuf> = (0..graph.outputs.len())
            .map(|k| dir.join(format!("output_{k}.pb")))
            .collect();
        assert!(
            outputs.iter().all(|f| f.exists())
                && !dir.join(format!("output_{}.pb", outputs.len())).exists(),
            "{name}: the graph has {} outputs, unlike the reference files",
            outputs.len()
        );
        check(
            &name,
            &graph,
            &dir.join("input_0.pb"),
            Some(&concat(&outputs)),
        );
        eprintln!("{name}: ok");
    }
}

/// torchvision's full-size ResNet-18 as PyTorch's default exporter writes it, weights in
/// `model.onnx.data`. The repository keeps the model file alone; the test writes seeded
/// weights (He-scaled, so activations stay finite through 18 layers) at the offsets the model
/// names, and ONNX Runtime on that pair is the reference. The pruned export keeps its weights
/// in a data file too.
#[test]
fn full_size_resnet18_with_external_data_round_trips_and_prunes() {
    use prost::Message;
    let source = repo().join("crates/onnx/tests/dense_zoo/resnet18_external/model.onnx");
    let dir = scratch("resnet18");
    let model_file = dir.join("model.onnx");
    std::fs::copy(&source, &model_file).unwrap();
    let model =
        shears_onnx::proto::ModelProto::decode(std::fs::read(&model_file).unwrap().as_slice())
            .unwrap();
    let mut data = Vec::new();
    let mut seed = 7u64;
    for t in &model.graph.as_ref().unwrap().initializer {
        let entry = |key: &str| t.external_data.iter().find(|e| e.key == key);
        let Some(offset) = entry("offset") else {
            continue;
        };
        let offset: usize = offset.value.parse().unwrap();
        let length: usize = entry("length").unwrap().value.parse().unwrap();
        let fan_in: i64 = t.dims.iter().skip(1).product::<i64>().max(1);
        let scale = if t.dims.len() > 1 {
            (6.0 / fan_in as f32).sqrt()
        } else {
            0.05
        };
        data.resize(data.len().max(offset), 0u8);
        for _ in 0..length / 4 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let uniform = (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            data.extend_from_slice(&(uniform * scale).to_le_bytes());
        }
    }
    std::fs::write(dir.join("model.onnx.data"), data).unwrap();
    let graph = shears_onnx::load_file(&model_file).unwrap();
    assert!(graph.onnx_external_data && graph.param_count() > 11_000_000);
    let len = 3 * 224 * 224;
    let pixels = (0..len)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let input_file = dir.join("input.pb");
    let input = Array::new(vec![1, 3, 224, 224], pixels);
    std::fs::write(&input_file, shears_onnx::tensor_bytes(&input, "input")).unwrap();
    let want = ort(&model_file, &input_file, 1);
    assert!(want.data.iter().all(|v| v.is_finite()));
    check("resnet18_external", &graph, &input_file, Some(&want));
    std::fs::remove_dir_all(dir).ok();
}

/// Ops whose ONNX form changed between opsets (HardSwish arrived in 14, Dropout's ratio became
/// an input in 12) run in ONNX Runtime when written at opset 11.
#[test]
fn older_opsets_are_written_with_their_own_ops() {
    let dir = repo().join("crates/onnx/tests/zoo/mobilenet_v3");
    let mut graph = shears_onnx::load_file(dir.join("model.onnx")).unwrap();
    assert!(
        graph.nodes.iter().any(|n| n.op == shears_ir::Op::HardSwish),
        "MobileNetV3 uses HardSwish"
    );
    graph.onnx_opset = Some(11);
    let scratch = scratch("opset11");
    let file = scratch.join("opset11.onnx");
    shears_onnx::save_file(&graph, &file, shears_onnx::Existing::Replace).unwrap();
    let model = shears_onnx::to_model(&graph).unwrap();
    assert_eq!(model.opset_import[0].version, 11);
    let types: Vec<&str> = model
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type.as_str())
        .collect();
    assert!(
        !types.contains(&"HardSwish") && types.contains(&"HardSigmoid"),
        "{types:?}"
    );
    let input = dir.join("input_0.pb");
    let want = shears_onnx::load_tensor_file(dir.join("output_0.pb")).unwrap();
    close(
        "opset 11 in ONNX Runtime",
        &ort(&file, &input, 1).data,
        &want.data,
    );
    std::fs::remove_dir_all(scratch).ok();
}

/// Where the `onnx` package keeps its light models.
fn light_models() -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend/test/data/light'))",
        ])
        .output()
        .expect("python3 runs (scripts/install-deps.sh installs onnx)");
    assert!(out.status.success(), "python3 cannot import onnx");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn the_onnx_light_models_round_trip_and_prune() {
    let dir = light_models();
    let names = [
        "resnet50",
        "densenet121",
        "shufflenet",
        "squeezenet",
        "inception_v1",
        "inception_v2",
        "bvlc_alexnet",
        "vgg19",
        "zfnet512",
    ];
    for name in names {
        let graph = shears_onnx::load_file(dir.join(format!("light_{name}.onnx")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // ONNX Runtime on the original file is the reference.
        let scratch = scratch(name);
        let shape: Vec<usize> = std::iter::once(1)
            .chain(graph.input_shape().unwrap().iter().copied())
            .collect();
        let len: usize = shape.iter().product();
        let data = (0..len)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let input = Array::try_new(shape, data).unwrap();
        let input_file = scratch.join("input.pb");
        std::fs::write(&input_file, shears_onnx::tensor_bytes(&input, "input")).unwrap();
        let want = ort(&dir.join(format!("light_{name}.onnx")), &input_file, 1);
        check(name, &graph, &input_file, Some(&want));
        eprintln!("{name}: ok");
    }
}

/// Imported models fine-tune after pruning, with their batch norms kept or folded by the
/// exporter: the training loss falls, the kept batch norms learn their statistics, and ONNX
/// Runtime computes what shears does with the trained weights.
#[test]
fn imported_models_fine_tune_after_pruning() {
    use shears_data::Normalize;
    use shears_runtime::train::{LrSchedule, Quiet, TrainConfig, TrainData, train};
    use std::sync::Arc;

    for name in ["resnet_basic_bn_kept", "resnet_basic"] {
        let dir = repo().join("crates/onnx/tests/zoo").join(name);
        let graph = shears_onnx::load_file(dir.join("model.onnx")).unwrap();
        let deps = DependencyGraph::build(&graph).unwrap();
        let plan: Vec<_> = plan_30_percent(&graph, deps.groups())
            .into_iter()
            .map(|(group, indices)| shears_prune::schedule::Cut { group, indices })
            .collect();
        let mut pruned = apply(&graph, deps.groups(), &plan).unwrap();
        let before = pruned.clone();
        let data = TrainData {
            train: Arc::new(brightness_classes(64)),
            test: None,
            normalize: Normalize {
                mean: vec![0.5; 3],
                std: vec![0.25; 3],
            },
            teacher: None,
        };
        let config = TrainConfig {
            epochs: 10,
            batch_size: 16,
            lr: 0.02,
            schedule: LrSchedule::Cosine,
            crop_padding: 0,
            horizontal_flip: false,
            ..TrainConfig::default()
        };
        let history = train(
            &mut pruned,
            &data,
            &config,
            Default::default(),
            None,
            &mut Quiet,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (first, last) = (history[0].train_loss, history.last().unwrap().train_loss);
        assert!(last < 0.75 * first, "{name}: loss {first} -> {last}");
        let bn_means = |g: &Graph| -> Vec<f32> {
            g.nodes
                .iter()
                .filter_map(|n| match &n.op {
                    shears_ir::Op::BatchNorm2d(bn) => Some(bn.mean.data.clone()),
                    _ => None,
                })
                .flatten()
                .collect()
        };
        if name.ends_with("bn_kept") {
            assert!(
                !bn_means(&before).is_empty(),
                "{name} keeps its batch norms"
            );
            assert_ne!(
                bn_means(&before),
                bn_means(&pruned),
                "{name}: BN statistics"
            );
        }
        let scratch = scratch(name);
        let file = scratch.join("finetuned.onnx");
        shears_onnx::save_file(&pruned, &file, shears_onnx::Existing::Replace).unwrap();
        let input_file = dir.join("input_0.pb");
        let input = shears_onnx::load_tensor_file(&input_file).unwrap();
        close(
            &format!("{name}: ONNX Runtime on the fine-tuned export"),
            &ort(&file, &input_file, 1).data,
            &run(&pruned, &input),
        );
        std::fs::remove_dir_all(scratch).ok();
    }
}

/// `n` 3x32x32 images of 10 classes told apart by their brightness, with a little noise.
fn brightness_classes(n: usize) -> shears_data::Dataset {
    let len = 3 * 32 * 32;
    let labels: Vec<u16> = (0..n).map(|i| (i % 10) as u16).collect();
    let images = labels
        .iter()
        .flat_map(|&l| (0..len).map(move |p| (l as usize * 24 + (p * 7919) % 20) as u8))
        .collect();
    let names = (0..10).map(|c| c.to_string()).collect();
    shears_data::Dataset::new(images, labels, [3, 32, 32], names).unwrap()
}

/// Label-free recovery on a dense-prediction model: the FPN pruned by 30% of its channels,
/// fine-tuned on unlabelled images by distillation from the original alone (`alpha = 1`: the
/// labels, all 0 here, are never read), reproduces the original's segmentation maps more
/// closely than before fine-tuning, on images it did not train on.
#[test]
fn label_free_distillation_recovers_a_pruned_segmentation_model() {
    use shears_data::{Dataset, Normalize};
    use shears_runtime::train::{Distill, LrSchedule, Quiet, TrainConfig, TrainData, train};
    use std::sync::Arc;
    let dir = repo().join("crates/onnx/tests/dense_zoo/fpn_dynamo");
    let original = shears_onnx::load_file(dir.join("model.onnx")).unwrap();
    let deps = DependencyGraph::build(&original).unwrap();
    let plan: Vec<_> = plan_30_percent(&original, deps.groups())
        .into_iter()
        .map(|(group, indices)| shears_prune::schedule::Cut { group, indices })
        .collect();
    let mut pruned = apply(&original, deps.groups(), &plan).unwrap();
    // Smooth random images (a blurred noise field per sample), as u8 pixels.
    let images = |n: usize, seed: u64| -> Vec<u8> {
        let noise = common::random_input(&original, n, seed);
        noise.iter().map(|v| ((v + 1.0) * 127.5) as u8).collect()
    };
    let train_set = Dataset::new(
        images(64, 1),
        vec![0; 64],
        [3, 32, 32],
        vec!["(unlabelled)".into()],
    )
    .unwrap();
    let normalize = Normalize::new(vec![0.5; 3], vec![0.25; 3]).unwrap();
    let held_out: Vec<f32> = images(8, 2)
        .iter()
        .map(|&p| (p as f32 / 255.0 - 0.5) / 0.25)
        .collect();
    let distance = |g: &Graph| -> f32 {
        let (a, b) = (
            run(g, &Array::new(vec![8, 3, 32, 32], held_out.clone())),
            run(&original, &Array::new(vec![8, 3, 32, 32], held_out.clone())),
        );
        a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum::<f32>() / a.len() as f32
    };
    let before = distance(&pruned);
    let data = TrainData {
        train: Arc::new(train_set),
        test: None,
        normalize,
        teacher: Some(Arc::new(original.clone())),
    };
    let config = TrainConfig {
        epochs: 4,
        batch_size: 16,
        lr: 0.01,
        schedule: LrSchedule::Constant,
        crop_padding: 0,
        horizontal_flip: false,
        distill: Some(Distill {
            alpha: 1.0,
            temperature: 1.0,
        }),
        ..TrainConfig::default()
    };
    let history = train(
        &mut pruned,
        &data,
        &config,
        Default::default(),
        None,
        &mut Quiet,
    )
    .unwrap();
    let after = distance(&pruned);
    assert!(
        history.iter().all(|e| e.train_top1.is_none()),
        "a segmentation map has no training accuracy"
    );
    assert!(
        after < 0.7 * before,
        "distance to the original's outputs {before} -> {after}; losses {:?}",
        history.iter().map(|e| e.train_loss).collect::<Vec<_>>()
    );
}

#[test]
fn a_stripe_pruned_model_exports_what_its_masked_form_computes() {
    use shears_prune::schedule::Target;
    use shears_prune::sparsity::{
        Granularity, apply_masks, plan_masks, remove_unread, sparse_layers, trim_kernels,
    };
    let spec = shears_ir::zoo::ArchSpec {
        input_shape: [3, 16, 16],
        classes: 10,
        seed: 4,
    };
    let mut graph = shears_ir::zoo::build("resnet20", &spec).unwrap();
    common::randomise_bn(&mut graph, 6);
    // Every filter of one conv gives up its top kernel row, so a kernel gets trimmed too.
    let node = graph.node_by_name("layer2.1.conv1").unwrap();
    let w = shears_ir::filter_weight_mut(&mut graph.nodes[node].op).unwrap();
    let keep: Vec<bool> = (0..w.len()).map(|i| i % 9 >= 3).collect();
    w.restrict(&keep);
    let config = PlanConfig {
        granularity: Granularity::Stripe,
        scope: Scope::Global,
        ..PlanConfig::default()
    };
    let layers = sparse_layers(&graph, &config).unwrap();
    let mut l1 = Criterion::L1
        .build(&CriterionOptions::new(Reduction::Mean, 0))
        .unwrap();
    let scores = l1.score_weights(&graph, 1).unwrap().unwrap();
    let goal = Target::Params(0.6);
    let baseline = goal.measure(&graph).unwrap();
    let plan = plan_masks(&graph, &layers, &scores, &config, goal, baseline, 1.0).unwrap();
    let masked = apply_masks(&graph, &plan);
    let (lean, _) = remove_unread(&masked).unwrap();
    let (lean, trimmed) = trim_kernels(&lean);
    assert!(trimmed >= 1, "no kernel row was trimmed");
    let dir = scratch("stripes");
    let input = Array::new(vec![2, 3, 16, 16], common::random_input(&graph, 2, 8));
    let input_file = dir.join("input.pb");
    std::fs::write(&input_file, shears_onnx::tensor_bytes(&input, "input")).unwrap();
    let model = dir.join("stripes.onnx");
    shears_onnx::save_file(&lean, &model, shears_onnx::Existing::Replace).unwrap();
    close(
        "ONNX Runtime on the stripe-pruned export against the masked model",
        &ort(&model, &input_file, 1).data,
        &run(&masked, &input),
    );
    std::fs::remove_dir_all(dir).ok();
}
