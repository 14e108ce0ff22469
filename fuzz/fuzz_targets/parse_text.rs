//! The text forms: `Address` (Bech32m) and `Hash` (lowercase hex) parsed from arbitrary UTF-8. Never
//! panic; whatever parses displays to a string that parses back to the same value, and a `Hash`
//! (strictly canonical text) displays back to exactly its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mameynode::types::{Address, Hash};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(addr) = s.parse::<Address>() {
        let shown = addr.to_string();
        assert!(shown.starts_with("mamey1"), "{shown}");
        assert_eq!(
            shown.parse::<Address>(),
            Ok(addr),
            "display does not parse back"
        );
        // Bech32 also accepts the all-uppercase form, and the parser trims whitespace, so the
        // input equals the display only up to those.
        assert_eq!(
            shown,
            s.trim().to_ascii_lowercase(),
            "an address parsed from a non-canonical spelling"
        );
    }
    if let Ok(hash) = s.parse::<Hash>() {
        assert_eq!(hash.to_string(), s, "hash text is not canonical");
        assert_eq!(hash.to_string().parse::<Hash>(), Ok(hash));
    }
});
