//! The Alibaba open platform (IOP): signing, the signed client, the token APIs and their
//! answers.

pub mod api;
pub mod auth_code;
pub mod business;
pub mod client;
pub mod error;
pub mod multipart;
pub mod platform;
pub mod push;
pub mod sign;
pub mod transport;
pub mod types;

pub use api::TokenApi;
pub use auth_code::AuthCode;
pub use client::{IopClient, RawAnswer};
pub use error::{IopError, PlatformError};
pub use platform::Platform;
pub use types::{CountryUserInfo, SellerIdentity, TokenResponse};
