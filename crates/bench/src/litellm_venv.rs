//! The Python virtual environments the LiteLLM anchors run in, under `target/bench/venv-VERSION`.
//!
//! The reference is the LiteLLM that the project's LiteLLM behaviour follows, installed from
//! `tests/litellm/requirements.txt`: `litellm==X` plus the proxy's dependencies, pinned one by
//! one, because `litellm[proxy]` does not resolve on the package index here (its
//! `litellm-proxy` dependency is not served). Earlier anchors run only from a venv an earlier
//! run left behind.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A venv's interpreter, with the LiteLLM version installed in it.
#[derive(Debug, Clone)]
pub struct Venv {
    pub version: String,
    /// How it was installed, for the report: the pins, or the requirements file.
    pub installed_from: String,
    pub python: PathBuf,
}

impl Venv {
    /// `bin/NAME` of this venv (`litellm`, `pip`).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.python.with_file_name(name)
    }
}

/// The pinned requirements of the reference LiteLLM.
pub fn requirements_file() -> PathBuf {
    passthru_tests::repo_root().join("tests/litellm/requirements.txt")
}

/// The version pinned by `litellm==X` in a requirements text.
pub fn pinned_version(requirements: &str) -> Option<&str> {
    requirements
        .lines()
        .find_map(|l| l.trim().strip_prefix("litellm=="))
        .map(str::trim)
}

fn venv_dir(version: &str) -> PathBuf {
    passthru_tests::target_dir()
        .join("bench")
        .join(format!("venv-{version}"))
}

/// The reference LiteLLM's venv, created and installed from [`requirements_file`] when it is
/// missing or was installed from a different file (its `.installed` marker holds the file's
/// sha256).
pub fn reference() -> Result<Venv, String> {
    let file = requirements_file();
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "read {}: {e} (it pins the reference LiteLLM)",
            file.display()
        )
    })?;
    let version = pinned_version(&text)
        .ok_or_else(|| format!("{} pins no `litellm==VERSION`", file.display()))?
        .to_owned();
    let dir = venv_dir(&version);
    let marker = dir.join(".installed");
    let stamp = format!(
        "tests/litellm/requirements.txt sha256 {}",
        passthru_tests::sha256_hex(&text)
    );
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(stamp.as_str()) {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("remove the stale venv {}: {e}", dir.display()))?;
        }
        install(
            &dir,
            &["-r".as_ref(), file.as_os_str()],
            "tests/litellm/requirements.txt",
        )?;
        std::fs::write(&marker, stamp).map_err(|e| format!("{}: {e}", marker.display()))?;
    }
    Ok(Venv {
        version,
        installed_from: "`tests/litellm/requirements.txt`".into(),
        python: dir.join("bin/python"),
    })
}

/// The venv of an earlier anchor when an earlier run installed it (its `.installed` marker
/// lists the pins); None otherwise: those pins are not installed again.
pub fn cached(version: &str) -> Option<Venv> {
    let dir = venv_dir(version);
    let pins = std::fs::read_to_string(dir.join(".installed")).ok()?;
    Some(Venv {
        version: version.to_owned(),
        installed_from: format!("`{}`", pins.lines().collect::<Vec<_>>().join("`, `")),
        python: dir.join("bin/python"),
    })
}

/// `python3 -m venv DIR`, then `pip install ARGS`; the error names what failed and its last
/// lines of output.
fn install(dir: &Path, args: &[&std::ffi::OsStr], what: &str) -> Result<(), String> {
    eprintln!("litellm: installing {what} into {}", dir.display());
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .status()
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !status.success() {
        return Err("python3 -m venv failed (apt-get install python3-venv)".into());
    }
    let out = Command::new(dir.join("bin/pip"))
        .args(["install", "-q", "--disable-pip-version-check"])
        .args(args)
        .output()
        .map_err(|e| format!("pip: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "pip install {what} into {} failed: {}",
        dir.display(),
        last_lines(&String::from_utf8_lossy(&out.stderr), 3)
    ))
}

/// The last `n` lines of a Python program's output, on one line: where its traceback says what
/// went wrong.
pub fn last_lines(text: &str, n: usize) -> String {
    let last: Vec<&str> = text.lines().rev().take(n).collect();
    last.into_iter().rev().collect::<Vec<_>>().join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_version_is_read_from_the_requirements_file() {
        let text = std::fs::read_to_string(requirements_file()).unwrap();
        let version = pinned_version(&text).expect("the file pins litellm==X");
        assert!(version.split('.').count() == 3, "{version}");
        assert_eq!(
            pinned_version("# c\nlitellm-foo==1\nlitellm==1.2.3\n"),
            Some("1.2.3")
        );
        assert_eq!(pinned_version("fastapi==1\n"), None);
        assert_eq!(last_lines("a\nb\nc\n", 2), "b / c");
    }
}
