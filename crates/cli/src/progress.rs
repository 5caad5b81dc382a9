//! Progress bars for training (indicatif), one line per finished epoch.

use indicatif::{ProgressBar, ProgressStyle};
use shears_prune::pruner::{PruneObserver, StepRecord};
use shears_prune::schedule::Target;
use shears_runtime::train::{BatchProgress, EpochReport, TrainObserver};

/// Shows a bar per epoch with loss, accuracy and img/s, then prints the epoch's summary.
#[derive(Default)]
pub struct TrainProgress {
    bar: Option<ProgressBar>,
}

impl TrainObserver for TrainProgress {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
        self.bar = Some(bar);
    }

    fn batch(&mut self, p: &BatchProgress) {
        if let Some(bar) = &self.bar {
            bar.set_position(p.batch as u64 + 1);
            bar.set_message(format!(
                "loss {:.4}{} {:.0} img/s",
                p.loss,
                accuracy(p.top1),
                p.images_per_sec
            ));
        }
    }

    fn epoch_end(&mut self, r: &EpochReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let test = r
            .test
            .as_ref()
            .map(|t| {
                format!(
                    "  test top-1 {:.2}% top-5 {:.2}% loss {:.4}",
                    100.0 * t.top1,
                    100.0 * t.top5,
                    t.loss
                )
            })
            .unwrap_or_default();
        println!(
            "epoch {:>3}  train loss {:.4}{}{test}  {:.0}s  {:.0} img/s  lr {:.4}",
            r.epoch + 1,
            r.train_loss,
            accuracy(r.train_top1),
            r.seconds,
            r.images_per_sec,
            r.lr
        );
    }
}

/// ` acc 93.12%`, or nothing where the outputs are not class scores.
fn accuracy(top1: Option<f64>) -> String {
    top1.map(|a| format!(" acc {:.2}%", 100.0 * a))
        .unwrap_or_default()
}

/// Prints each pruning step: the goal, the size after the cut, fine-tuning bars, the result.
#[derive(Default)]
pub struct PruneProgress {
    train: TrainProgress,
}

impl PruneObserver for PruneProgress {
    fn step_start(&mut self, step: usize, steps: usize, goal: Target) {
        println!("step {step}/{steps}: removing {goal} (of the original model, in total)");
    }

    fn pruned(&mut self, _step: usize, params: usize, macs: u64) {
        println!("  pruned to {params} params, {macs} MACs");
    }

    fn train_observer(&mut self) -> Option<&mut dyn TrainObserver> {
        Some(&mut self.train)
    }

    fn step_end(&mut self, r: &StepRecord) {
        let acc = |a: Option<f64>| a.map_or("–".into(), |a| format!("{:.2}%", 100.0 * a));
        println!(
            "  step {} done in {:.0}s: {} channels removed, top-1 {} after pruning, {} after {} fine-tuning epoch(s)",
            r.step,
            r.seconds,
            r.channels_removed,
            acc(r.accuracy_pruned),
            acc(r.accuracy),
            r.finetune_epochs
        );
    }
}
