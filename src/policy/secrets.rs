//! Upstream secrets, read once at start from the environment or a file named in the policy.
//! A missing secret stops the start with the tenant and variable named; values never print.

use super::diagnostics::Diagnostic;
use super::model::{Secret, SecretSource, Tenant};

/// Fill `upstream.authorization` of every tenant; every missing secret is reported.
pub fn resolve(
    tenants: &mut [Tenant],
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    for t in tenants.iter_mut() {
        let value = match &t.upstream.secret {
            SecretSource::None => continue,
            SecretSource::Env(var) => env(var).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                format!(
                    "tenant {:?}: environment variable {var} (upstream.bearer_env) is not set or empty",
                    t.name
                )
            }),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| {
                    format!(
                        "tenant {:?}: cannot read upstream.bearer_file {}: {e}",
                        t.name,
                        path.display()
                    )
                })
                .and_then(|s| {
                    let s = s.trim().to_string();
                    if s.is_empty() {
                        Err(format!("tenant {:?}: upstream.bearer_file {} is empty", t.name, path.display()))
                    } else {
                        Ok(s)
                    }
                }),
        };
        match value {
            Ok(v) if v.bytes().all(|b| (0x21..0x7f).contains(&b)) => {
                t.upstream.authorization = Some(Secret::new(format!("Bearer {v}")));
            }
            Ok(_) => errors.push(secret_error(t, format!(
                "tenant {:?}: the upstream secret has spaces or non-ASCII characters and cannot be sent as a bearer token",
                t.name
            ))),
            Err(msg) => errors.push(secret_error(t, msg)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn secret_error(t: &Tenant, msg: String) -> Diagnostic {
    let (line, col) = t.upstream.secret_pos;
    Diagnostic {
        file: t.source.clone(),
        line,
        col,
        code: "E060",
        message: msg,
        hint: Some("secrets live outside policies: export the variable or mount the file".into()),
    }
}
