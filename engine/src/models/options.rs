//! Reading `CREATE MODEL ... OPTIONS (...)`: typed, range-checked values
//! with defaults, and one error naming the option for anything else. Every
//! model type reads its options through [`OptionReader`], so "unknown
//! option", "wrong type" and "out of range" read the same everywhere.

use std::collections::BTreeMap;

use datafusion::common::{DataFusionError, Result};
use serde_json::Value as Json;

/// Options as written, consumed one by one; [`OptionReader::finish`] fails
/// on any that no one asked for.
pub struct OptionReader<'a> {
    model_type: &'a str,
    given: BTreeMap<String, Json>,
    known: Vec<&'static str>,
}

impl<'a> OptionReader<'a> {
    pub fn new(model_type: &'a str, options: &[(String, Json)]) -> Self {
        Self {
            model_type,
            given: options.iter().cloned().collect(),
            known: Vec::new(),
        }
    }

    fn error(&self, key: &str, what: impl std::fmt::Display) -> DataFusionError {
        DataFusionError::Plan(format!("{} option '{key}': {what}", self.model_type))
    }

    fn take(&mut self, key: &'static str) -> Option<Json> {
        self.known.push(key);
        self.given.remove(key).filter(|v| !v.is_null())
    }

    /// An integer in `[min, max]`.
    pub fn int(
        &mut self,
        key: &'static str,
        default: Option<i64>,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>> {
        let Some(v) = self.take(key) else {
            return Ok(default);
        };
        let n = v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| self.error(key, format!("expected a whole number, got {v}")))?;
        if n < min || n > max {
            return Err(self.error(key, format!("{n} is out of range [{min}, {max}]")));
        }
        Ok(Some(n))
    }

    /// A number in `[min, max]`.
    pub fn float(&mut self, key: &'static str, default: f64, min: f64, max: f64) -> Result<f64> {
        let Some(v) = self.take(key) else {
            return Ok(default);
        };
        let x = v
            .as_f64()
            .ok_or_else(|| self.error(key, format!("expected a number, got {v}")))?;
        if !(min..=max).contains(&x) {
            return Err(self.error(key, format!("{x} is out of range [{min}, {max}]")));
        }
        Ok(x)
    }

    /// One of `choices` (case-insensitive), returned lower-cased.
    pub fn choice(&mut self, key: &'static str, default: &str, choices: &[&str]) -> Result<String> {
        let Some(v) = self.take(key) else {
            return Ok(default.to_string());
        };
        let s = v.as_str().map(str::to_lowercase).ok_or_else(|| {
            self.error(
                key,
                format!("expected one of {}, got {v}", choices.join(", ")),
            )
        })?;
        if choices.contains(&s.as_str()) {
            Ok(s)
        } else {
            Err(self.error(
                key,
                format!("expected one of {}, got '{s}'", choices.join(", ")),
            ))
        }
    }

    /// A string, any value.
    pub fn string(&mut self, key: &'static str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.error(key, format!("expected a string, got {v}"))),
        }
    }

    /// Fails on options no one read, listing the known ones.
    pub fn finish(self) -> Result<()> {
        if let Some(key) = self.given.keys().next() {
            let mut known = self.known.clone();
            known.sort();
            return Err(DataFusionError::Plan(format!(
                "{} has no option '{key}' (options: {})",
                self.model_type,
                known.join(", ")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, Json)]) -> Vec<(String, Json)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn reads_typed_values_and_rejects_the_rest() {
        let given = opts(&[
            ("dim", Json::from(50)),
            ("alpha", Json::from(0.05)),
            ("algorithm", Json::from("CBOW")),
        ]);
        let mut r = OptionReader::new("word2vec", &given);
        assert_eq!(r.int("dim", Some(100), 1, 10_000).expect("dim"), Some(50));
        assert_eq!(r.int("window", Some(5), 1, 100).expect("window"), Some(5));
        assert_eq!(r.float("alpha", 0.025, 0.0, 1.0).expect("alpha"), 0.05);
        assert_eq!(
            r.choice("algorithm", "skipgram", &["skipgram", "cbow"])
                .expect("algo"),
            "cbow"
        );
        r.finish().expect("all read");

        let given = opts(&[("dims", Json::from(50))]);
        let mut r = OptionReader::new("word2vec", &given);
        r.int("dim", Some(100), 1, 10).expect("default");
        let err = r.finish().expect_err("unknown").to_string();
        assert!(
            err.contains("word2vec has no option 'dims' (options: dim)"),
            "{err}"
        );

        let given = opts(&[("dim", Json::from(0))]);
        let err = OptionReader::new("word2vec", &given)
            .int("dim", None, 1, 10)
            .expect_err("range")
            .to_string();
        assert!(
            err.contains("word2vec option 'dim': 0 is out of range [1, 10]"),
            "{err}"
        );
        let given = opts(&[("dim", Json::from("big"))]);
        let err = OptionReader::new("word2vec", &given)
            .int("dim", None, 1, 10)
            .expect_err("type")
            .to_string();
        assert!(
            err.contains("expected a whole number, got \"big\""),
            "{err}"
        );
    }
}
