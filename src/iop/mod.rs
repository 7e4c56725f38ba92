//! The Alibaba open platform (IOP): signing, the token API client and its answers.

pub mod auth_code;
pub mod client;
pub mod error;
pub mod platform;
pub mod sign;
pub mod types;

pub use auth_code::AuthCode;
pub use client::IopClient;
pub use error::{IopError, PlatformError};
pub use platform::Platform;
pub use types::{CountryUserInfo, SellerIdentity, TokenResponse};
