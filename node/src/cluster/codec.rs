//! MessagePack encoding of everything sent between nodes.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encodes a message in the same compact form the in-process test transport round-trips.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec(msg).map_err(|e| format!("encode: {e}"))
}

/// Decodes a message from a peer.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| format!("decode: {e}"))
}
