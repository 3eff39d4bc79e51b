//! Secrets in stored definitions. `CREATE EXTERNAL TABLE ... OPTIONS
//! ('aws.secret_access_key' '...')` must keep its credentials to open the
//! table again, so the catalog entry stores the statement as written
//! (`<warehouse>/catalog/<name>.json`: protect that folder as you would the
//! credentials). Wherever a definition is shown (`information_schema.views`,
//! `SHOW CREATE TABLE`), it is shown with every secret option's value
//! replaced by `'***'`.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// What a redacted value reads.
pub const REDACTED: &str = "***";

/// Whether an option of this name holds a secret: a password, token,
/// secret or private key (`aws.secret_access_key`, `aws.session_token`,
/// `azure.storage_account_key`, `gcp.service_account_key`, ...), but not
/// the name of one (`aws.access_key_id`).
pub fn is_secret(option: &str) -> bool {
    let option = option.to_ascii_lowercase();
    [
        "secret",
        "password",
        "token",
        "private_key",
        "account_key",
        "sas_key",
        "credential",
    ]
    .iter()
    .any(|s| option.contains(s))
        || option.ends_with("access_key")
}

/// `sql` with the value that follows each secret option name replaced by
/// `'***'`, the rest as written. SQL that does not tokenize is hidden
/// whole: better no definition than a leaked key.
pub fn redact(sql: &str) -> String {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return "-- definition hidden: it could not be read to hide its secrets".to_string();
    };
    let mut out = String::with_capacity(sql.len());
    let mut secret_next = false;
    for token in tokens {
        let name = match &token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Some(s.as_str()),
            Token::Word(w) => Some(w.value.as_str()),
            _ => None,
        };
        match (&token, name) {
            (Token::Whitespace(_) | Token::Comma | Token::Eq, _) => {
                out.push_str(&token.to_string());
                continue;
            }
            (Token::SingleQuotedString(_) | Token::DoubleQuotedString(_), _) if secret_next => {
                out.push_str(&Token::SingleQuotedString(REDACTED.to_string()).to_string());
                secret_next = false;
                continue;
            }
            _ => {}
        }
        secret_next = name.is_some_and(is_secret);
        out.push_str(&token.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_hidden_and_the_rest_kept() {
        let sql = "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://b/p/' OPTIONS (\
                   'aws.access_key_id' 'AKIA123', 'aws.secret_access_key' 'wJalr/xyz', \
                   'aws.session_token' 'Fwo''GZX', 'aws.region' 'eu-west-1')";
        let shown = redact(sql);
        assert!(
            !shown.contains("wJalr") && !shown.contains("GZX"),
            "{shown}"
        );
        assert!(shown.contains("'aws.secret_access_key' '***'"), "{shown}");
        assert!(shown.contains("'aws.access_key_id' 'AKIA123'"), "{shown}");
        assert!(shown.contains("'aws.region' 'eu-west-1'"), "{shown}");
        assert!(
            shown.starts_with("CREATE EXTERNAL TABLE t STORED AS PARQUET"),
            "{shown}"
        );
    }

    #[test]
    fn names_of_secrets() {
        for secret in [
            "aws.secret_access_key",
            "aws.session_token",
            "azure.storage_account_key",
            "gcp.service_account_key",
            "azure.client_secret",
            "password",
        ] {
            assert!(is_secret(secret), "{secret}");
        }
        for plain in ["aws.access_key_id", "aws.region", "format.has_header"] {
            assert!(!is_secret(plain), "{plain}");
        }
    }
}
