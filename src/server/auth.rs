//! Who is calling: bearer tokens configured on the server, and users who
//! sign in with a password through the Flight handshake, which answers
//! with a bearer token for the session. With nothing configured every
//! caller is "anonymous".
//!
//! - Passwords are stored as argon2id hashes (`quiver hash-password`);
//!   plain entries still work, with a warning at start-up.
//! - Tokens, configured or issued, are compared in constant time; issued
//!   tokens expire after [`SESSION_TOKEN_LIFE`].
//! - A failed sign-in is logged (user, peer, reason; never the secret), and
//!   a peer that fails [`FREE_FAILURES`] times in a row waits before it may
//!   try again, twice as long after each further failure.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use datafusion::common::{DataFusionError, Result};
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use super::{ServeArgs, log};

/// How long a token issued by the handshake stays valid.
pub const SESSION_TOKEN_LIFE: Duration = Duration::from_secs(12 * 3600);

/// Failed sign-ins a peer may make in a row before it must wait.
pub const FREE_FAILURES: u32 = 5;

/// The first wait, doubled after each further failure up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(1);
const MAX_WAIT: Duration = Duration::from_secs(300);

/// Peers remembered at most; the oldest are forgotten beyond it.
const MAX_PEERS: usize = 10_000;

/// A user's password as configured.
enum Password {
    /// An argon2 hash in PHC form (`$argon2id$v=19$m=...`).
    Hash(String),
    /// The password itself (accepted, with a warning).
    Plain(Vec<u8>),
}

/// A peer's recent failed sign-ins.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// Until when the peer is refused without a check.
    wait_until: Option<Instant>,
    last: Instant,
}

