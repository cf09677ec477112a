//! Step and gas counts as people write them: `1000000`, `1_000_000`, `1e6`, `2.5e6`, `0x10`.

use avm_runtime::U256;

/// Parses a count: decimal digits, `0x` hex digits, or a decimal with an exponent whose value is
/// a whole number; `_` may separate digits. Out of range for `T`, or not whole, is an error.
pub fn count<T: TryFrom<U256>>(text: &str) -> Result<T, String> {
    let value = whole(text).ok_or_else(|| {
        format!("`{text}` is not a count (write 1000000, 1_000_000, 1e6 or 0xf4240)")
    })?;
    T::try_from(value).map_err(|_| format!("`{text}` is too large"))
}

/// The clap parser of a `u64` count.
pub fn u64_count(text: &str) -> Result<u64, String> {
    count(text)
}

/// The clap parser of a gas bound: any count below 2^256. Gas used is counted in 128 bits and
/// can never pass 2^128 − 1, so a larger bound is kept as that, which stops a run the same way
/// (never).
pub fn gas_bound(text: &str) -> Result<u128, String> {
    let bound: U256 = count(text)?;
    Ok(u128::try_from(bound).unwrap_or(u128::MAX))
}

fn whole(text: &str) -> Option<U256> {
    let text: String = text.trim().chars().filter(|&c| c != '_').collect();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return avm_runtime::hex::parse_int(hex).ok();
    }
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<u32>().ok()?),
        None => (text.as_str(), 0),
    };
    let (int, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{fraction}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The value is digits × 10^(exponent − fraction digits); it must be whole.
    let shift = i64::from(exponent) - fraction.len() as i64;
    let trimmed = digits.trim_end_matches('0');
    let trailing_zeros = (digits.len() - trimmed.len()) as i64;
    if shift + trailing_zeros < 0 {
        return None;
    }
    if trimmed.is_empty() {
        return Some(U256::zero());
    }
    let significant = U256::from_dec_str(trimmed).ok()?;
    let power = U256::from(u32::try_from(shift + trailing_zeros).ok()?);
    significant.checked_mul(U256::from(10).checked_pow(power)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spellings_people_use() {
        for (text, value) in [
            ("0", 0u64),
            ("1000000", 1_000_000),
            ("1_000_000", 1_000_000),
            ("1e6", 1_000_000),
            ("1E6", 1_000_000),
            ("2.5e6", 2_500_000),
            ("0x10", 16),
            ("0xf_4240", 1_000_000),
            ("1.0", 1),
            ("0e5", 0),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(count::<u64>(text), Ok(value), "{text}");
        }
    }

    #[test]
    fn what_is_not_a_whole_count() {
        for text in [
            "", "x", "-1", "+1", "1.5", "2.5e0", "1e", "e6", "0x", "0x+1", "1e-1", "100e-2", "1..0",
        ] {
            assert!(count::<u64>(text).is_err(), "{text}");
        }
        assert!(count::<u64>("18446744073709551616").is_err());
        assert!(count::<u64>("1e20").is_err());
        assert_eq!(count::<u128>("1e20"), Ok(100_000_000_000_000_000_000));
        assert!(count::<u128>("1e40").is_err());
        assert_eq!(gas_bound("1e40"), Ok(u128::MAX));
        assert_eq!(gas_bound(&format!("0x{}", "f".repeat(64))), Ok(u128::MAX));
        assert!(gas_bound("1e78").is_err(), "past 2^256");
        assert_eq!(gas_bound("1_000"), Ok(1000));
    }
}
