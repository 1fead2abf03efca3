//! Files under `config/` (topics, consumer offsets, delay offsets, subscription groups): JSON
//! replaced atomically, with the previous version kept as `<name>.bak` as the reference does.

use std::{
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
};

use super::error::StoreError;

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Replaces `path` with `contents`: write `<name>.tmp`, fsync, keep the old file as
/// `<name>.bak`, rename into place, fsync the directory. A crash at any point leaves either the
/// old or the new contents readable.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(StoreError::io("create directory", dir))?;
    let tmp = sibling(path, ".tmp");
    {
        let mut file = File::create(&tmp).map_err(StoreError::io("create", &tmp))?;
        file.write_all(contents).map_err(StoreError::io("write", &tmp))?;
        file.sync_all().map_err(StoreError::io("sync", &tmp))?;
    }
    if path.exists() {
        let bak = sibling(path, ".bak");
        fs::copy(path, &bak).map_err(StoreError::io("back up", &bak))?;
    }
    fs::rename(&tmp, path).map_err(StoreError::io("rename into place", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("sync directory", dir))
}

/// Reads `path`, falling back to `<name>.bak` when the main file is missing or `parse` rejects
/// it. `Ok(None)` when neither exists.
pub fn read_with_backup<T>(
    path: &Path,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, StoreError> {
    let mut first_error = None;
    for candidate in [path.to_path_buf(), sibling(path, ".bak")] {
        match fs::read_to_string(&candidate) {
            Ok(text) => match parse(&text) {
                Ok(value) => return Ok(Some(value)),
                Err(reason) => {
                    tracing::warn!(file = %candidate.display(), %reason, "unreadable config file");
                    first_error.get_or_insert(StoreError::Corrupted {
                        path: candidate,
                        offset: 0,
                        reason,
                    });
                }
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(StoreError::io("read", candidate)(err)),
        }
    }
    first_error.map_or(Ok(None), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<serde_json::Value, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn replace_keep_backup_and_fall_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config").join("topics.json");
        assert!(read_with_backup(&path, parse).unwrap().is_none());
        write_atomic(&path, br#"{"v":1}"#).unwrap();
        write_atomic(&path, br#"{"v":2}"#).unwrap();
        assert_eq!(read_with_backup(&path, parse).unwrap().unwrap()["v"], 2);
        assert!(!dir.path().join("config/topics.json.tmp").exists());
        fs::write(&path, b"{torn").unwrap();
        assert_eq!(
            read_with_backup(&path, parse).unwrap().unwrap()["v"],
            1,
            "falls back to .bak"
        );
        fs::write(sibling(&path, ".bak"), b"junk").unwrap();
        let err = read_with_backup(&path, parse).unwrap_err().to_string();
        assert!(err.contains("topics.json"), "{err}");
    }
}
