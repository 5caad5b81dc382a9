//! Safe output: refusals, replacement of regular files only, no temporary left behind, locks.

use shears_files::{Existing, FileError, OutputLock, check_target, same_file, write_atomic};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shears-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writes_a_new_file_and_refuses_to_replace_it() {
    let dir = scratch("refuse");
    let path = dir.join("model.onnx");
    write_atomic(&path, b"first", Existing::Refuse).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"first");
    let err = write_atomic(&path, b"second", Existing::Refuse).unwrap_err();
    assert!(matches!(err, FileError::Exists { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"first");
    assert_eq!(listing(&dir), ["model.onnx"], "no temporary file is left");
}

#[test]
fn replaces_a_regular_file_when_allowed() {
    let dir = scratch("replace");
    let path = dir.join("out.json");
    std::fs::write(&path, b"old").unwrap();
    write_atomic(&path, b"new", Existing::Replace).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"new");
    assert_eq!(listing(&dir), ["out.json"]);
}

#[test]
fn never_replaces_a_non_regular_file() {
    let dir = scratch("special");
    let sub = dir.join("folder");
    std::fs::create_dir(&sub).unwrap();
    let target = dir.join("target");
    std::fs::write(&target, b"kept").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    let mut specials = vec![sub.clone(), link.clone(), PathBuf::from("/dev/null")];
    if made.is_ok_and(|s| s.success()) {
        specials.push(fifo.clone());
    }
    for path in &specials {
        let err = write_atomic(path, b"x", Existing::Replace).unwrap_err();
        assert!(
            matches!(err, FileError::NotRegular { .. }),
            "{}: {err}",
            path.display()
        );
        assert!(check_target(path, Existing::Replace).is_err());
    }
    assert!(sub.is_dir());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"kept");
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn a_failed_write_leaves_no_temporary() {
    let dir = scratch("fail");
    let missing = dir.join("no-such-dir").join("out.onnx");
    assert!(write_atomic(&missing, b"x", Existing::Replace).is_err());
    assert!(listing(&dir).is_empty());
}

#[test]
fn same_file_sees_through_spellings() {
    let dir = scratch("same");
    let path = dir.join("m.onnx");
    std::fs::write(&path, b"m").unwrap();
    let dotted = dir.join(".").join("m.onnx");
    assert!(same_file(&path, &dotted));
    let hard = dir.join("hard.onnx");
    std::fs::hard_link(&path, &hard).unwrap();
    assert!(same_file(&path, &hard));
    assert!(!same_file(&path, &dir.join("absent.onnx")));
}

#[test]
fn a_second_lock_on_one_output_is_refused_until_the_first_is_dropped() {
    let dir = scratch("lock");
    let out = dir.join("pruned.onnx");
    let first = OutputLock::acquire(&out).unwrap();
    let err = OutputLock::acquire(&dir.join(".").join("pruned.onnx")).unwrap_err();
    match &err {
        FileError::Busy { holder, .. } => {
            assert_eq!(
                holder.as_deref(),
                Some(std::process::id().to_string().as_str())
            )
        }
        other => panic!("expected Busy, got {other}"),
    }
    drop(first);
    assert!(listing(&dir).is_empty(), "the lock file goes with the lock");
    let _again = OutputLock::acquire(&out).unwrap();
}

#[test]
fn temporaries_of_dead_writers_are_cleaned_up() {
    let dir = scratch("stale");
    let path = dir.join("model.onnx");
    // A pid that cannot be alive (above the kernel's maximum), and our own (alive).
    std::fs::write(dir.join(".model.onnx.4194305.0.tmp"), b"half").unwrap();
    let ours = format!(".model.onnx.{}.99.tmp", std::process::id());
    std::fs::write(dir.join(&ours), b"in flight").unwrap();
    write_atomic(&path, b"whole", Existing::Refuse).unwrap();
    assert_eq!(listing(&dir), [ours, "model.onnx".to_string()]);
}