/// An argon2id hash of `password`, in PHC form, with a random salt: what
/// `quiver hash-password` prints for a `--users-file` line.
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| DataFusionError::Execution(format!("no randomness for a salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| DataFusionError::Execution(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DataFusionError::Execution(format!("hashing the password: {e}")))
}

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
    users: Vec<(String, Password)>,
    /// Tokens the handshake issued: (token, user, expiry).
    issued: Mutex<Vec<(Vec<u8>, String, Instant)>>,
    /// Failed sign-ins by peer address.
    failures: Mutex<HashMap<Option<IpAddr>, Failures>>,
    /// What start-up should warn about (plain-text passwords).
    warnings: Vec<String>,
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
        let mut warnings = Vec::new();
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
            let password = if password.starts_with("$argon2") {
                let unreadable = |why: String| {
                    DataFusionError::Configuration(format!(
                        "the password hash of user '{user}' cannot be read: {why}"
                    ))
                };
                let parsed = PasswordHash::new(password).map_err(|e| unreadable(e.to_string()))?;
                if parsed.hash.is_none() {
                    return Err(unreadable("it holds no hash".to_string()));
                }
                argon2::Params::try_from(&parsed).map_err(|e| unreadable(e.to_string()))?;
                Password::Hash(password.to_string())
            } else {
                warnings.push(format!(
                    "user '{user}' has a plain-text password; store an argon2id hash instead \
                     (quiver hash-password)"
                ));
                Password::Plain(password.as_bytes().to_vec())
            };
            users.push((user.to_string(), password));
        }
        Ok(Self {
            tokens,
            users,
            issued: Mutex::new(Vec::new()),
            failures: Mutex::new(HashMap::new()),
            warnings,
        })
    }

    /// What the configuration should be warned about, a line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether any credentials are configured (else everyone may connect).
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty() || !self.users.is_empty()
    }

    /// The tonic interceptor: finds the caller from the `authorization`
    /// header and records it, or refuses the call.
    #[allow(clippy::result_large_err)]
    pub fn intercept(&self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let peer = req.remote_addr().map(|a| a.ip());
        let user = self.authenticate_from(peer, req.metadata())?;
        req.extensions_mut().insert(User(user));
        Ok(req)
    }

    /// [`Self::authenticate`] for a caller at `peer`, under its limit of
    /// failed sign-ins; failures are logged.
    #[allow(clippy::result_large_err)]
    fn authenticate_from(
        &self,
        peer: Option<IpAddr>,
        metadata: &MetadataMap,
    ) -> Result<String, Status> {
        if !self.enabled() {
            return Ok("anonymous".to_string());
        }
        let now = Instant::now();
        let shown = peer.map_or("unknown".to_string(), |p| p.to_string());
        if let Some(wait) = self.waiting(peer, now) {
            log::line(
                "-",
                "auth",
                format_args!("peer={shown} status=refused reason=too-many-failures"),
            );
            return Err(Status::resource_exhausted(format!(
                "too many failed sign-ins from {shown}: try again in {} s",
                wait.as_secs().max(1)
            )));
        }
        match self.authenticate(metadata) {
            Ok(user) => {
                if let Ok(mut f) = self.failures.lock() {
                    f.remove(&peer);
                }
                Ok(user)
            }
            Err(status) => {
                let user = claimed_user(metadata).unwrap_or_else(|| "-".to_string());
                log::line(
                    &user,
                    "auth",
                    format_args!("peer={shown} status=refused reason={:?}", status.message()),
                );
                self.failed(peer, now);
                Err(status)
            }
        }
    }

    /// How long `peer` must still wait before it may try again, if at all.
    fn waiting(&self, peer: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().ok()?;
        let until = failures.get(&peer)?.wait_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failed sign-in of `peer`.
    fn failed(&self, peer: Option<IpAddr>, now: Instant) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_PEERS && !failures.contains_key(&peer) {
            // Forget the peer whose last failure is oldest.
            if let Some(oldest) = failures.iter().min_by_key(|(_, f)| f.last).map(|(p, _)| *p) {
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(peer).or_insert(Failures {
            count: 0,
            wait_until: None,
            last: now,
        });
        entry.count += 1;
        entry.last = now;
        if entry.count >= FREE_FAILURES {
            let doublings = (entry.count - FREE_FAILURES).min(16);
            let wait = FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT);
            entry.wait_until = Some(now + wait);
        }
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
        issued.retain(|(_, _, expiry)| *expiry > now);
        for (secret, user, _) in issued.iter() {
            if constant_time_eq(secret, token.as_bytes()) {
                found = Some(user.clone());
            }
        }
        found
    }

    #[allow(clippy::result_large_err)]
    fn check_basic(&self, encoded: &str) -> Result<String, Status> {
        let refused = || Status::unauthenticated("invalid username or password");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| refused())?;
        let text = String::from_utf8(decoded).map_err(|_| refused())?;
        let (user, password) = text.split_once(':').ok_or_else(refused)?;
        let found = self
            .users
            .iter()
            .find(|(name, _)| constant_time_eq(name.as_bytes(), user.as_bytes()));
        let ok = match found {
            Some((_, Password::Hash(hash))) => verify(password, hash),
            Some((_, Password::Plain(secret))) => constant_time_eq(secret, password.as_bytes()),
            None => {
                // As long as a check of a user who exists takes, so the time
                // does not say which names are users.
                if self
                    .users
                    .iter()
                    .any(|(_, p)| matches!(p, Password::Hash(_)))
                {
                    verify(password, &DUMMY_HASH);
                }
                false
            }
        };
        if ok && !user.is_empty() {
            Ok(user.to_string())
        } else {
            Err(refused())
        }
    }

    /// A new random bearer token for `user`, valid for
    /// [`SESSION_TOKEN_LIFE`].
    pub fn issue(&self, user: &str) -> Result<String, Status> {
        self.issue_for(user, SESSION_TOKEN_LIFE)
    }

    #[allow(clippy::result_large_err)]
    fn issue_for(&self, user: &str, life: Duration) -> Result<String, Status> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| Status::internal(format!("no randomness for a token: {e}")))?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut issued = self
            .issued
            .lock()
            .map_err(|_| Status::internal("token table lock poisoned"))?;
        issued.push((
            token.as_bytes().to_vec(),
            user.to_string(),
            Instant::now() + life,
        ));
        Ok(token)
    }
}

