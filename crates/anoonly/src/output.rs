//! Writing output files safely: every file is written to a temporary sibling and renamed
//! over the target, so a crash or a kill never leaves a half-written file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `data` to `path` atomically (temporary file in the same directory, fsync, rename,
/// fsync of the directory). Readers see the old file or the whole new one, never a part. A
/// process killed between create and rename leaves only its `.NAME.PID-N-T.tmp` behind
/// (N counts this process's writes, T is the time: two writers of one path, threads of a
/// process or processes of two hosts sharing a directory, never share a temporary file).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable: without syncing the directory, a power loss right
        // after can leave neither the old nor the new name. Best effort: some file systems
        // refuse to open or sync a directory, and the data is already safe on disk.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks, before any work, that `path` can be created where it points: its directory
/// exists and is a directory. A fit that takes minutes should not end in "No such file or
/// directory" because of a typo in `--out`.
pub fn check_output_path(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "{}: cannot write: directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    if path.is_dir() {
        return Err(format!(
            "{}: cannot write: it is a directory",
            path.display()
        ));
    }
    Ok(())
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    path.with_file_name(format!(".{name}.{}-{n}-{t}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_are_checked_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_output_path(&dir.path().join("a.st")).is_ok());
        assert!(check_output_path(Path::new("a.st")).is_ok());
        let e = check_output_path(&dir.path().join("nope").join("a.st")).unwrap_err();
        assert!(e.contains("directory") && e.contains("nope") && e.contains("does not exist"));
        let e = check_output_path(dir.path()).unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
    }

    #[test]
    fn writes_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        write_atomic(&p, b"x\n1\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x\n1\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn replaces_an_existing_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        write_atomic(&p, b"old old old\n").unwrap();
        write_atomic(&p, b"new\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_rename_keeps_the_target_and_removes_the_temp() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be replaced by a file.
        let p = dir.path().join("out");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("inside"), b"x").unwrap();
        assert!(write_atomic(&p, b"data").is_err());
        assert!(p.join("inside").is_file());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failure_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing-dir").join("a.csv");
        assert!(write_atomic(&p, b"x").is_err());
        assert!(!p.exists());
    }
}
