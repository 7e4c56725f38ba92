//! The operator's console, as rules without HTTP: who may sign in (`password`), what a
//! session is and how its forms are protected (`session`), when sign-ins are refused
//! (`throttle`), and what the audit log records (`audit`). The pages are in `web::admin`;
//! sessions, failures and the log live in the store, so every replica agrees on them.

pub mod audit;
pub mod password;
pub mod session;
pub mod throttle;

pub use audit::{AuditAction, AuditEntry, COMMAND_LINE};
pub use password::{AdminPassword, PasswordError, PasswordVerifier};
pub use session::{CsrfToken, SessionId, SessionRecord};
pub use throttle::Throttle;
