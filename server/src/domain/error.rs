//! The domain's one error type. Each error carries a stable machine-readable `code` (part of the
//! public contract, shown by UIs) and a kind that the HTTP layer maps to a status.

pub use super::code::Code;

/// What sort of refusal an error is; the HTTP boundary turns it into a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input breaks a rule (422).
    Invalid,
    /// The input is fine but the current state forbids it (409).
    Conflict,
    /// A referenced thing does not exist, or the caller may not know it exists (404).
    NotFound,
    /// The caller is known but not allowed (403).
    Forbidden,
    /// The caller is not known: no token, or a bad or expired one (401).
    Unauthenticated,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DomainError {
    pub kind: ErrorKind,
    pub code: Code,
    pub message: String,
}

impl DomainError {
    fn new(kind: ErrorKind, code: Code, message: impl Into<String>) -> Self {
        DomainError {
            kind,
            code,
            message: message.into(),
        }
    }
    pub fn invalid(code: Code, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, code, message)
    }
    pub fn conflict(code: Code, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }
    pub fn not_found(code: Code, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }
    pub fn forbidden(code: Code, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, message)
    }
    pub fn unauthenticated(code: Code, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, code, message)
    }
}
