//! One plain nginx reverse-proxy hop in front of the provider, started by the benchmark
//! when nginx is installed: what an ordinary proxy adds, measured in the same run as the
//! hub.
//!
//! The configuration is the least a proxy needs: one upstream with keep-alive connections
//! (HTTP/1.1), `proxy_buffering off` so that streamed answers pass as they come, no access
//! log. nginx runs in the foreground as one process (`daemon off`, `master_process off`),
//! a child of the benchmark, with its configuration, pid file, error log and temporary
//! directories in a temporary directory, listening on a free port of `127.0.0.1`.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

/// Where nginx is usually installed, besides `PATH` (`/usr/sbin` is often not on it).
const USUAL_PLACES: [&str; 4] = [
    "/usr/sbin/nginx",
    "/usr/local/sbin/nginx",
    "/usr/local/nginx/sbin/nginx",
    "/opt/homebrew/bin/nginx",
];

/// How long nginx may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// A running nginx; it stops when this is dropped.
#[derive(Debug)]
pub(crate) struct Nginx {
    child: Child,
    addr: SocketAddr,
    // Removed after the child is gone (fields drop after `Drop::drop` has run).
    _dir: TempDir,
}

impl Nginx {
    /// The nginx binary: `explicit` if given, else `nginx` on `path` (the value of the
    /// `PATH` variable), else the first of the usual places that exists.
    pub(crate) fn find(explicit: Option<&Path>, path: Option<&str>) -> Option<PathBuf> {
        if let Some(explicit) = explicit {
            return explicit.is_file().then(|| explicit.to_owned());
        }
        path.into_iter()
            .flat_map(|path| path.split(':'))
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new(dir).join("nginx"))
            .chain(USUAL_PLACES.iter().map(PathBuf::from))
            .find(|candidate| candidate.is_file())
    }

    /// Starts `binary` proxying to `upstream` and waits until it accepts connections.
    /// Tries three free ports, in case another process takes the one picked.
    pub(crate) async fn start(binary: &Path, upstream: SocketAddr) -> anyhow::Result<Self> {
        let mut last = None;
        for _ in 0..3 {
            match Self::start_once(binary, upstream).await {
                Ok(nginx) => return Ok(nginx),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("nginx did not start")))
    }

    async fn start_once(binary: &Path, upstream: SocketAddr) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("gambi-bench-nginx-")
            .tempdir()
            .context("creating a directory for nginx")?;
        let addr = free_port()?;
        let conf = dir.path().join("nginx.conf");
        let error_log = dir.path().join("error.log");
        std::fs::write(&conf, config(dir.path(), addr, upstream)).context("writing nginx.conf")?;
        let child = Command::new(binary)
            // The prefix, for any path left relative; the error log from the start, before
            // the configuration is read (the built-in one may not be writable).
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(&error_log)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut nginx = Self {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                bail!("nginx exited ({status}); {}", read_log(&error_log));
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(nginx);
            }
            if Instant::now() >= deadline {
                // Dropping `nginx` ends the process.
                drop(nginx);
                bail!(
                    "nginx did not accept on {addr} within {START_TIMEOUT:?}; {}",
                    read_log(&error_log)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The nginx process's id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // One process with nothing to save: ending it is stopping it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What nginx's error log says, for an error message.
fn read_log(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(log) if !log.trim().is_empty() => format!("its error log: {}", log.trim()),
        _ => "its error log is empty".to_owned(),
    }
}

/// A free port on `127.0.0.1`: bound, noted and released for nginx to bind.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    listener.local_addr().context("finding a free port")
}

/// The configuration: nginx listens on `listen` and passes everything to `upstream`.
fn config(dir: &Path, listen: SocketAddr, upstream: SocketAddr) -> String {
    let dir = dir.display();
    format!(
        "\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # The hub closes no connection after a number of requests; neither does this proxy.
    keepalive_requests 1000000;

    upstream provider {{
        server {upstream};
        keepalive 256;
        keepalive_requests 1000000;
    }}

    server {{
        listen {listen};
        location / {{
            proxy_pass http://provider;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_buffering off;
        }}
    }}
}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_proxies_unbuffered_over_keep_alive_and_keeps_files_in_its_directory() {
        let conf = config(
            Path::new("/tmp/n"),
            "127.0.0.1:4000".parse().expect("an address"),
            "127.0.0.1:5000".parse().expect("an address"),
        );
        for line in [
            "daemon off;",
            "master_process off;",
            "pid /tmp/n/nginx.pid;",
            "error_log /tmp/n/error.log warn;",
            "access_log off;",
            "proxy_temp_path /tmp/n/proxy;",
            "client_body_temp_path /tmp/n/client_body;",
            "server 127.0.0.1:5000;",
            "keepalive 256;",
            "listen 127.0.0.1:4000;",
            "proxy_pass http://provider;",
            "proxy_http_version 1.1;",
            "proxy_set_header Connection \"\";",
            "proxy_buffering off;",
        ] {
            assert!(
                conf.lines().any(|l| l.trim() == line),
                "{line:?} missing from\n{conf}"
            );
        }
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
    }

    #[test]
    fn an_explicit_binary_is_used_only_if_it_exists() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let nginx = dir.path().join("nginx");
        assert_eq!(Nginx::find(Some(&nginx), None), None);
        std::fs::write(&nginx, "").expect("writing a file");
        assert_eq!(Nginx::find(Some(&nginx), None), Some(nginx.clone()));
        let path = format!("/nonexistent:{}", dir.path().display());
        assert_eq!(Nginx::find(None, Some(&path)), Some(nginx));
    }
}
