//! How a subcommand fails: a [`Failure`] carries its message and the exit code the process
//! ends with (1 rejected, 2 usage or configuration, 3 gone).

/// A failure and the exit code it ends the process with.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

/// A usage or configuration error: exit code 2.
pub(crate) fn usage(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 2,
        message: message.to_string(),
    }
}

/// A request was rejected: exit code 1.
pub(crate) fn rejected(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: format!("rejected: {message}"),
    }
}
