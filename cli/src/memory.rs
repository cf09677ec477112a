//! How much memory this process holds, as the OS counts it (Linux `/proc`), and the sizes
//! people write for bounds (`512M`, `4G`).

/// A field of `/proc/self/status` or `/proc/meminfo` (in kB there), in bytes.
fn proc_field(file: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// This process's resident memory now (`VmRSS`), where the OS reports it.
pub fn resident() -> Option<u64> {
    proc_field("/proc/self/status", "VmRSS:")
}

/// This process's peak resident memory (`VmHWM`), where the OS reports it.
pub fn peak_resident() -> Option<u64> {
    proc_field("/proc/self/status", "VmHWM:")
}

/// The machine's physical memory (`MemTotal`), where the OS reports it.
pub fn physical() -> Option<u64> {
    proc_field("/proc/meminfo", "MemTotal:")
}

/// The share of physical memory a run may hold by default.
pub const DEFAULT_SHARE: f64 = 0.8;

/// The clap parser of a memory size: bytes, or a number with `k`, `M`, `G` or `T` (powers of
/// 1024, an optional `B` or `iB` after it), such as `512M` or `1.5G`.
pub fn size(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a size (write 4G, 512M or a number of bytes)");
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let lower = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (number, unit) = match lower.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&lower[..at], c),
        _ => (lower, ' '),
    };
    let shift = match unit {
        ' ' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        't' => 40,
        _ => return Err(bad()),
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 || number.trim().starts_with('+') {
        return Err(bad());
    }
    let bytes = value * (1u64 << shift) as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_people_write_them() {
        for (text, bytes) in [
            ("0", 0),
            ("4096", 4096),
            ("512M", 512 << 20),
            ("512MB", 512 << 20),
            ("512MiB", 512 << 20),
            ("4G", 4 << 30),
            ("1.5g", 3 << 29),
            ("2k", 2048),
            ("1T", 1 << 40),
        ] {
            assert_eq!(size(text), Ok(bytes), "{text}");
        }
        for text in ["", "G", "4X", "-1G", "+1G", "1e400", "nan"] {
            assert!(size(text).is_err(), "{text}");
        }
    }

    #[test]
    fn this_process_is_measured_where_linux_says() {
        if std::path::Path::new("/proc/self/status").exists() {
            let now = resident().unwrap();
            assert!(now > 0 && now <= peak_resident().unwrap());
            assert!(physical().unwrap() > now);
        }
    }
}
