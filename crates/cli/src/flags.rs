//! The library crates name their settings in their own terms (`` `TrainConfig::lr` ``); this
//! table says which option of the command line sets each, so that a library error reaches the
//! user in the terms of the command they typed.

/// A library setting, as the libraries' messages write it, and the option that sets it.
const SETTINGS: &[(&str, &str)] = &[
    ("`TrainConfig::epochs`", "--epochs"),
    ("`TrainConfig::batch_size`", "--batch"),
    ("`TrainConfig::lr`", "--lr"),
    ("`TrainConfig::weight_decay`", "--weight-decay"),
    ("`TrainConfig::distill`", "--distill"),
    ("`Distill::temperature`", "--distill-temperature"),
    ("`TrainConfig::bn_sparsity`", "--bn-sparsity"),
    ("`TrainConfig::l1_decay`", "--l1-decay"),
    ("`ArchSpec::input_shape`", "--input-shape"),
    ("`ImportOptions::input_shape`", "--input-shape C,H,W"),
    ("`ArchSpec::classes`", "--classes"),
    ("`runs`", "--runs"),
    ("`data_dir`", "--data-dir"),
    (
        "`CriterionOptions::clustering_factor`",
        "--clustering-factor",
    ),
    ("`CriterionOptions::data`", "--data"),
    ("`ScoreData::batches`", "--score-batches"),
    ("`ScoreData::batch_size`", "--score-batch-size"),
    ("`max_drop`", "--sensitivity-drop"),
    ("`PruneConfig::steps`", "--steps"),
    ("`PruneConfig::min_accuracy`", "--min-accuracy"),
    ("`PruneConfig::max_accuracy_drop`", "--max-accuracy-drop"),
    ("`PruneConfig::finetune`", "--finetune-epochs"),
    ("`PlanConfig::granularity`", "--granularity"),
    ("`PlanConfig::shared_factor`", "--residual-factor"),
    ("`Pruner::data`", "--data"),
    ("`PlanConfig::max_layer_ratio`", "--max-layer-ratio"),
    ("`PlanConfig::min_channels`", "--min-channels"),
    ("`PlanConfig::round_to`", "--round-to"),
    ("`PlanConfig::ignore`", "--ignore"),
    ("`PlanConfig::skip_first`", "--skip-first"),
    ("`PlanConfig::skip_last`", "--skip-last"),
    ("`PlanConfig::std_threshold`", "--std-threshold"),
];

/// `message` with every library setting replaced by its option.
pub fn in_cli_terms(message: &str) -> String {
    SETTINGS
        .iter()
        .fold(message.to_string(), |m, (setting, flag)| {
            m.replace(setting, flag)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_library_settings_to_options() {
        assert_eq!(
            in_cli_terms("`TrainConfig::lr` 0 must be a positive number"),
            "--lr 0 must be a positive number"
        );
        assert_eq!(
            in_cli_terms("loosen `PlanConfig::round_to` or `PlanConfig::ignore`"),
            "loosen --round-to or --ignore"
        );
    }

    /// Every setting of the table is still named by some library message, and no library
    /// message names an option of this command line.
    #[test]
    fn the_table_matches_the_libraries() {
        let sources = library_sources();
        for (setting, _) in SETTINGS {
            assert!(
                sources.iter().any(|(_, text)| text.contains(setting)),
                "no library message names {setting}: drop it from the table"
            );
        }
        let options = cli_options();
        for (file, text) in &sources {
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for option in &options {
                    let quoted = [
                        format!("\"{option}"),
                        format!(" {option} "),
                        format!(" {option}\""),
                    ];
                    assert!(
                        !quoted.iter().any(|q| line.contains(q.as_str())),
                        "{file} names the command-line option {option}: name the library setting instead\n{line}"
                    );
                }
            }
        }
    }

    fn cli_options() -> Vec<String> {
        use clap::CommandFactory;
        let cli = crate::args::Cli::command();
        let mut options: Vec<String> = cli
            .get_subcommands()
            .flat_map(|c| c.get_arguments())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        options.sort();
        options.dedup();
        options
    }

    /// The `.rs` files of the library crates, with their text.
    fn library_sources() -> Vec<(String, String)> {
        let crates = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut files = Vec::new();
        for name in ["ir", "files", "onnx", "data", "runtime", "prune"] {
            collect(
                &std::path::Path::new(crates).join(name).join("src"),
                &mut files,
            );
        }
        assert!(files.len() > 50, "the library sources were not found");
        files
    }

    fn collect(dir: &std::path::Path, files: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path.display().to_string(), text));
            }
        }
    }
}
