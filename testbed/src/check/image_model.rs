//! The sequential model of one image that the linearizability checker runs the recorded
//! history against: whether it exists, its status, and its `register` property.

use serde::{Deserialize, Serialize};

use super::linearizable::Model;

/// An image's status as far as the workload can change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, no data.
    Queued,
    /// Data uploaded.
    Active,
    /// Deactivated by an admin.
    Deactivated,
    /// A status the workload never causes (only ever seen, never a model state).
    Unexpected,
}

/// The model's state of one image (it exists from its create on: the create's answer named it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageState {
    /// Deleted (reads answer 404 from then on).
    pub deleted: bool,
    /// Its status.
    pub status: Status,
    /// The `register` property, if set.
    pub register: Option<String>,
}

/// What the workload asked of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Input {
    /// PATCH the register property to a value.
    Write {
        /// The value written (unique per write).
        value: String,
    },
    /// GET the image.
    Read,
    /// PUT its data.
    Upload {
        /// SHA-512 of the bytes sent (hex).
        sha512: String,
    },
    /// GET its data.
    Download,
    /// POST deactivate.
    Deactivate,
    /// POST reactivate.
    Reactivate,
    /// DELETE it.
    Delete,
}

/// What the API answered, reduced to what the model can judge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Output {
    /// A 2xx for a write, upload, (de)activate or delete.
    Done,
    /// A read's answer.
    Seen {
        /// Status shown.
        status: Status,
        /// Register shown.
        register: Option<String>,
    },
    /// 404: the image does not exist.
    NotFound,
    /// A definite refusal for the image's state (409 upload on a non-queued image, 400/403
    /// (de)activation in a state that does not allow it).
    Refused,
    /// A download's bytes.
    Data {
        /// SHA-512 of the bytes received (hex).
        sha512: String,
    },
    /// No definite answer (timeout, 5xx): the operation may or may not have taken effect,
    /// so its event must have no completion time (it may then be ordered last: never seen).
    Unknown,
}

/// The image model.
#[derive(Debug, Clone)]
pub struct ImageModel {
    /// The register value given at create, if any.
    pub initial: Option<String>,
}

impl Model for ImageModel {
    type State = ImageState;
    type Input = Input;
    type Output = Output;

    fn init(&self) -> ImageState {
        ImageState {
            deleted: false,
            status: Status::Queued,
            register: self.initial.clone(),
        }
    }

    fn step(&self, s: &ImageState, input: &Input, output: &Output) -> Option<ImageState> {
        if *input == Input::Download {
            // Which bytes may be seen is the durability checker's job; here only the status.
            let fits = match output {
                Output::Unknown => true,
                Output::NotFound => s.deleted,
                Output::Done => !s.deleted && s.status == Status::Queued,
                Output::Data { .. } => !s.deleted && s.status == Status::Active,
                Output::Refused => !s.deleted && s.status == Status::Deactivated,
                Output::Seen { .. } => false,
            };
            return fits.then(|| s.clone());
        }
        let applied = apply(s, input);
        match output {
            // Either outcome is possible; the effect (if any) is the successful one's.
            Output::Unknown => Some(applied.unwrap_or_else(|_| s.clone())),
            Output::NotFound => s.deleted.then(|| s.clone()),
            Output::Refused => match applied {
                Err(Refusal::State) => Some(s.clone()),
                _ => None,
            },
            Output::Done => applied.ok().filter(|_| *input != Input::Read),
            Output::Data { .. } => None,
            Output::Seen { status, register } => (*input == Input::Read
                && !s.deleted
                && s.status == *status
                && s.register == *register)
                .then(|| s.clone()),
        }
    }
}

/// Why the API must refuse an operation in a state.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// The image is gone (404).
    Gone,
    /// The image's status does not allow it.
    State,
}

