//! What a backend that holds whole images offers (Glance's store driver), whatever it is.

use bytes::Bytes;
use futures::stream::BoxStream;

/// A stream of image bytes read from or written to a store.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// A location with any keys in it (`user:key@`) left out, for messages and logs: locations
/// of object stores carry the credentials that read them.
pub fn redact(location: &str) -> String {
    match (location.split_once("://"), location.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, rest))) => format!("{scheme}://***@{rest}"),
        _ => location.to_owned(),
    }
}

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No data at that location.
    #[error("not found in store: {0}")]
    NotFound(String),
    /// The store only serves reads.
    #[error("store is read-only")]
    ReadOnly,
    /// The store could not be reached or failed (5xx, dropped connection, I/O error).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store refused the data or the location (bad URL, too large, forbidden).
    #[error("store refused: {0}")]
    Refused(String),
}

/// One backend that holds whole images.
#[async_trait::async_trait]
pub trait StoreDriver: Send + Sync + 'static {
    /// Writes `data` as image `image_id`'s bytes (`size` is its length when known) and
    /// returns the location URL that reads it back, in Glance's form for the driver
    /// (`file:///...`, `swift+http://...`, `s3://...`, `http://...`). Returns only once the
    /// store holds all of it durably; on error nothing is left behind.
    async fn put(
        &self,
        image_id: &str,
        data: ByteStream,
        size: Option<u64>,
    ) -> Result<String, StoreError>;
    /// Reads `len` bytes (all to the end when `None`) from `offset` of the data at `location`.
    async fn get(
        &self,
        location: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<ByteStream, StoreError>;
    /// Removes the data at `location`; data already gone is not an error.
    async fn delete(&self, location: &str) -> Result<(), StoreError>;
    /// The size of the data at `location`, checking it exists and can be reached.
    async fn size(&self, location: &str) -> Result<u64, StoreError>;
    /// Whether `location` is one of this store's, as glance_store matches a URL to a store by
    /// its scheme and the store's URL prefix (a file store's directory, a Swift account and
    /// container, an S3 endpoint and bucket, any http(s) URL): a location a client gives is
    /// read through the store that owns it. Nothing is contacted.
    fn owns(&self, location: &str) -> bool;
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn keys_are_left_out_of_logged_locations() {
        let s3 = "s3+http://AKIA:s3cr3t@127.0.0.1:18080/bucket/obj";
        assert_eq!(redact(s3), "s3+http://***@127.0.0.1:18080/bucket/obj");
        assert_eq!(redact("file:///var/lib/x"), "file:///var/lib/x");
    }
}
