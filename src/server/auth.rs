//! Who is calling: bearer tokens configured on the server, and users who
//! sign in with a password through the Flight handshake, which answers
//! with a bearer token for the session. Secrets are compared in constant
//! time; with nothing configured every caller is "anonymous".

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use datafusion::common::{DataFusionError, Result};
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use super::ServeArgs;

/// How long a token issued by the handshake stays valid.
const SESSION_TOKEN_LIFE: Duration = Duration::from_secs(24 * 3600);

/// The caller, as the interceptor found it; every handler reads it from the
/// request's extensions.
#[derive(Debug, Clone)]
pub struct User(pub String);

impl User {
    pub fn of<T>(request: &Request<T>) -> String {
        request
            .extensions()
            .get::<User>()
            .map(|u| u.0.clone())
            .unwrap_or_else(|| "anonymous".to_string())
    }
}

/// The server's credentials.
#[derive(Default)]
pub struct Auth {
    /// (user, token) pairs from the configuration.
    tokens: Vec<(String, Vec<u8>)>,
    /// (user, password) pairs.
    users: Vec<(String, Vec<u8>)>,
    /// Tokens the handshake issued: token -> (user, expiry).
    issued: Mutex<HashMap<String, (String, Instant)>>,
}

impl Auth {
    pub fn from_args(args: &ServeArgs) -> Result<Self> {
        let mut tokens = Vec::new();
        let mut token_lines: Vec<String> = args.tokens.clone();
        if let Some(file) = &args.token_file {
            token_lines.extend(read_lines(file)?);
        }
        for line in token_lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
        {
            let (user, secret) = match line.split_once(':') {
                Some((u, s)) => (u.trim().to_string(), s.trim()),
                None => ("token".to_string(), line),
            };
            if user.is_empty() {
                return Err(DataFusionError::Configuration(
                    "a token is given with an empty user name; use NAME:SECRET".to_string(),
                ));
            }
            if secret.len() < 8 {
                return Err(DataFusionError::Configuration(format!(
                    "the token for '{user}' is shorter than 8 characters; use a long random secret"
                )));
            }
            tokens.push((user, secret.as_bytes().to_vec()));
        }
        let mut user_lines: Vec<String> = args.users.clone();
        if let Some(file) = &args.users_file {
            user_lines.extend(read_lines(file)?);
        }
        let mut users = Vec::new();
        for line in user_lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
        {
            let Some((user, password)) = line.split_once(':') else {
                return Err(DataFusionError::Configuration(
                    "users are given as NAME:PASSWORD".to_string(),
                ));
            };
            // An empty name or password would let a client in by sending
            // nothing (issue 23).
            if user.trim().is_empty() || password.is_empty() {
                return Err(DataFusionError::Configuration(format!(
                    "user '{}' has an empty name or password; users are given as NAME:PASSWORD",
                    user.trim()
                )));
            }
            users.push((user.to_string(), password.as_bytes().to_vec()));
        }
        Ok(Self {
            tokens,
            users,
            issued: Mutex::new(HashMap::new()),
        })
    }

    /// Whether any credentials are configured (else everyone may connect).
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty() || !self.users.is_empty()
    }

    /// The tonic interceptor: finds the caller from the `authorization`
    /// header and records it, or refuses the call.
    #[allow(clippy::result_large_err)]
    pub fn intercept(&self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let user = self.authenticate(req.metadata())?;
        req.extensions_mut().insert(User(user));
        Ok(req)
    }

    #[allow(clippy::result_large_err)]
    fn authenticate(&self, metadata: &MetadataMap) -> Result<String, Status> {
        if !self.enabled() {
            return Ok("anonymous".to_string());
        }
        let Some(header) = metadata.get("authorization") else {
            return Err(Status::unauthenticated(
                "this server requires authentication: send a bearer token or sign in with a username and password",
            ));
        };
        let header = header
            .to_str()
            .map_err(|_| Status::unauthenticated("the authorization header is not text"))?;
        if let Some(token) = strip_scheme(header, "bearer") {
            return self
                .check_token(token.trim())
                .ok_or_else(|| Status::unauthenticated("invalid or expired token"));
        }
        if let Some(basic) = strip_scheme(header, "basic") {
            return self.check_basic(basic.trim());
        }
        Err(Status::unauthenticated(
            "unsupported authorization scheme (use Bearer or Basic)",
        ))
    }

    fn check_token(&self, token: &str) -> Option<String> {
        // Every configured token is compared, whatever matched, so the time
        // taken says nothing about which one was close.
        let mut found = None;
        for (user, secret) in &self.tokens {
            if constant_time_eq(secret, token.as_bytes()) {
                found = Some(user.clone());
            }
        }
        if found.is_some() {
            return found;
        }
        let mut issued = self.issued.lock().ok()?;
        let now = Instant::now();
        issued.retain(|_, (_, expiry)| *expiry > now);
        issued.get(token).map(|(user, _)| user.clone())
    }

    #[allow(clippy::result_large_err)]
    fn check_basic(&self, encoded: &str) -> Result<String, Status> {
        let refused = || Status::unauthenticated("invalid username or password");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| refused())?;
        let text = String::from_utf8(decoded).map_err(|_| refused())?;
        let (user, password) = text.split_once(':').ok_or_else(refused)?;
        let mut ok = false;
        for (name, secret) in &self.users {
            let same_name = constant_time_eq(name.as_bytes(), user.as_bytes());
            let same_password = constant_time_eq(secret, password.as_bytes());
            ok |= same_name & same_password;
        }
        if ok {
            Ok(user.to_string())
        } else {
            Err(refused())
        }
    }

    /// A new random bearer token for `user`, valid for a day.
    pub fn issue(&self, user: &str) -> Result<String, Status> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| Status::internal(format!("no randomness for a token: {e}")))?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut issued = self
            .issued
            .lock()
            .map_err(|_| Status::internal("token table lock poisoned"))?;
        issued.insert(
            token.clone(),
            (user.to_string(), Instant::now() + SESSION_TOKEN_LIFE),
        );
        Ok(token)
    }
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (first, rest) = header.split_once(' ')?;
    first.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// Equality whose time depends on the lengths only, not on where the
/// inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DataFusionError::Configuration(format!("reading {}: {e}", path.display())))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `quiver serve`'s defaults with these tokens and users.
    fn serve_args(tokens: &[&str], users: &[&str]) -> ServeArgs {
        let mut args = <ServeArgs as clap::FromArgMatches>::from_arg_matches(
            &<ServeArgs as clap::Args>::augment_args(clap::Command::new("t"))
                .get_matches_from(["t"]),
        )
        .expect("default args");
        args.tokens = tokens.iter().map(|s| s.to_string()).collect();
        args.users = users.iter().map(|s| s.to_string()).collect();
        args
    }

    fn auth(tokens: &[&str], users: &[&str]) -> Auth {
        Auth::from_args(&serve_args(tokens, users)).expect("auth")
    }

    fn meta(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().expect("header"));
        m
    }

    #[test]
    fn tokens_and_passwords_are_checked() {
        let a = auth(&["alice:s3cret-token"], &["bob:hunter22"]);
        assert_eq!(
            a.authenticate(&meta("Bearer s3cret-token")).expect("ok"),
            "alice"
        );
        assert!(a.authenticate(&meta("Bearer s3cret-tokem")).is_err());
        assert!(a.authenticate(&MetadataMap::new()).is_err());
        let basic = base64::engine::general_purpose::STANDARD.encode("bob:hunter22");
        assert_eq!(
            a.authenticate(&meta(&format!("Basic {basic}")))
                .expect("ok"),
            "bob"
        );
        let wrong = base64::engine::general_purpose::STANDARD.encode("bob:hunter23");
        assert!(a.authenticate(&meta(&format!("Basic {wrong}"))).is_err());
        let issued = a.issue("bob").expect("token");
        assert_eq!(
            a.authenticate(&meta(&format!("Bearer {issued}")))
                .expect("ok"),
            "bob"
        );
    }

    #[test]
    fn no_credentials_means_anonymous_and_short_tokens_are_refused() {
        let a = auth(&[], &[]);
        assert!(!a.enabled());
        assert_eq!(
            a.authenticate(&MetadataMap::new()).expect("ok"),
            "anonymous"
        );
        assert!(Auth::from_args(&serve_args(&["short"], &[])).is_err());
    }

    /// Issue 23: an empty user name (or password) in the configuration
    /// would let a client in with `:` and the secret, or with nothing.
    #[test]
    fn empty_user_names_and_passwords_are_refused() {
        for (tokens, users) in [
            (&[":long-enough-secret"][..], &[][..]),
            (&[][..], &[":hunter22"][..]),
            (&[][..], &["  :hunter22"][..]),
            (&[][..], &["bob:"][..]),
        ] {
            let err = Auth::from_args(&serve_args(tokens, users))
                .err()
                .unwrap_or_else(|| panic!("accepted {tokens:?} {users:?}"));
            assert!(err.to_string().contains("empty"), "{err}");
        }
        let ok = auth(&["alice:long-enough-secret"], &["bob:hunter22"]);
        let empty = base64::engine::general_purpose::STANDARD.encode(":");
        assert!(ok.authenticate(&meta(&format!("Basic {empty}"))).is_err());
    }
}