/// The state after a successful `input`, or why it must fail.
fn apply(s: &ImageState, input: &Input) -> Result<ImageState, Refusal> {
    if s.deleted {
        return Err(Refusal::Gone);
    }
    let mut next = s.clone();
    match input {
        Input::Read | Input::Download => {}
        Input::Write { value } => next.register = Some(value.clone()),
        Input::Upload { .. } if s.status == Status::Queued => next.status = Status::Active,
        Input::Deactivate if s.status != Status::Queued => next.status = Status::Deactivated,
        Input::Reactivate if s.status != Status::Queued => next.status = Status::Active,
        Input::Delete => next.deleted = true,
        Input::Upload { .. } | Input::Deactivate | Input::Reactivate => return Err(Refusal::State),
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::super::linearizable::{check, Event, Verdict};
    use super::*;

    fn ev(
        invoke: u64,
        complete: Option<u64>,
        input: Input,
        output: Output,
    ) -> Event<Input, Output> {
        Event {
            invoke,
            complete,
            input,
            output,
        }
    }

    fn write(v: &str) -> Input {
        Input::Write { value: v.into() }
    }

    fn upload() -> Input {
        Input::Upload {
            sha512: "f00".into(),
        }
    }

    fn seen(status: Status, register: Option<&str>) -> Output {
        Output::Seen {
            status,
            register: register.map(str::to_string),
        }
    }

    fn verdict(h: &[Event<Input, Output>]) -> Verdict {
        check(&ImageModel { initial: None }, h, 1_000_000)
    }

    #[test]
    fn a_plain_life_is_linearizable() {
        let h = [
            ev(0, Some(1), write("a"), Output::Done),
            ev(2, Some(3), upload(), Output::Done),
            ev(4, Some(5), Input::Read, seen(Status::Active, Some("a"))),
            ev(
                4,
                Some(5),
                Input::Download,
                Output::Data {
                    sha512: "f00".into(),
                },
            ),
            ev(6, Some(7), Input::Deactivate, Output::Done),
            ev(
                8,
                Some(9),
                Input::Read,
                seen(Status::Deactivated, Some("a")),
            ),
            ev(8, Some(9), Input::Download, Output::Refused),
            ev(10, Some(11), Input::Reactivate, Output::Done),
            ev(12, Some(13), Input::Delete, Output::Done),
            ev(14, Some(15), Input::Read, Output::NotFound),
            ev(14, Some(15), Input::Download, Output::NotFound),
            ev(16, Some(17), write("b"), Output::NotFound),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn a_lost_write_is_caught() {
        let h = [
            ev(0, Some(1), write("a"), Output::Done),
            ev(2, Some(3), write("b"), Output::Done),
            ev(4, Some(5), Input::Read, seen(Status::Queued, Some("a"))),
        ];
        assert_eq!(verdict(&h), Verdict::Violation);
    }

    #[test]
    fn a_resurrected_delete_is_caught() {
        let h = [
            ev(0, Some(1), write("a"), Output::Done),
            ev(2, Some(3), Input::Delete, Output::Done),
            ev(4, Some(5), Input::Read, seen(Status::Queued, Some("a"))),
        ];
        assert_eq!(verdict(&h), Verdict::Violation);
    }

    #[test]
    fn a_phantom_value_is_caught() {
        let h = [
            ev(0, Some(1), write("a"), Output::Done),
            ev(2, Some(3), Input::Read, seen(Status::Queued, Some("zz"))),
        ];
        assert_eq!(verdict(&h), Verdict::Violation);
    }

    #[test]
    fn an_acknowledged_upload_cannot_be_forgotten() {
        let h = [
            ev(0, Some(1), upload(), Output::Done),
            ev(2, Some(3), Input::Read, seen(Status::Queued, None)),
        ];
        assert_eq!(verdict(&h), Verdict::Violation);
    }

    #[test]
    fn a_refusal_must_match_the_state() {
        let ok = [
            ev(0, Some(1), Input::Deactivate, Output::Refused),
            ev(2, Some(3), upload(), Output::Done),
            ev(4, Some(5), upload(), Output::Refused),
        ];
        assert_eq!(verdict(&ok), Verdict::Linearizable);
        let wrong = [ev(0, Some(1), upload(), Output::Refused)];
        assert_eq!(verdict(&wrong), Verdict::Violation);
    }

    #[test]
    fn unknown_outcomes_may_go_either_way() {
        let h = [
            ev(0, None, Input::Delete, Output::Unknown),
            ev(5, None, write("a"), Output::Unknown),
            ev(10, Some(11), Input::Read, seen(Status::Queued, None)),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
        let h = [
            ev(0, None, Input::Delete, Output::Unknown),
            ev(10, Some(11), Input::Read, Output::NotFound),
            ev(12, Some(13), Input::Read, seen(Status::Queued, None)),
        ];
        assert_eq!(verdict(&h), Verdict::Violation);
    }
}
