//! Upstream secrets, read once at start from the environment or a file named in the policy.
//! A missing secret stops the start with the tenant and variable named; values never print.
//! With `--secrets-dir`, secret files must lie inside it ([`confine`], checked at compile).

use super::diagnostics::Diagnostic;
use super::model::{Secret, SecretSource, Tenant};
use std::path::{Component, Path, PathBuf};

/// Check the `--secrets-dir` itself: it must exist and be a directory.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "--secrets-dir {} is not a directory",
            dir.display()
        )),
        Err(e) => Err(format!(
            "--secrets-dir {} cannot be used: {e}",
            dir.display()
        )),
    }
}

/// Does the secret file `file` lie inside `dir`, once every symlink of both is resolved? A
/// symlink or `..` leading out is refused; symlinks that stay inside (a Kubernetes Secret
/// volume's `..data/`) are fine. A file that does not exist yet is judged by its deepest
/// existing directory (reading it fails later, at `serve`). `Err` says why, for a diagnostic.
pub fn confine(file: &Path, dir: &Path) -> Result<(), String> {
    let root = std::fs::canonicalize(dir)
        .map_err(|e| format!("cannot be checked: --secrets-dir {}: {e}", dir.display()))?;
    let resolved = resolve_existing(file)?;
    match resolved.strip_prefix(&root) {
        Ok(rest) if !rest.as_os_str().is_empty() => Ok(()),
        _ => Err(format!(
            "resolves to {}, outside --secrets-dir {}",
            resolved.display(),
            root.display()
        )),
    }
}

/// `file` with every symlink resolved; for a missing file, its deepest existing ancestor
/// resolved and the rest appended (no `..` allowed in that rest).
fn resolve_existing(file: &Path) -> Result<PathBuf, String> {
    let parts: Vec<Component> = file.components().collect();
    for n in (0..=parts.len()).rev() {
        let prefix: PathBuf = parts.iter().take(n).collect();
        let prefix = if n == 0 { PathBuf::from(".") } else { prefix };
        match std::fs::canonicalize(&prefix) {
            Ok(mut out) => {
                for c in parts.iter().skip(n) {
                    match c {
                        Component::Normal(s) => out.push(s),
                        Component::CurDir => {}
                        _ => {
                            return Err(format!(
                                "cannot be resolved: {} does not exist, and '..' after it cannot be checked",
                                out.display()
                            ))
                        }
                    }
                }
                return Ok(out);
            }
            // A dangling symlink: where it leads cannot be judged, so it is refused.
            Err(_) if std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.is_symlink()) => {
                return Err(format!(
                    "cannot be resolved: {} is a symlink to nothing",
                    prefix.display()
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot be resolved: {}: {e}", prefix.display())),
        }
    }
    Err("cannot be resolved".into())
}

/// Fill `upstream.authorization` of every tenant; every missing secret is reported.
pub fn resolve(
    tenants: &mut [Tenant],
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    for t in tenants.iter_mut() {
        // With `[upstream.oauth]` the upstream secret is its client secret.
        let (env_key, file_key) = match t.upstream.oauth {
            Some(_) => (
                "upstream.oauth.client_secret_env",
                "upstream.oauth.client_secret_file",
            ),
            None => ("upstream.bearer_env", "upstream.bearer_file"),
        };
        let value = match &t.upstream.secret {
            SecretSource::None => continue,
            SecretSource::Env(var) => env(var).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                format!(
                    "tenant {:?}: environment variable {var} ({env_key}) is not set or empty",
                    t.name
                )
            }),
            SecretSource::File(path) => read_secret_file(path)
                .map_err(|e| {
                    format!(
                        "tenant {:?}: cannot read {file_key} {}: {e}",
                        t.name,
                        path.display()
                    )
                })
                .and_then(|s| {
                    let s = s.trim().to_string();
                    if s.is_empty() {
                        Err(format!(
                            "tenant {:?}: {file_key} {} is empty",
                            t.name,
                            path.display()
                        ))
                    } else {
                        Ok(s)
                    }
                }),
        };
        match value {
            Ok(v) if v.bytes().all(|b| (0x21..0x7f).contains(&b)) => match &mut t.upstream.oauth {
                Some(oauth) => oauth.client_secret = Some(Secret::new(v)),
                None => t.upstream.authorization = Some(Secret::new(format!("Bearer {v}"))),
            },
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

/// The most a secret file may hold.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// A secret file's text: a regular file (a FIFO or a device would block or never end the
/// read, at start-up or in the reload thread) of at most [`MAX_SECRET_FILE_BYTES`].
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".to_string());
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!("it is larger than {MAX_SECRET_FILE_BYTES} bytes"));
    }
    Ok(text)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_secret_file_must_be_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // A FIFO with no writer would block the open forever.
        let e = read_secret_file(&fifo).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        assert!(read_secret_file(Path::new("/dev/zero"))
            .unwrap_err()
            .contains("not a regular file"));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 70 * 1024]).unwrap();
        assert!(read_secret_file(&big).unwrap_err().contains("larger than"));
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "token\n").unwrap();
        assert_eq!(read_secret_file(&ok).unwrap(), "token\n");
    }

    #[test]
    fn confine_resolves_symlinks_and_dot_dots() {
        let root = tempfile::tempdir().unwrap();
        let (dir, out) = (root.path().join("secrets"), root.path().join("elsewhere"));
        std::fs::create_dir_all(dir.join("..2026_01_01")).unwrap();
        std::fs::create_dir(&out).unwrap();
        std::fs::write(dir.join("..2026_01_01/token"), "t").unwrap();
        std::fs::write(out.join("token"), "t").unwrap();
        symlink("..2026_01_01", dir.join("..data")).unwrap();
        symlink("..data/token", dir.join("token")).unwrap();
        symlink(out.join("token"), dir.join("escape")).unwrap();
        assert_eq!(confine(&dir.join("token"), &dir), Ok(()));
        assert_eq!(confine(&dir.join("not-yet"), &dir), Ok(()));
        for bad in [
            out.join("token"),
            dir.join("escape"),
            dir.join("../elsewhere/token"),
            dir.join("nodir/../../elsewhere/token"),
            dir.clone(),
        ] {
            assert!(confine(&bad, &dir).is_err(), "{}", bad.display());
        }
        assert!(check_dir(&dir).is_ok());
        assert!(check_dir(&dir.join("token")).is_err());
        assert!(check_dir(&root.path().join("none")).is_err());
    }
}
