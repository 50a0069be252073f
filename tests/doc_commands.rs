//! The `cargo` command lines and the `Cargo.toml` lines of the README and of the command-line
//! guide, checked against the crate: every feature they name exists, every example and test
//! target they name exists (an example's required features among those given), the README's
//! test command is the one CI runs, and the dependency line names this version. The
//! `amps-webhooks` command lines are run by tests/cli_snapshots.rs and tests/cli.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

const README: &str = include_str!("../README.md");
const GUIDE: &str = include_str!("../src/docs/cli.md");
const MANIFEST: &str = include_str!("../Cargo.toml");
const CI: &str = include_str!("../.ci/run");

/// `default = [...]` of Cargo.toml (checked against it below).
const DEFAULT_FEATURES: [&str; 2] = ["amps", "memory"];

#[test]
fn the_default_features_are_the_manifests() {
    let list = DEFAULT_FEATURES.map(|f| format!("\"{f}\"")).join(", ");
    assert!(
        MANIFEST.contains(&format!("\ndefault = [{list}]\n")),
        "{list}"
    );
}

/// The blocks of a language, their continued lines joined.
fn blocks(doc: &str, language: &str) -> Vec<Vec<String>> {
    doc.split(&format!("```{language}\n"))
        .skip(1)
        .map(|rest| {
            let block = rest.split("\n```").next().unwrap();
            block
                .replace("\\\n", " ")
                .lines()
                .map(|line| line.split("  #").next().unwrap().trim().to_owned())
                .filter(|line| !line.is_empty())
                .collect()
        })
        .collect()
}

/// `[features]` names of Cargo.toml.
fn features() -> BTreeSet<String> {
    let section = MANIFEST.split("\n[features]\n").nth(1).unwrap();
    let section = section.split("\n[").next().unwrap();
    section
        .lines()
        .filter(|line| !line.starts_with(' ') && !line.starts_with('#') && !line.starts_with(']'))
        .filter_map(|line| line.split_once(" = ").map(|(name, _)| name.to_owned()))
        .collect()
}

/// The required features of `[[kind]] name = "..."`, or `None` when there is no such entry.
fn required(kind: &str, name: &str) -> Option<Vec<String>> {
    let entry = MANIFEST
        .split(&format!("[[{kind}]]\n"))
        .skip(1)
        .find(|entry| entry.starts_with(&format!("name = \"{name}\"")))?;
    let entry = entry.split("\n\n").next().unwrap();
    Some(
        entry
            .split("required-features = [")
            .nth(1)
            .map(|list| {
                list.split(']')
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|f| f.trim().trim_matches('"').to_owned())
                    .filter(|f| !f.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// The value of `--flag V` in `words`, each time it is given.
fn values<'a>(words: &[&'a str], flag: &str) -> Vec<&'a str> {
    words
        .windows(2)
        .filter(|pair| pair[0] == flag)
        .map(|pair| pair[1])
        .collect()
}

#[test]
fn the_cargo_command_lines_name_what_exists() {
    let known = features();
    assert!(known.contains("cli") && known.contains("axum"), "{known:?}");
    let mut checked = 0;
    for (doc, name) in [(README, "README.md"), (GUIDE, "src/docs/cli.md")] {
        // The `sh` blocks' lines, and the inline `cargo ...` spans of the text.
        let inline = doc.replace('\n', " ");
        let spans = inline
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|span| span.starts_with("cargo "))
            .map(str::to_owned);
        for line in blocks(doc, "sh").concat().into_iter().chain(spans) {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() != Some(&"cargo") {
                continue;
            }
            checked += 1;
            let mut given: Vec<&str> = values(&words, "--features")
                .iter()
                .flat_map(|list| list.split(','))
                .collect();
            for feature in &given {
                assert!(
                    known.contains(*feature),
                    "{name}: `{line}`: no feature {feature}"
                );
            }
            if !words.contains(&"--no-default-features") {
                given.extend(DEFAULT_FEATURES);
            }
            for feature in &given {
                assert!(
                    known.contains(*feature),
                    "{name}: `{line}`: no feature {feature}"
                );
            }
            for example in values(&words, "--example") {
                let needs = required("example", example)
                    .unwrap_or_else(|| panic!("{name}: `{line}`: no example {example}"));
                for feature in needs {
                    assert!(
                        given.contains(&feature.as_str()) || words.contains(&"--all-features"),
                        "{name}: `{line}`: example {example} needs feature {feature}"
                    );
                }
            }
            for test in values(&words, "--test") {
                assert!(
                    required("test", test).is_some()
                        || std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                            .join(format!("tests/{test}.rs"))
                            .is_file(),
                    "{name}: `{line}`: no test target {test}"
                );
            }
            if words.get(1) == Some(&"add") || words.get(1) == Some(&"install") {
                assert!(words.contains(&"amps-webhooks"), "{name}: `{line}`");
            }
        }
    }
    assert!(checked >= 6, "only {checked} cargo lines found");
}

#[test]
fn the_readmes_test_command_is_the_one_ci_runs() {
    let lines = blocks(README, "sh").concat();
    assert!(
        lines.contains(&"cargo test --all-features -- --include-ignored".to_owned()),
        "{lines:?}"
    );
    assert!(
        CI.contains("tests --all-features -- --include-ignored"),
        ".ci/run no longer runs the README's command"
    );
}

#[test]
fn the_readmes_dependency_lines_name_this_version_and_real_features() {
    let toml = blocks(README, "toml").concat();
    let line = toml
        .iter()
        .find(|line| line.starts_with("amps-webhooks = "))
        .expect("the README has the crate's Cargo.toml line");
    let version: Vec<&str> = env!("CARGO_PKG_VERSION").split('.').collect();
    let wanted = if version[0] == "0" {
        format!("version = \"0.{}\"", version[1])
    } else {
        format!("version = \"{}\"", version[0])
    };
    assert!(line.contains(&wanted), "{line}: expected {wanted}");
    let known = features();
    let list = line
        .split("features = [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    for feature in list.split(',').map(|f| f.trim().trim_matches('"')) {
        assert!(known.contains(feature), "{line}: no feature {feature}");
    }
}
