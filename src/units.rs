//! Units: normalising extracted values to a declared base unit (SI prefixes x1000, IEC x1024,
//! times to seconds, bytes and bits interchangeable), and scaling values for display.

/// Time units and their length in seconds, longest spelling first.
const TIME_UNITS: &[(&str, f64)] = &[
    ("nsec", 1e-9),
    ("ns", 1e-9),
    ("usec", 1e-6),
    ("us", 1e-6),
    ("µs", 1e-6),
    ("μs", 1e-6),
    ("msec", 1e-3),
    ("ms", 1e-3),
    ("seconds", 1.0),
    ("second", 1.0),
    ("secs", 1.0),
    ("sec", 1.0),
    ("s", 1.0),
    ("minutes", 60.0),
    ("minute", 60.0),
    ("mins", 60.0),
    ("min", 60.0),
    ("hours", 3600.0),
    ("hour", 3600.0),
    ("h", 3600.0),
];

const IEC: &[(&str, f64)] = &[
    ("Ki", 1024.0),
    ("Mi", 1048576.0),
    ("Gi", 1073741824.0),
    ("Ti", 1099511627776.0),
    ("Pi", 1125899906842624.0),
];

const SI: &[(&str, f64)] = &[
    ("k", 1e3),
    ("K", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("m", 1e-3),
    ("u", 1e-6),
    ("µ", 1e-6),
    ("μ", 1e-6),
    ("n", 1e-9),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Time,
    Bit,
    Byte,
    Other,
}

fn family(base: &str) -> Family {
    let b = base.trim();
    if TIME_UNITS.iter().any(|(u, _)| *u == b) {
        return Family::Time;
    }
    let head = b.split('/').next().unwrap_or("");
    match head {
        "bit" | "bits" | "b" => Family::Bit,
        "B" | "byte" | "bytes" | "Byte" | "Bytes" => Family::Byte,
        _ => Family::Other,
    }
}

/// Splits `text` into its leading number and the rest (trimmed).
pub(crate) fn split_number(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let bytes = t.as_bytes();
    let mut end = 0;
    let mut seen_digit = false;
    let mut seen_e = false;
    while end < bytes.len() {
        let c = bytes[end] as char;
        let ok = match c {
            '0'..='9' => {
                seen_digit = true;
                true
            }
            '+' | '-' => end == 0 || matches!(bytes[end - 1], b'e' | b'E'),
            '.' => true,
            'e' | 'E' if seen_digit && !seen_e => {
                // Only an exponent when digits follow, so that "5 ms" and "3e" stay sane.
                let rest = &t[end + 1..];
                let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
                if rest.starts_with(|c: char| c.is_ascii_digit()) {
                    seen_e = true;
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        if !ok {
            break;
        }
        end += 1;
    }
    let num: f64 = t[..end].parse().ok()?;
    Some((num, t[end..].trim()))
}

/// How an extractor reads numbers: the unit of bare numbers (`in:`), and whether K, M, G...
/// are powers of 1024 (`prefix: binary`, wrk's "MB").
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reading<'a> {
    pub input_unit: Option<&'a str>,
    pub binary: bool,
}

/// Multiplier that converts a value written in `unit` to `base`; `None` when they do not fit.
fn factor(unit: &str, base: &str) -> Option<f64> {
    factor_read(unit, base, false)
}

fn factor_read(unit: &str, base: &str, binary: bool) -> Option<f64> {
    let unit = unit.trim();
    let base = base.trim();
    if unit.is_empty() || unit == base {
        return Some(1.0);
    }
    let fam = family(base);
    if fam == Family::Time {
        let to_s = |u: &str| TIME_UNITS.iter().find(|(n, _)| *n == u).map(|(_, f)| *f);
        return Some(to_s(unit)? / to_s(base)?);
    }
    // A rate written "Mbits/sec" keeps its per-time part; compare only the head.
    let (head, per) = match unit.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (unit, None),
    };
    let base_per = base.split_once('/').map(|(_, p)| p);
    let per_factor = match (per, base_per) {
        (Some(p), Some(bp)) => {
            let to_s = |u: &str| TIME_UNITS.iter().find(|(n, _)| *n == u).map(|(_, f)| *f);
            match (to_s(p), to_s(bp)) {
                // value per p-time -> per bp-time
                (Some(a), Some(b)) => b / a,
                _ if p == bp => 1.0,
                _ => return None,
            }
        }
        (None, None) => 1.0,
        // "940 Mbits" captured for a declared "bit/s": the rate is implied by the regex.
        (None, Some(_)) => 1.0,
        (Some(_), None) => return None,
    };
    let (mult, rest) = strip_prefix(head, binary);
    let unit_fam = family(rest);
    let conv = match (unit_fam, fam) {
        (a, b) if a == b && a != Family::Other => 1.0,
        (Family::Byte, Family::Bit) => 8.0,
        (Family::Bit, Family::Byte) => 1.0 / 8.0,
        (Family::Other, Family::Other) => {
            let base_head = base.split('/').next().unwrap_or("");
            if rest == base_head || rest.is_empty() {
                1.0
            } else {
                return None;
            }
        }
        _ => return None,
    };
    Some(mult * conv * per_factor)
}

fn strip_prefix(head: &str, binary: bool) -> (f64, &str) {
    for (p, f) in IEC {
        if let Some(rest) = head.strip_prefix(p) {
            if !rest.is_empty() {
                return (*f, rest);
            }
        }
    }
    for (p, f) in SI {
        if let Some(rest) = head.strip_prefix(p) {
            if !rest.is_empty() && family(rest) != Family::Other {
                return (si_factor(p, *f, binary), rest);
            }
        }
    }
    (1.0, head)
}

/// The factor of an SI prefix; with `binary`, the multiples (k, K, M, G, T, P) are powers of
/// 1024 as in the IEC table, and the fractions (m, u, n) stay decimal.
fn si_factor(prefix: &str, f: f64, binary: bool) -> f64 {
    if !binary || f < 1.0 {
        return f;
    }
    let upper = prefix.to_ascii_uppercase();
    IEC.iter()
        .find(|(p, _)| p.starts_with(upper.as_str()))
        .map_or(f, |(_, b)| *b)
}

/// `x` rounded to 15 significant digits. A product such as `1.54 × 1e-3` carries binary noise
/// in its last bits (`0.0015400000000000001`); every decimal of at most 15 significant digits
/// survives a round trip through an f64, so rounding there gives back the decimal a person
/// would write (`0.00154`) and costs nothing a measurement has. Exact decimal arithmetic would
/// not help with the factors that aren't powers of ten (1024, 8, 60).
pub(crate) fn round_15(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.14e}").parse().unwrap_or(x)
}

/// `num` converted by `factor`, without the noise of the multiplication.
fn scaled(num: f64, factor: f64) -> f64 {
    if factor == 1.0 {
        num
    } else {
        round_15(num * factor)
    }
}

/// Parses an extracted text such as `940 Mbits/sec`, `1.5 GiB` or `12ms` into the declared
/// base unit. Without a declared unit the number is taken as it is.
pub fn normalise(text: &str, base: Option<&str>) -> Result<f64, String> {
    normalise_read(text, base, Reading::default())
}

/// `normalise`, reading bare numbers in `how.input_unit` and prefixes as `how.binary` says.
pub(crate) fn normalise_read(text: &str, base: Option<&str>, how: Reading) -> Result<f64, String> {
    finite(convert_read(text, base, how)?, text)
}

/// `x` when it is a finite number; else the error naming `text`, what it was read from.
fn finite(x: f64, text: &str) -> Result<f64, String> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("'{}' is not a finite number", text.trim()))
    }
}

