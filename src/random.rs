//! Random identifiers, from the thread-local CSPRNG.

/// `N` random bytes as `2 * N` lower-case hex characters.
pub fn random_hex<const N: usize>() -> String {
    // Into a buffer, not char by char: every request id is made here.
    let mut hex = vec![0; 2 * N];
    hex::encode_to_slice(rand::random::<[u8; N]>(), &mut hex)
        .unwrap_or_else(|_| unreachable!("the buffer holds two digits a byte"));
    String::from_utf8(hex).unwrap_or_else(|_| unreachable!("hex digits are ASCII"))
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