/// A hash of no one's password, checked when the user does not exist.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("no one's password").unwrap_or_default());

fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The user name a Basic header claims, for the log of a failed sign-in
/// (never the password).
fn claimed_user(metadata: &MetadataMap) -> Option<String> {
    let header = metadata.get("authorization")?.to_str().ok()?;
    let basic = strip_scheme(header, "basic")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, _) = text.split_once(':')?;
    // Printable and short, so a log line stays one line.
    Some(
        user.chars()
            .take(64)
            .map(|c| {
                if c.is_alphanumeric() || "._-@".contains(c) {
                    c
                } else {
                    '?'
                }
            })
            .collect(),
    )
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

    fn basic(user_password: &str) -> MetadataMap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_password);
        meta(&format!("Basic {encoded}"))
    }

    #[test]
    fn hashed_passwords_are_verified_and_plain_ones_warned_about() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let a = auth(&[], &[&format!("carol:{hash}"), "dave:plain-pass"]);
        assert_eq!(
            a.authenticate(&basic("carol:correct horse")).expect("ok"),
            "carol"
        );
        assert!(a.authenticate(&basic("carol:correct horsf")).is_err());
        assert!(a.authenticate(&basic("nobody:correct horse")).is_err());
        assert_eq!(
            a.authenticate(&basic("dave:plain-pass")).expect("ok"),
            "dave"
        );
        assert_eq!(a.warnings().len(), 1);
        assert!(a.warnings()[0].contains("'dave'"), "{:?}", a.warnings());
        let broken = Auth::from_args(&serve_args(&[], &["erin:$argon2id$v=19$garbage"]));
        assert!(broken.is_err());
    }

    /// Issue 23: a peer that keeps failing waits, even with the right
    /// password at last; another peer does not; a success clears the count.
    #[test]
    fn failed_sign_ins_are_limited_per_peer() {
        let a = auth(&["alice:s3cret-token"], &[]);
        let (bad, other) = (Some([10, 0, 0, 1].into()), Some([10, 0, 0, 2].into()));
        for _ in 0..FREE_FAILURES {
            let err = a
                .authenticate_from(bad, &meta("Bearer guess-guess"))
                .expect_err("bad");
            assert_eq!(err.code(), tonic::Code::Unauthenticated);
        }
        let err = a
            .authenticate_from(bad, &meta("Bearer s3cret-token"))
            .expect_err("waits");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
        assert!(err.message().contains("10.0.0.1"), "{err}");
        assert_eq!(
            a.authenticate_from(other, &meta("Bearer s3cret-token"))
                .expect("other peer"),
            "alice"
        );
        for _ in 0..FREE_FAILURES - 1 {
            let _ = a.authenticate_from(other, &meta("Bearer guess-guess"));
        }
        a.authenticate_from(other, &meta("Bearer s3cret-token"))
            .expect("still free");
        for _ in 0..FREE_FAILURES - 1 {
            let _ = a.authenticate_from(other, &meta("Bearer guess-guess"));
        }
        a.authenticate_from(other, &meta("Bearer s3cret-token"))
            .expect("the success before cleared the count");
    }

    #[test]
    fn issued_tokens_expire() {
        let a = auth(&[], &["bob:hunter22"]);
        let gone = a.issue_for("bob", Duration::ZERO).expect("token");
        assert!(a.authenticate(&meta(&format!("Bearer {gone}"))).is_err());
        let live = a.issue("bob").expect("token");
        assert_eq!(
            a.authenticate(&meta(&format!("Bearer {live}")))
                .expect("ok"),
            "bob"
        );
    }
}
