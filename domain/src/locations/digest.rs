//! The digests of an image added by location: MD5 (Glance's `checksum`) and the hash a
//! client's `validation_data` names (or `sha512`), computed as the store's bytes stream by.

use crate::stores::ByteStream;
use futures::StreamExt;
use md5::{Digest, Md5};
use sha2::{Sha256, Sha512};

/// A hash algorithm Glance accepts in `validation_data` and this service can compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgo {
    /// MD5.
    Md5,
    /// SHA-256.
    Sha256,
    /// SHA-512 (Glance's `hashing_algorithm` default and every upload's).
    Sha512,
}

impl HashAlgo {
    /// The algorithm Glance calls `name`.
    pub fn parse(name: &str) -> Option<HashAlgo> {
        match name {
            "md5" => Some(HashAlgo::Md5),
            "sha256" => Some(HashAlgo::Sha256),
            "sha512" => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    /// Glance's name.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }
}

/// Bytes of a digest of the algorithm Glance's schema names `name` (`sha1` included: it is
/// in the schema, so its values are checked even though it is not computed here).
pub fn digest_len(name: &str) -> Option<usize> {
    match name {
        "md5" => Some(16),
        "sha1" => Some(20),
        "sha256" => Some(32),
        "sha512" => Some(64),
        _ => None,
    }
}

/// What [`digest`] measured: the size and the two digests, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    /// Bytes read.
    pub size: u64,
    /// MD5 (`checksum`).
    pub md5: String,
    /// The chosen algorithm's digest (`os_hash_value`).
    pub hash: String,
}

enum Hasher {
    Md5,
    Sha256(Sha256),
    Sha512(Sha512),
}

/// Reads `data` to its end and digests it; an error of the stream is returned as is.
/// Pieces are hashed on the task's own thread: they are small (a network read), and a
/// location task is one background task, not a request.
pub async fn digest(mut data: ByteStream, algo: HashAlgo) -> std::io::Result<Measured> {
    let mut md5 = Md5::new();
    let mut other = match algo {
        HashAlgo::Md5 => Hasher::Md5,
        HashAlgo::Sha256 => Hasher::Sha256(Sha256::new()),
        HashAlgo::Sha512 => Hasher::Sha512(Sha512::new()),
    };
    let mut size = 0u64;
    while let Some(piece) = data.next().await {
        let piece = piece?;
        size += piece.len() as u64;
        md5.update(&piece);
        match &mut other {
            Hasher::Md5 => {}
            Hasher::Sha256(h) => h.update(&piece),
            Hasher::Sha512(h) => h.update(&piece),
        }
    }
    let md5 = format!("{:x}", md5.finalize());
    let hash = match other {
        Hasher::Md5 => md5.clone(),
        Hasher::Sha256(h) => format!("{:x}", h.finalize()),
        Hasher::Sha512(h) => format!("{:x}", h.finalize()),
    };
    Ok(Measured { size, md5, hash })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn pieces(parts: &[&'static [u8]]) -> ByteStream {
        let items: Vec<std::io::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures::stream::iter(items).boxed()
    }

    #[tokio::test]
    async fn digests_match_the_known_values() {
        let m = digest(pieces(&[b"ab", b"c"]), HashAlgo::Sha256)
            .await
            .unwrap();
        assert_eq!(m.size, 3);
        assert_eq!(m.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            m.hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let m = digest(pieces(&[b"abc"]), HashAlgo::Md5).await.unwrap();
        assert_eq!(m.hash, m.md5);
        let m = digest(pieces(&[]), HashAlgo::Sha512).await.unwrap();
        assert!(m.hash.starts_with("cf83e1357eefb8bd"));
        assert_eq!(digest_len("sha512"), Some(64));
        assert_eq!(digest_len("sha123"), None);
    }

    #[tokio::test]
    async fn a_failing_stream_is_an_error() {
        let items: Vec<std::io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"a")),
            Err(std::io::Error::other("cut")),
        ];
        let err = digest(futures::stream::iter(items).boxed(), HashAlgo::Sha512).await;
        assert!(err.is_err());
    }
}
