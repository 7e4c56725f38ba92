//! Random identifiers, from the thread-local CSPRNG.

/// `N` random bytes as `2 * N` lower-case hex characters.
pub fn random_hex<const N: usize>() -> String {
    hex::encode(rand::random::<[u8; N]>())
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_hex_has_the_asked_length_and_differs_each_time() {
        let a = super::random_hex::<16>();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, super::random_hex::<16>());
    }
}
