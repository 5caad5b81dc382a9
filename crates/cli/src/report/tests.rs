//! Tests of the report: a hand-built three-step record written to a temporary directory, checked
//! file by file, plus a record without any accuracy (pruning without data).

use super::plot::{ACCURACY, ACCURACY_PRUNED, PARAMS_ACCURACY_SIZE};
use super::*;
use shears_prune::pruner::{StepRecord, StopReason};

fn layers(widths: [usize; 4]) -> Vec<LayerWidth> {
    let names = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "fc"];
    names
        .iter()
        .zip(widths)
        .map(|(n, c)| LayerWidth {
            name: n.to_string(),
            channels: c,
        })
        .collect()
}

/// Accuracy after pruning, accuracy after fine-tuning and loss.
type Evaluation = (Option<f64>, Option<f64>, Option<f64>);

fn step(
    step: usize,
    params: usize,
    macs: u64,
    evaluation: Evaluation,
    seconds: f64,
    widths: [usize; 4],
) -> StepRecord {
    let (accuracy_pruned, accuracy, loss) = evaluation;
    StepRecord {
        step,
        target: 0.25 * step as f64,
        channels_removed: 58 - widths.iter().sum::<usize>(),
        weights_removed: 0,
        params,
        macs,
        accuracy_pruned,
        accuracy,
        loss,
        finetune_epochs: if step == 0 { 0 } else { 2 },
        epoch_accuracy: Vec::new(),
        seconds,
        layers: layers(widths),
        soft: Vec::new(),
    }
}

/// Step 1 is kept: step 2 fell under the 90 % accuracy floor.
fn record() -> PruneRecord {
    PruneRecord {
        model: "resnet20".into(),
        criterion: "l1".into(),
        scope: "local".into(),
        target: "macs 0.5".into(),
        steps: vec![
            step(
                0,
                272_474,
                41_214_656,
                (None, Some(0.926), Some(0.2512)),
                1.2,
                [16, 16, 16, 10],
            ),
            step(
                1,
                180_100,
                25_000_000,
                (Some(0.81), Some(0.9312), Some(0.2301)),
                30.5,
                [16, 8, 12, 10],
            ),
            step(
                2,
                120_000,
                15_000_000,
                (Some(0.55), Some(0.884), Some(0.41)),
                31.0,
                [12, 4, 8, 10],
            ),
        ],
        kept_step: 1,
        stopped: Some(StopReason::AccuracyFloor {
            step: 2,
            accuracy: 0.884,
            floor: 0.9,
        }),
    }
}

/// The same run without evaluation data: no accuracy nor loss anywhere.
fn record_without_accuracy() -> PruneRecord {
    let mut record = record();
    for step in &mut record.steps {
        (step.accuracy_pruned, step.accuracy, step.loss) = (None, None, None);
    }
    record.kept_step = 2;
    record.stopped = Some(StopReason::TargetReached);
    record
}

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("shears-report-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read_png(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

fn has_colour(image: &image::RgbImage, colour: plotters::style::RGBColor) -> bool {
    image
        .pixels()
        .any(|p| p.0 == [colour.0, colour.1, colour.2])
}

fn assert_not_blank(image: &image::RgbImage) {
    let first = image.get_pixel(0, 0);
    assert!(
        image.pixels().any(|p| p != first),
        "the plot is a single colour"
    );
}

/// Writes the report into `dir` as `shears prune --report DIR --force` would.
fn report_in(dir: &Path, record: &PruneRecord) -> anyhow::Result<Vec<PathBuf>> {
    let mut outputs = Outputs::new(true);
    outputs.in_dir(dir, FILES, "--report").claim()?;
    write_report(&outputs, dir, record)
}

#[test]
fn writes_all_four_files() {
    let dir = TempDir::new("full");
    let written = report_in(&dir.0, &record()).unwrap();
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "report.json",
            "report.md",
            "params_accuracy.png",
            "channels.png"
        ]
    );
    assert!(written.iter().all(|p| p.starts_with(&dir.0) && p.is_file()));
}

#[test]
fn json_round_trips() {
    let dir = TempDir::new("json");
    report_in(&dir.0, &record()).unwrap();
    let json = std::fs::read_to_string(dir.0.join("report.json")).unwrap();
    assert!(
        json.contains("\n  \"model\": \"resnet20\""),
        "not pretty-printed: {json}"
    );
    assert_eq!(
        serde_json::from_str::<PruneRecord>(&json).unwrap(),
        record()
    );
}