fn convert_read(text: &str, base: Option<&str>, how: Reading) -> Result<f64, String> {
    let (num, unit) =
        split_number(text).ok_or_else(|| format!("'{}' is not a number", text.trim()))?;
    let Some(base) = base.filter(|b| !b.is_empty()) else {
        return Ok(num);
    };
    let unit = match how.input_unit {
        Some(u) if unit.is_empty() => u,
        _ => unit,
    };
    // A bare SI/IEC prefix ("940 M") applies to the base unit.
    if !unit.is_empty() {
        if let Some(f) = IEC
            .iter()
            .map(|(p, f)| (*p, *f))
            .chain(SI.iter().map(|(p, f)| (*p, si_factor(p, *f, how.binary))))
            .find(|(p, _)| *p == unit)
            .map(|(_, f)| f)
        {
            return Ok(scaled(num, f));
        }
    }
    factor_read(unit, base, how.binary)
        .map(|f| scaled(num, f))
        .ok_or_else(|| format!("cannot convert '{}' to {base}", text.trim()))
}

/// An undeclared value (`mpf-result NAME VALUE`) in the base of its own unit: `9.41 Gbits` and
/// `940 Mbits/sec` in bits (per second), `1.5 GiB` in bytes, `12 ms` in seconds. Text after the
/// number that is not such a unit (`7 widgets`, `12 %`) leaves the number as it is.
pub(crate) fn normalise_own(text: &str) -> Result<f64, String> {
    let (num, unit) =
        split_number(text).ok_or_else(|| format!("'{}' is not a number", text.trim()))?;
    let base = if TIME_UNITS.iter().any(|(u, _)| *u == unit) {
        Some("s")
    } else {
        let (head, per) = match unit.split_once('/') {
            Some((h, p)) => (h, Some(p)),
            None => (unit, None),
        };
        match (family(strip_prefix(head, false).1), per) {
            (Family::Bit, None) => Some("bit"),
            (Family::Bit, Some(_)) => Some("bit/s"),
            (Family::Byte, None) => Some("B"),
            (Family::Byte, Some(_)) => Some("B/s"),
            _ => None,
        }
    };
    let x = base
        .and_then(|b| factor(unit, b))
        .map_or(num, |f| scaled(num, f));
    finite(x, text)
}

