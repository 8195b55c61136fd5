//! LiteLLM's real proxy server as a pass-through, the anchor of the request-path and streaming
//! rows: the reference version from its venv (`litellm_venv`), started as its users start it
//! (`litellm --config FILE`, one uvicorn worker), its pass-through endpoints in the config's
//! `general_settings.pass_through_endpoints`, each `auth: false` like the passthru routes they
//! stand beside. No database, and the model cost map shipped in the package, so start-up never
//! reaches for the network. A random master key, because 1.110.2 refuses to start without one.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use passthru_tests::process::{try_signal, Daemon};
use passthru_tests::wait::{patient, poll};

use crate::client::Client;
use crate::litellm_venv;

/// One pass-through endpoint, open to every caller (`auth: false`). LiteLLM serves such an
/// endpoint without a key at its exact path only: below it (`include_subpath`) a request needs a
/// key with a grant. So a like-for-like open route is an exact one.
pub struct PassThrough {
    pub path: String,
    pub target: String,
    pub include_subpath: bool,
}

/// A running LiteLLM proxy, killed (with any worker it started) when dropped.
pub struct LitellmProxy {
    process: Daemon,
    pub addr: SocketAddr,
    /// The LiteLLM version it runs.
    pub version: String,
    _config_dir: tempfile::TempDir,
}

/// Python imports LiteLLM's proxy in several seconds on a quiet machine; far longer on a
/// loaded one, or with a thousand endpoints to register.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The config: `general_settings` with `master_key` and `pass_through_endpoints`, in the shape
/// LiteLLM's config loader reads.
pub fn config_yaml(endpoints: &[PassThrough], master_key: &str) -> String {
    let endpoints: Vec<serde_json::Value> = endpoints
        .iter()
        .map(|e| {
            serde_json::json!({
                "path": e.path,
                "target": e.target,
                "include_subpath": e.include_subpath,
                "auth": false,
            })
        })
        .collect();
    let config = serde_json::json!({
        "general_settings": { "master_key": master_key, "pass_through_endpoints": endpoints }
    });
    serde_yaml::to_string(&config).expect("a JSON value is valid YAML")
}

/// A master key nobody can guess (LiteLLM's boot check refuses short or well-known ones).
fn random_master_key() -> String {
    let mut rng = fastrand::Rng::new();
    format!(
        "sk-{:016x}{:016x}{:016x}{:016x}",
        rng.u64(..),
        rng.u64(..),
        rng.u64(..),
        rng.u64(..)
    )
}

impl LitellmProxy {
    /// Installs the reference LiteLLM when its venv is missing, starts its proxy on a free
    /// loopback port with `endpoints`, and returns once `ready_path` answers 200 through it
    /// (so its upstream is reached too). Err says what failed, with the end of its log.
    pub fn start(endpoints: &[PassThrough], ready_path: &str) -> Result<LitellmProxy, String> {
        let venv = litellm_venv::reference()?;
        let dir = tempfile::tempdir().map_err(|e| format!("a temp dir for the config: {e}"))?;
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, config_yaml(endpoints, &random_master_key()))
            .map_err(|e| format!("{}: {e}", config.display()))?;
        let addr = passthru_tests::free_port();
        let mut command = Command::new(venv.bin("litellm"));
        command
            .arg("--config")
            .arg(&config)
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .env_remove("DATABASE_URL");
        passthru_tests::dies_with_its_test(&mut command);
        let mut process = Daemon::spawn("litellm", &mut command);
        eprintln!(
            "litellm {}: starting its proxy on {addr} with {} pass-through endpoints",
            venv.version,
            endpoints.len()
        );
        let mut client = Client::new(addr);
        // Some(false): it exited; None: it never answered.
        let answered = poll(START_TIMEOUT, Duration::from_millis(100), || {
            if !process.is_running() {
                return Some(false);
            }
            matches!(client.get(ready_path), Ok(200)).then_some(true)
        });
        let failure = match answered {
            Some(true) => None,
            Some(false) => Some("exited at start".to_owned()),
            None => Some(format!(
                "did not answer 200 on {ready_path} within {:?}",
                patient(START_TIMEOUT)
            )),
        };
        if let Some(failure) = failure {
            return Err(format!(
                "LiteLLM {}'s proxy (`{} --config {}`) {failure}: {}",
                venv.version,
                venv.bin("litellm").display(),
                config.display(),
                litellm_venv::last_lines(&process.log(), 5)
            ));
        }
        Ok(LitellmProxy {
            process,
            addr,
            version: venv.version,
            _config_dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Its process and the processes it started (uvicorn workers when there are several),
    /// whose CPU time all counts against it.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = crate::procfs::children(self.pid());
        pids.insert(0, self.pid());
        pids
    }
}

impl Drop for LitellmProxy {
    fn drop(&mut self) {
        // Workers first: the process wrapper kills only its own child.
        for pid in crate::procfs::children(self.pid()) {
            let _ = try_signal(pid, "KILL");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_lists_every_endpoint_open_with_a_master_key() {
        let yaml = config_yaml(
            &[PassThrough {
                path: "/svc-0".into(),
                target: "http://127.0.0.1:9".into(),
                include_subpath: false,
            }],
            "sk-1",
        );
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(v["general_settings"]["master_key"].as_str(), Some("sk-1"));
        let e = &v["general_settings"]["pass_through_endpoints"][0];
        assert_eq!(e["path"].as_str(), Some("/svc-0"));
        assert_eq!(e["target"].as_str(), Some("http://127.0.0.1:9"));
        assert_eq!(e["include_subpath"].as_bool(), Some(false));
        assert_eq!(e["auth"].as_bool(), Some(false));
        assert_ne!(random_master_key(), random_master_key());
        assert_eq!(random_master_key().len(), 3 + 64);
    }
}
