//! What a plain (unquoted) scalar means, decided exactly as serde_yaml 0.9 decides it when it
//! builds a `Value` (`visit_untagged_scalar` and the `parse_*` helpers of its `de.rs`, MIT or
//! Apache-2.0, mirrored here): null, a boolean, an integer, a float, or else a string. The
//! streaming read must give every scalar the meaning the `Value` reader gives it; a test
//! compares the two on every shape of number and word.

use std::num::ParseIntError;

use serde_yaml::Value;

/// `None` for an integer beyond 64 bits, which serde_yaml's `Value` refuses.
pub(super) fn resolve_plain(v: &str) -> Option<Value> {
    let Some(&first) = v.as_bytes().first() else {
        return Some(Value::Null);
    };
    // Most scalars rule out a null or a boolean at their first character, without a string
    // comparison for each word of the same length.
    if matches!(first, b'n' | b'N' | b'~' | b't' | b'T' | b'f' | b'F') {
        match v {
            "null" | "Null" | "NULL" | "~" => return Some(Value::Null),
            "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
            "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
            _ => {}
        }
    }
    // Most scalars of a routes file (paths, URLs, names, hex digests) rule out a number
    // at their first character.
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Some(Value::String(v.to_owned()));
    }
    if let Some(int) = parse_unsigned_int(v, u64::from_str_radix) {
        return Some(Value::Number(int.into()));
    }
    if let Some(int) = parse_negative_int(v, i64::from_str_radix) {
        return Some(Value::Number(int.into()));
    }
    if parse_unsigned_int(v, u128::from_str_radix).is_some()
        || parse_negative_int(v, i128::from_str_radix).is_some()
    {
        return None;
    }
    if !digits_but_not_number(v) {
        if let Some(float) = parse_f64(v) {
            return Some(Value::Number(float.into()));
        }
    }
    Some(Value::String(v.to_owned()))
}

fn parse_unsigned_int<T>(
    scalar: &str,
    from_str_radix: fn(&str, u32) -> Result<T, ParseIntError>,
) -> Option<T> {
    let unpositive = scalar.strip_prefix('+').unwrap_or(scalar);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(int) = from_str_radix(rest, radix) {
                return Some(int);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(unpositive, 10).ok()
}

fn parse_negative_int<T>(
    scalar: &str,
    from_str_radix: fn(&str, u32) -> Result<T, ParseIntError>,
) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = scalar.strip_prefix(prefix) {
            if let Ok(int) = from_str_radix(&format!("-{rest}"), radix) {
                return Some(int);
            }
        }
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(scalar, 10).ok()
}

fn parse_f64(scalar: &str) -> Option<f64> {
    let unpositive = match scalar.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => scalar,
    };
    if let ".inf" | ".Inf" | ".INF" = unpositive {
        return Some(f64::INFINITY);
    }
    if let "-.inf" | "-.Inf" | "-.INF" = scalar {
        return Some(f64::NEG_INFINITY);
    }
    if let ".nan" | ".NaN" | ".NAN" = scalar {
        return Some(f64::NAN.copysign(1.0));
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Leading zeros followed by digits: a string in YAML 1.2.
fn digits_but_not_number(scalar: &str) -> bool {
    let scalar = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    scalar.len() > 1 && scalar.starts_with('0') && scalar[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_yaml makes of `text` as the value of a plain scalar; `None` where it refuses.
    fn serde_yaml_reads(text: &str) -> Option<Value> {
        let doc = format!("k: {text}\n");
        let value: Value = serde_yaml::from_str(&doc).ok()?;
        value.get("k").cloned()
    }

    fn same(text: &str) {
        // NaN is not equal to itself; compare what it prints as.
        let ours = resolve_plain(text).map(|v| format!("{v:?}"));
        let theirs = serde_yaml_reads(text).map(|v| format!("{v:?}"));
        assert_eq!(ours, theirs, "{text:?}");
    }

    #[test]
    fn every_shape_of_word_and_number_means_what_serde_yaml_says() {
        for text in [
            "",
            "~",
            "null",
            "Null",
            "NULL",
            "nUll",
            "true",
            "True",
            "TRUE",
            "tRue",
            "false",
            "no",
            "yes",
            "on",
            "y",
            "0",
            "00",
            "007",
            "-007",
            "+7",
            "++7",
            "+-7",
            "-7",
            "1_000",
            "0x1F",
            "0x-1",
            "-0x1F",
            "0o17",
            "-0o17",
            "0b101",
            "-0b101",
            "0b2",
            "1.5",
            "-1.5",
            "+1.5",
            ".5",
            "5.",
            "1e3",
            "1E3",
            "1e400",
            "-1e400",
            ".inf",
            ".Inf",
            "-.inf",
            "+.inf",
            ".nan",
            ".NaN",
            "nan",
            "inf",
            "infinity",
            "Infinity",
            "-inf",
            "1e",
            "0.0.1",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "340282366920938463463374607431768211456",
            "/svc-1",
            "http://h:80",
            "sk-123",
            "2027-01-31T00:00:00Z",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "0123456789012345678901234567890123456789012345678901234567890123",
            "1234567890123456789012345678901234567890123456789012345678901234",
            "1e10000000000000000000000000000000000000000000000000000000000000",
            "0e12345678901234567890123456789012345678901234567890123456789012",
        ] {
            same(text);
        }
    }

    proptest::proptest! {
        #[test]
        fn number_like_text_means_what_serde_yaml_says(text in "[-+.0-9a-fA-FxobeEinfINFaNul_]{1,12}") {
            // A lone `-` after `k: ` starts a sequence, not a scalar.
            proptest::prop_assume!(text != "-");
            same(&text);
        }
    }
}