#[test]
fn markdown_holds_settings_steps_summary_and_layers() {
    let dir = TempDir::new("md");
    report_in(&dir.0, &record()).unwrap();
    let md = std::fs::read_to_string(dir.0.join("report.md")).unwrap();
    for expected in [
        "# Pruning report: resnet20",
        "| Criterion | l1 |",
        "| Target | macs 0.5 |",
        "| Stopped | accuracy floor: step 2 reached 88.40%, under the floor of 90.00% |",
        "| 0 | 272,474 | 0.0% | 41,214,656 | 0.0% | – | 92.60% | 0.2512 | 0 | 1.2 |",
        "| **1** (kept) | 180,100 | 33.9% | 25,000,000 | 39.3% | 81.00% | 93.12% | 0.2301 | 2 | 30.5 |",
        "| 2 (under floor) | 120,000 | 56.0% |",
        "Step 1 kept: params 272,474 → 180,100 (-33.9%), MACs 41,214,656 → 25,000,000 (-39.3%), \
         top-1 accuracy 92.60% → 93.12%.",
        "## Layers (step 0 → step 1)",
        "| conv1 | 16 | 16 | 0.0% |",
        "| layer1.0.conv1 | 16 | 8 | 50.0% |",
        "| layer1.0.conv2 | 16 | 12 | 25.0% |",
        "| **Total** | 58 | 46 | 20.7% |",
    ] {
        assert!(md.contains(expected), "report.md lacks {expected:?}:\n{md}");
    }
}

#[test]
fn plots_decode_with_the_expected_size() {
    let dir = TempDir::new("png");
    report_in(&dir.0, &record()).unwrap();
    let curves = read_png(&dir.0.join("params_accuracy.png"));
    assert_eq!(curves.dimensions(), (1000, 800));
    assert_not_blank(&curves);
    assert!(has_colour(&curves, ACCURACY) && has_colour(&curves, ACCURACY_PRUNED));
    let channels = read_png(&dir.0.join("channels.png"));
    // 560 px for the chart, 30 + 5.6 px a character for the longest name (`layer1.0.conv1`).
    assert_eq!(channels.dimensions(), (1000, 560 + 30 + 78));
    assert_not_blank(&channels);
}

#[test]
fn a_record_without_accuracy_renders_without_the_accuracy_series() {
    let dir = TempDir::new("no-accuracy");
    report_in(&dir.0, &record_without_accuracy()).unwrap();
    let md = std::fs::read_to_string(dir.0.join("report.md")).unwrap();
    assert!(
        md.contains(
            "| **2** (kept) | 120,000 | 56.0% | 15,000,000 | 63.6% | – | – | – | 2 | 31.0 |"
        ),
        "{md}"
    );
    assert!(md.contains("top-1 accuracy – → –."), "{md}");
    let curves = read_png(&dir.0.join("params_accuracy.png"));
    assert_eq!(curves.dimensions(), PARAMS_ACCURACY_SIZE);
    assert_not_blank(&curves);
    assert!(!has_colour(&curves, ACCURACY) && !has_colour(&curves, ACCURACY_PRUNED));
}

#[test]
fn many_long_layer_names_widen_the_channel_plot() {
    let mut record = record();
    for (i, step) in record.steps.iter_mut().enumerate() {
        step.layers = (0..60)
            .map(|l| LayerWidth {
                name: format!("/features/features.{l}/conv/conv.1/conv.1.0/Conv"),
                channels: 32 + l * 16 - i * l,
            })
            .collect();
    }
    let dir = TempDir::new("wide");
    report_in(&dir.0, &record).unwrap();
    let channels = read_png(&dir.0.join("channels.png"));
    // Names are cut to 40 characters.
    assert_eq!(channels.dimensions(), (160 + 26 * 60, 560 + 30 + 224));
    assert_not_blank(&channels);
}

#[test]
fn refuses_a_record_whose_kept_step_is_missing() {
    let mut record = record();
    record.kept_step = 3;
    let dir = TempDir::new("bad");
    let error = report_in(&dir.0, &record).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the pruning record keeps step 3 of 3 steps"),
        "{error}"
    );
    record.steps.clear();
    assert!(report_in(&dir.0, &record).is_err());
}

#[test]
fn formats_numbers() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1_000), "1,000");
    assert_eq!(thousands(41_214_656), "41,214,656");
    assert_eq!(accuracy(Some(0.9312)), "93.12%");
    assert_eq!(accuracy(None), "–");
    assert_eq!(removed(16.0, 8.0), "50.0%");
    assert_eq!(removed(0.0, 0.0), "0.0%");
}
