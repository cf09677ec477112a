//! Hex text, read one way for the whole project: digits only (no sign, no spaces), through the
//! `hex` crate for bytes. `value-hash`, `.mexe` Buffer values, inbox `data` and proof fields all
//! come here.

use primitive_types::U256;

use crate::error::MexeError;

/// Bytes from an even number of hex digits without prefix (empty is no bytes).
pub fn parse_bytes(text: &str) -> Result<Vec<u8>, MexeError> {
    hex::decode(text).map_err(|_| MexeError::BadHex(text.to_string()))
}

/// A u256 from hex digits without prefix: leading zeros allowed, at most 64 significant digits.
pub fn parse_int(text: &str) -> Result<U256, MexeError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MexeError::BadHex(text.to_string()));
    }
    let digits = text.trim_start_matches('0');
    if digits.len() > 64 {
        return Err(MexeError::IntTooWide);
    }
    let padded = format!("{digits:0>64}");
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(padded, &mut bytes).map_err(|_| MexeError::BadHex(text.to_string()))?;
    Ok(U256::from_big_endian(&bytes))
}

/// `text` without one leading `0x`, if it has one.
pub fn unprefixed(text: &str) -> &str {
    text.strip_prefix("0x").unwrap_or(text)
}

/// Bytes as lower-case hex digits, without prefix.
pub fn encode(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_only() {
        assert_eq!(parse_bytes("00ff"), Ok(vec![0, 255]));
        assert_eq!(parse_bytes(""), Ok(vec![]));
        for bad in ["+5", "0+", "f", "0g", " 0", "-1"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_int("00ff"), Ok(U256::from(255)));
        assert_eq!(parse_int(&"f".repeat(64)), Ok(U256::MAX));
        assert_eq!(parse_int(&format!("0000{}", "f".repeat(64))), Ok(U256::MAX));
        assert_eq!(parse_int(&"1".repeat(65)), Err(MexeError::IntTooWide));
        for bad in ["", "+5", "0x5", "5 "] {
            assert!(parse_int(bad).is_err(), "{bad}");
        }
        assert_eq!(encode(&[0xab, 1]), "ab01");
    }
}
