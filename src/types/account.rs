use crate::codec::{put_u64, put_u8, Decode, DecodeError, Encode, Reader};

use super::Amount;

/// One account's state in the native bank.
///
/// Invariant: `nonce` counts the transactions this account has sent that were executed; the next one
/// must carry exactly this nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    pub balance: Amount,
    pub nonce: u64,
}

const ACCOUNT_VERSION: u8 = 1;

impl Account {
    pub const ENCODED_LEN: usize = 17;

    pub fn is_empty(&self) -> bool {
        self.balance == 0 && self.nonce == 0
    }
}

impl Encode for Account {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, ACCOUNT_VERSION);
        put_u64(out, self.balance);
        put_u64(out, self.nonce);
    }
    fn encoded_len_hint(&self) -> usize {
        Self::ENCODED_LEN
    }
}

impl Decode for Account {
    const WHAT: &'static str = "account";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, ACCOUNT_VERSION)?;
        Ok(Account {
            balance: r.u64("account balance")?,
            nonce: r.u64("account nonce")?,
        })
    }
}
