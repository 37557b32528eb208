//! Replays Ferry's fuzz corpus and every crash found so far on stable: each file under
//! `fuzz/corpus/<target>/`, `fuzz/regressions/<target>/` and `fuzz/artifacts/<target>/` goes
//! through the same check the fuzz target runs (ferry_tests::fuzz_checks). `make fuzz` grows
//! the corpus on nightly; this keeps what it found fixed in `make test`.

use ferry_tests::fuzz_checks::TARGETS;
use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for kind in ["corpus", "regressions", "artifacts"] {
        if let Ok(rd) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) {
            out.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    out.sort();
    out
}

fn replay(target: &str) {
    let (_, check) = TARGETS.iter().find(|(n, _)| *n == target).expect("a known target");
    let files = inputs(target);
    let mut failed = Vec::new();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
            let why = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            failed.push(format!("{}: {}", f.display(), why.chars().take(300).collect::<String>()));
        }
    }
    println!("fuzz replay {target}: {} inputs, {} failed", files.len(), failed.len());
    assert!(failed.is_empty(), "fuzz replay {target}: {} of {} inputs fail:\n{}", failed.len(), files.len(), failed.join("\n"));
}

#[test]
fn every_target_has_a_corpus_folder() {
    for (t, _) in TARGETS {
        assert!(fuzz_dir().join("fuzz_targets").join(format!("{t}.rs")).exists(), "no fuzz target for {t}");
    }
}

#[test]
fn replay_names() {
    replay("names");
}

#[test]
fn replay_storage() {
    replay("storage");
}

#[test]
fn replay_wire_json() {
    replay("wire_json");
}

#[test]
fn replay_file_list() {
    replay("file_list");
}

#[test]
fn replay_multicast() {
    replay("multicast");
}

#[test]
fn replay_query() {
    replay("query");
}

#[test]
fn replay_pairing() {
    replay("pairing");
}

#[test]
fn replay_address() {
    replay("address");
}

#[test]
fn replay_display() {
    replay("display");
}

#[test]
fn replay_range() {
    replay("range");
}

#[test]
fn replay_content_range() {
    replay("content_range");
}

#[test]
fn replay_sha256_trailer() {
    replay("sha256_trailer");
}
