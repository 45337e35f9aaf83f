//! Numbers that are `f64` in Rust but usually whole on the wire.
//!
//! `serde_json` writes every `f64` with a fraction (`24.0`), while the original system's
//! JavaScript writes whole numbers as integers (`24`). A consumer that reads the number
//! as an integer breaks on `24.0`, so whole values are written as integers here; values
//! with a fraction keep it. Reading accepts both.

use serde::Serializer;

/// Largest integer an `f64` (and a JavaScript number) holds exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Writes `number` as an integer when it is whole, else as a fraction.
pub(crate) fn value<S: Serializer>(number: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if number.fract() == 0.0 && (0.0..=MAX_EXACT).contains(number) {
        // Exact: a whole number between 0 and 2^53.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        serializer.serialize_u64(*number as u64)
    } else if number.fract() == 0.0 && (-MAX_EXACT..0.0).contains(number) {
        // Exact: a whole number between -2^53 and 0.
        #[allow(clippy::cast_possible_truncation)]
        serializer.serialize_i64(*number as i64)
    } else {
        serializer.serialize_f64(*number)
    }
}

/// [`value`] for an optional number (used with `skip_serializing_if = "Option::is_none"`).
// serde's `serialize_with` hands over `&Option<f64>`.
#[allow(clippy::ref_option)]
pub(crate) fn option<S: Serializer>(
    number: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match number {
        Some(number) => value(number, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize)]
    struct N(#[serde(serialize_with = "super::value")] f64);

    #[test]
    fn whole_numbers_are_integers() {
        let check = |number: f64, expected: &str| {
            assert_eq!(
                serde_json::to_string(&N(number)).expect("serializable"),
                expected
            );
        };
        check(24.0, "24");
        check(0.0, "0");
        check(-3.0, "-3");
        check(0.4, "0.4");
        check(7.5, "7.5");
        check(1e300, "1e+300");
        check(f64::NAN, "null");
    }
}