/// A number read as a number (JSON): in `how.input_unit` when given, else already in `base`.
pub(crate) fn number_read(x: f64, base: Option<&str>, how: Reading) -> Result<f64, String> {
    let y = match (how.input_unit, base.filter(|b| !b.is_empty())) {
        (Some(from), Some(to)) => factor_read(from, to, how.binary)
            .map(|f| scaled(x, f))
            .ok_or_else(|| format!("cannot convert {from} to {to}"))?,
        _ => x,
    };
    if y.is_finite() {
        Ok(y)
    } else {
        Err(format!(
            "{x} is not a finite number in {}",
            base.unwrap_or("its unit")
        ))
    }
}

/// Display scaling for a base unit: the factor to divide values by and the unit to print,
/// chosen so that `magnitude` (typically the largest absolute value) reads between 1 and 1000.
pub(crate) fn display_scale(base: &str, magnitude: f64) -> (f64, String) {
    let m = magnitude.abs();
    if base.is_empty() || !m.is_finite() || m == 0.0 {
        return (1.0, base.to_string());
    }
    if family(base) == Family::Time {
        let secs = m * factor(base, "s").unwrap_or(1.0);
        let (div, name) = if secs >= 1.0 {
            (1.0, "s")
        } else if secs >= 1e-3 {
            (1e-3, "ms")
        } else if secs >= 1e-6 {
            (1e-6, "µs")
        } else {
            (1e-9, "ns")
        };
        let to_base = factor(base, "s").unwrap_or(1.0);
        return (div / to_base, name.to_string());
    }
    let steps = [
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
        (1.0, ""),
        (1e-3, "m"),
        (1e-6, "µ"),
        (1e-9, "n"),
    ];
    for (f, p) in steps {
        if m >= f {
            return (f, format!("{p}{base}"));
        }
    }
    (1.0, base.to_string())
}

