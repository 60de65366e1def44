//! The `file` driver: a directory in Glance's filesystem-store layout, `<path>/<image_id>`
//! with location `file://<path>/<image_id>`, so a Glance file store's directory can be
//! adopted in place. An upload is written to a hidden temporary name, fsynced, renamed and
//! the directory fsynced before it is acknowledged; a failed one leaves nothing behind. In a
//! cluster every node must mount the directory at the same path (as Glance requires).

use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use tessera_domain::stores::{ByteStream, StoreDriver, StoreError};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

/// Bytes read from the file at once on download.
const READ_BUFFER: usize = 1 << 20;

/// The `file` driver's options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOptions {
    /// The directory (Glance's `filesystem_store_datadir`).
    pub path: PathBuf,
}

/// A directory of image files.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

fn unavailable(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    match e.kind() {
        ErrorKind::NotFound => StoreError::NotFound(path.display().to_string()),
        _ => StoreError::Unavailable(format!("{what} {}: {e}", path.display())),
    }
}

impl FileStore {
    /// The store over `dir`, created if missing.
    pub fn open(dir: &Path) -> std::io::Result<FileStore> {
        std::fs::create_dir_all(dir)?;
        Ok(FileStore {
            dir: dir.canonicalize()?,
        })
    }

    /// Its directory (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a location names, if it is one of this store's (`file://<dir>/<name>`).
    fn path_of(&self, location: &str) -> Result<PathBuf, StoreError> {
        let refused =
            || StoreError::Refused(format!("not a location of this file store: {location}"));
        let path = Path::new(location.strip_prefix("file://").ok_or_else(refused)?);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(refused)?;
        if path.parent() != Some(self.dir.as_path()) || !safe_name(name) {
            return Err(refused());
        }
        Ok(path.to_path_buf())
    }

    async fn write(&self, tmp: &Path, mut data: ByteStream) -> Result<(), StoreError> {
        let mut file = tokio::fs::File::create(tmp)
            .await
            .map_err(|e| unavailable("cannot create", tmp, e))?;
        while let Some(piece) = data.next().await {
            let piece = piece.map_err(|e| StoreError::Refused(format!("upload ended: {e}")))?;
            file.write_all(&piece)
                .await
                .map_err(|e| unavailable("cannot write", tmp, e))?;
        }
        file.sync_all()
            .await
            .map_err(|e| unavailable("cannot fsync", tmp, e))
    }
}

/// An image id usable as a file name in the directory.
fn safe_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains('/') && !name.contains('\0')
}

#[async_trait]
impl StoreDriver for FileStore {
    async fn put(
        &self,
        image_id: &str,
        data: ByteStream,
        _size: Option<u64>,
    ) -> Result<String, StoreError> {
        if !safe_name(image_id) {
            return Err(StoreError::Refused(format!("bad image id {image_id:?}")));
        }
        let path = self.dir.join(image_id);
        let tmp = self
            .dir
            .join(format!(".{image_id}.{}.part", uuid::Uuid::new_v4()));
        if let Err(e) = self.write(&tmp, data).await {
            if let Err(rm) = tokio::fs::remove_file(&tmp).await {
                tracing::warn!(path = %tmp.display(), error = %rm, "partial upload left behind");
            }
            return Err(e);
        }
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| unavailable("cannot rename to", &path, e))?;
        // The rename is durable only once the directory is.
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
            .map_err(|e| unavailable("cannot fsync", &self.dir, e))?;
        Ok(format!("file://{}", path.display()))
    }

    async fn get(
        &self,
        location: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<ByteStream, StoreError> {
        let path = self.path_of(location)?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| unavailable("cannot open", &path, e))?;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| unavailable("cannot seek", &path, e))?;
        let reader = file.take(len.unwrap_or(u64::MAX));
        Ok(ReaderStream::with_capacity(reader, READ_BUFFER).boxed())
    }

    async fn delete(&self, location: &str) -> Result<(), StoreError> {
        let path = self.path_of(location)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable("cannot remove", &path, e)),
        }
    }

    async fn size(&self, location: &str) -> Result<u64, StoreError> {
        let path = self.path_of(location)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| unavailable("cannot stat", &path, e))?;
        // Reading is what a download needs, not just the name: check it opens.
        tokio::fs::File::open(&path)
            .await
            .map_err(|e| unavailable("cannot open", &path, e))?;
        Ok(meta.len())
    }

    fn owns(&self, location: &str) -> bool {
        self.path_of(location).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn body(parts: Vec<Result<Bytes, std::io::Error>>) -> ByteStream {
        futures::stream::iter(parts).boxed()
    }

    async fn read(store: &FileStore, loc: &str, off: u64, len: Option<u64>) -> Vec<u8> {
        super::super::collect(store.get(loc, off, len).await.unwrap()).await
    }

    #[tokio::test]
    async fn round_trip_in_glances_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let parts = vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"world")),
        ];
        let loc = store.put("img-1", body(parts), Some(11)).await.unwrap();
        let canon = dir.path().canonicalize().unwrap();
        assert_eq!(loc, format!("file://{}/img-1", canon.display()));
        assert_eq!(store.size(&loc).await.unwrap(), 11);
        assert_eq!(read(&store, &loc, 0, None).await, b"hello world");
        assert_eq!(read(&store, &loc, 6, Some(3)).await, b"wor");
        // Only the image file is left: no temporary names.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["img-1"]);
        store.delete(&loc).await.unwrap();
        store.delete(&loc).await.unwrap();
        assert!(matches!(
            store.size(&loc).await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_failed_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let parts = vec![
            Ok(Bytes::from_static(b"half")),
            Err(std::io::Error::other("cut")),
        ];
        assert!(store.put("img", body(parts), None).await.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn foreign_locations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        for loc in ["file:///etc/passwd", "http://x/y", "file://relative"] {
            assert!(
                matches!(store.size(loc).await, Err(StoreError::Refused(_))),
                "{loc}"
            );
        }
        let bad = store.put("../x", body(vec![]), None).await;
        assert!(matches!(bad, Err(StoreError::Refused(_))));
    }

    #[test]
    fn owns_only_files_directly_in_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let root = store.dir().display().to_string();
        assert!(store.owns(&format!("file://{root}/img-1")));
        // Whether the file exists is the store's to say when asked for its size.
        assert!(store.owns(&format!("file://{root}/not-yet")));
        for loc in [
            format!("file://{root}"),
            format!("file://{root}/"),
            format!("file://{root}/sub/img"),
            format!("file://{root}/../img"),
            format!("file://{root}/.hidden"),
            format!("file://{root}-other/img"),
            format!("http://{root}/img"),
            "file:///etc/passwd".into(),
            "file://relative/img".into(),
        ] {
            assert!(!store.owns(&loc), "{loc}");
        }
    }

    #[tokio::test]
    async fn an_adopted_glance_file_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0b1c"), b"from glance").unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let loc = format!("file://{}/0b1c", store.dir().display());
        assert_eq!(read(&store, &loc, 0, None).await, b"from glance");
    }
}
