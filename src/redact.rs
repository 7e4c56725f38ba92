//! One way of keeping credentials out of `Debug` output (and so out of logs and panics).

/// Implements `Debug` as `Name([redacted])` for a type that holds a credential.
macro_rules! redacted_debug {
    ($name:ident) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

pub(crate) use redacted_debug;