/// Formats a number with about four significant digits, no exponent for everyday magnitudes.
pub(crate) fn format_number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let a = x.abs();
    if !(1e-4..1e15).contains(&a) {
        return format!("{x:.3e}");
    }
    let digits = (4 - 1 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A value with its display unit, e.g. `9.41 Gbit/s`.
pub(crate) fn humanise(x: f64, base: &str) -> String {
    let (div, unit) = display_scale(base, x);
    if unit.is_empty() {
        format_number(x / div)
    } else {
        format!("{} {unit}", format_number(x / div))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn an_undeclared_value_is_read_in_its_own_units_base() {
        assert!(close(normalise_own("9.41 Gbits").unwrap(), 9.41e9));
        assert!(close(normalise_own("941000 Kbits").unwrap(), 9.41e8));
        assert!(close(normalise_own("940 Mbits/sec").unwrap(), 9.4e8));
        assert!(close(normalise_own("1.5 GiB").unwrap(), 1610612736.0));
        assert!(close(normalise_own("12 ms").unwrap(), 0.012));
        assert!(close(normalise_own("2 MB/s").unwrap(), 2e6));
        // Not a unit of a known kind: the number as it is.
        assert_eq!(normalise_own("7 widgets").unwrap(), 7.0);
        assert_eq!(normalise_own("12 %").unwrap(), 12.0);
        assert_eq!(normalise_own("5 m").unwrap(), 5.0);
        assert_eq!(normalise_own("42").unwrap(), 42.0);
        assert!(normalise_own("Gbits").is_err());
    }

    #[test]
    fn si_prefixes_are_powers_of_1000() {
        assert!(close(
            normalise("940 Mbits/sec", Some("bit/s")).unwrap(),
            9.4e8
        ));
        assert!(close(
            normalise("9.41 Gbits", Some("bit/s")).unwrap(),
            9.41e9
        ));
        assert!(close(normalise("12 kB", Some("B")).unwrap(), 12000.0));
    }

    #[test]
    fn iec_prefixes_are_powers_of_1024() {
        assert!(close(normalise("3 KiB", Some("B")).unwrap(), 3072.0));
        assert!(close(normalise("1.5 MiB", Some("B")).unwrap(), 1572864.0));
    }

    #[test]
    fn times_become_seconds() {
        assert!(close(normalise("12ms", Some("s")).unwrap(), 0.012));
        assert!(close(normalise("5 us", Some("s")).unwrap(), 5e-6));
        assert!(close(normalise("5 µs", Some("s")).unwrap(), 5e-6));
        assert!(close(normalise("250 ns", Some("s")).unwrap(), 2.5e-7));
        assert!(close(normalise("2 min", Some("s")).unwrap(), 120.0));
        assert!(close(normalise("3", Some("s")).unwrap(), 3.0));
        assert!(close(normalise("1500 us", Some("ms")).unwrap(), 1.5));
    }

    #[test]
    fn bytes_and_bits_convert() {
        assert!(close(normalise("1 GBytes", Some("bit")).unwrap(), 8e9));
        assert!(close(normalise("100 MB/s", Some("bit/s")).unwrap(), 8e8));
        assert!(close(normalise("8 Kbit", Some("B")).unwrap(), 1000.0));
    }

    #[test]
    fn plain_numbers_and_errors() {
        assert_eq!(normalise("42", None).unwrap(), 42.0);
        assert_eq!(normalise(" -1.5e3 ", None).unwrap(), -1500.0);
        assert_eq!(normalise("12 widgets", None).unwrap(), 12.0);
        assert!(normalise("abc", Some("s")).is_err());
        assert!(normalise("3 parsecs", Some("s")).is_err());
    }

    #[test]
    fn numbers_that_overflow_are_refused() {
        for text in ["1e999", "-1e999", "1e999 ms"] {
            let e = normalise(text, None).unwrap_err();
            assert!(e.contains("not a finite number"), "{e}");
        }
        // Finite as written, infinite once converted.
        assert!(normalise("1e308 Gbit", Some("bit")).is_err());
        assert!(number_read(
            1e308,
            Some("bit"),
            Reading {
                input_unit: Some("Gbit"),
                binary: false
            }
        )
        .is_err());
        assert_eq!(normalise("1e300", None).unwrap(), 1e300);
    }

    #[test]
    fn converted_values_carry_no_float_noise() {
        let cases = [
            ("1.54 ms", "s", 0.00154_f64, "0.00154"),
            ("0.3 ms", "s", 0.0003, "0.0003"),
            ("7 ns", "s", 7e-9, "7e-9"),
            ("2.675 us", "s", 2.675e-6, "2.675e-6"),
            ("1.1 GB", "B", 1.1e9, "1100000000.0"),
            ("0.7 Mbits/sec", "bit/s", 700000.0, "700000.0"),
            ("1.5 MiB", "B", 1572864.0, "1572864.0"),
            ("100 MB/s", "bit/s", 8e8, "800000000.0"),
        ];
        for (text, base, want, json) in cases {
            let got = normalise(text, Some(base)).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{text} in {base}: {got}");
            assert_eq!(serde_json::json!(got).to_string(), json, "{text}");
        }
        assert_eq!(round_15(0.1 + 0.2), 0.3);
        assert_eq!(round_15(1.0 - 0.9), 0.1);
        assert_eq!(round_15(-1.54e-3 * 1.0), -0.00154);
        assert!(round_15(f64::NAN).is_nan());
        assert_eq!(round_15(f64::INFINITY), f64::INFINITY);
        // A value given without conversion is kept to the last bit.
        let exact = normalise("0.12345678901234567", None).unwrap();
        assert_eq!(exact, 0.12345678901234567);
    }

    #[test]
    fn binary_prefixes_are_powers_of_1024_per_extractor() {
        let bin = Reading {
            input_unit: None,
            binary: true,
        };
        assert_eq!(normalise_read("2.5MB", Some("B"), bin).unwrap(), 2621440.0);
        assert_eq!(normalise_read("1KB", Some("B"), bin).unwrap(), 1024.0);
        assert_eq!(normalise_read("3 kB", Some("B"), bin).unwrap(), 3072.0);
        assert_eq!(normalise_read("1GB", Some("B"), bin).unwrap(), 1073741824.0);
        assert_eq!(normalise_read("2 M", Some("B/s"), bin).unwrap(), 2097152.0);
        assert_eq!(normalise_read("1 MiB", Some("B"), bin).unwrap(), 1048576.0);
        // Fractions stay decimal, and without `binary` nothing changes.
        assert_eq!(normalise_read("5ms", Some("s"), bin).unwrap(), 0.005);
        assert_eq!(normalise("2.5MB", Some("B")).unwrap(), 2.5e6);
    }

    #[test]
    fn bare_numbers_are_read_in_the_input_unit() {
        let ns = Reading {
            input_unit: Some("ns"),
            binary: false,
        };
        assert_eq!(normalise_read("1500", Some("s"), ns).unwrap(), 1.5e-6);
        // A number printed with its own unit keeps it.
        assert_eq!(normalise_read("2 ms", Some("s"), ns).unwrap(), 0.002);
        assert_eq!(number_read(25000.0, Some("s"), ns).unwrap(), 2.5e-5);
        assert_eq!(
            number_read(7.0, Some("s"), Reading::default()).unwrap(),
            7.0
        );
        let kib = Reading {
            input_unit: Some("KiB"),
            binary: false,
        };
        assert_eq!(number_read(2.0, Some("B"), kib).unwrap(), 2048.0);
        assert!(number_read(1.0, Some("s"), kib).is_err());
    }

    #[test]
    fn display_scaling() {
        assert_eq!(display_scale("bit/s", 9.41e9), (1e9, "Gbit/s".into()));
        assert_eq!(display_scale("s", 0.0123), (1e-3, "ms".into()));
        assert_eq!(humanise(9.41e9, "bit/s"), "9.41 Gbit/s");
        assert_eq!(humanise(0.0123, "s"), "12.3 ms");
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(0.123456), "0.1235");
    }
}
