use std::fmt;
use std::str::FromStr;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32m, Hrp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Human-readable prefix of the address text form.
pub const ADDRESS_HRP: &str = "mamey";

/// An account address: the account's Ed25519 public key, as its 32-byte encoding.
///
/// Text form: Bech32m (BIP-350) with prefix `mamey`, e.g. `mamey1...`. The checksum catches every
/// mistyped character up to four and every transposition, so funds cannot go to a typo.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 32]);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AddressError {
    #[error("not a valid address: {0} (expected a Bech32m string starting with \"mamey1\")")]
    Bech32(String),
    #[error("address has prefix \"{0}\", expected \"mamey\"")]
    WrongPrefix(String),
    #[error("address holds {0} bytes, expected 32")]
    Length(usize),
}

impl Address {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn hrp() -> Hrp {
        Hrp::parse_unchecked(ADDRESS_HRP)
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let checked = CheckedHrpstring::new::<Bech32m>(s.trim())
            .map_err(|e| AddressError::Bech32(e.to_string()))?;
        if checked.hrp() != Self::hrp() {
            return Err(AddressError::WrongPrefix(checked.hrp().to_string()));
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AddressError::Length(bytes.len()))?;
        Ok(Address(arr))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 32 data bytes and a 5-character prefix are far under Bech32m's 90-character limit, so
        // encoding cannot fail.
        let s = bech32::encode::<Bech32m>(Self::hrp(), &self.0).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_typo_detection() {
        let a = Address([7u8; 32]);
        let s = a.to_string();
        assert!(s.starts_with("mamey1"), "{s}");
        assert_eq!(s.parse::<Address>(), Ok(a));
        // Change one character in the data part: the checksum must catch it.
        let mut chars: Vec<char> = s.chars().collect();
        let i = 10;
        chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
        let typo: String = chars.into_iter().collect();
        assert!(typo.parse::<Address>().is_err());
        let other =
            bech32::encode::<Bech32m>(Hrp::parse_unchecked("cosmos"), &[7u8; 32]).expect("encodes");
        assert_eq!(
            other.parse::<Address>(),
            Err(AddressError::WrongPrefix("cosmos".into()))
        );
        assert!(hex::encode([7u8; 32]).parse::<Address>().is_err());
    }
}
