//! The crate's error type: every fallible call returns `Result<_, rrs::Error>`.

use std::fmt;

/// What went wrong. Every message names the offending shape or value.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No GPU adapter was found (the message says how to install one).
    NoAdapter(String),
    /// The device could not be created, was lost, or reported an error.
    Device(String),
    /// Tensor shapes that do not fit together, or a wrong dtype.
    Shape(String),
    /// A size or option that the operation does not support (FWHT sizes, group sizes, …).
    Unsupported(String),
    /// NaN or Inf where finite values are required.
    NonFinite(String),
    /// A buffer larger than the adapter allows.
    TooLarge(String),
    /// A required argument is missing or inconsistent (e.g. calibration data).
    InvalidArgument(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, msg) = match self {
            Error::NoAdapter(m) => ("no GPU adapter", m),
            Error::Device(m) => ("device error", m),
            Error::Shape(m) => ("shape error", m),
            Error::Unsupported(m) => ("unsupported", m),
            Error::NonFinite(m) => ("non-finite value", m),
            Error::TooLarge(m) => ("too large for the adapter", m),
            Error::InvalidArgument(m) => ("invalid argument", m),
        };
        write!(f, "{kind}: {msg}")
    }
}

impl std::error::Error for Error {}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
