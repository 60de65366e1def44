//! The metadata volume's watermark: a node whose metadata volume is below its reserve refuses
//! to propose commands that grow the state, and still proposes those that shrink it (deletes),
//! which is how an operator frees space. The node measures the volume ([`MetaSpace`]).

use crate::command::Command;
use crate::docs::Change;
use crate::model::ImageStatus;

/// Whether this node's metadata volume has room to grow; the node implements it.
pub trait MetaSpace: Send + Sync {
    /// `Err` with a message for the operator when the volume is below its reserve (or cannot
    /// be measured).
    fn check_room(&self) -> Result<(), String>;
}

impl Command {
    /// Whether applying the command may grow the metadata: everything but removals (an image
    /// deleted or put in `pending_delete`, documents only deleted or checked).
    pub fn grows(&self) -> bool {
        match self {
            Command::CreateImage { .. } => true,
            Command::PutImage { image, .. } => image.status != ImageStatus::PendingDelete,
            Command::DeleteImage { .. } => false,
            Command::Docs { ops } => ops.iter().any(|op| matches!(op.change, Change::Put(_))),
        }
    }
}
