//! Tests that need multicast (mDNS) run in a network namespace of their own.
//!
//! mDNS sends to a multicast group on every interface it finds; on a developer's machine
//! or a CI runner that would reach the real network. So a test that publishes or browses
//! runs, whole, in a fresh network namespace whose only interface is its own loopback
//! (with multicast on): hubs bind `127.0.0.x` there, announce and are found, and nothing
//! leaves the namespace.
//!
//! The test re-runs itself: in the test process, [`inside!`](crate::inside) creates the
//! namespace (`ip netns add`, iproute2), runs the same test binary in it with `--exact`
//! and the test's name, checks that exactly that one test ran and passed, deletes the
//! namespace and returns `false`; in the re-run it returns `true` and the test goes on.
//! This needs root (CI and the development machines run as root); where a namespace
//! cannot be created the test fails and says why, it is never skipped.
//!
//! ```no_run
//! #[test]
//! fn hubs_are_found() {
//!     if !gambi_test_support::inside!(hubs_are_found) {
//!         return;
//!     }
//!     // ... runs in its own network namespace
//! }
//! ```

use std::io::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Set, to the namespace's name, in the re-run inside the namespace.
const INSIDE: &str = "GAMBI_TEST_NETNS";

/// Runs the test named by the path to its function inside a network namespace; see the
/// module documentation. True in the re-run (go on with the test), false once the re-run
/// passed (return).
#[macro_export]
macro_rules! inside {
    ($test:ident) => {
        $crate::netns::inside(&$crate::netns::test_name(module_path!(), stringify!($test)))
    };
}

/// The name libtest gives the test function `function` of module `module_path` (the
/// crate's name left out): `discovery::hubs_are_found`.
pub fn test_name(module_path: &str, function: &str) -> String {
    match module_path.split_once("::") {
        Some((_, module)) => format!("{module}::{function}"),
        None => function.to_owned(),
    }
}

/// See [`inside!`](crate::inside).
pub fn inside(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let namespace = Namespace::create();
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new("ip")
        .args(["netns", "exec", &namespace.name])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, &namespace.name)
        .output()
        .expect("ip netns exec runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown when the outer test fails, as libtest shows captured output.
    let _ = writeln!(
        std::io::stderr(),
        "--- {test} in network namespace {} ---\n{stdout}{stderr}",
        namespace.name
    );
    assert!(
        output.status.success(),
        "{test} failed in its network namespace ({})",
        output.status
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test} did not run in its network namespace: is the name right?\n{stdout}"
    );
    false
}

/// A network namespace, deleted on drop.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "gambi-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let created = Command::new("ip").args(["netns", "add", &name]).output();
        match created {
            Err(error) => panic!(
                "cannot run `ip` ({error}): tests of mDNS discovery run in a network \
                 namespace and need iproute2 (`apt-get install iproute2`; scripts/test \
                 installs it)"
            ),
            Ok(output) if !output.status.success() => panic!(
                "cannot create network namespace {name}: {}tests of mDNS discovery run in \
                 a network namespace of their own and need root (CAP_SYS_ADMIN)",
                String::from_utf8_lossy(&output.stderr)
            ),
            Ok(_) => {}
        }
        let namespace = Self { name };
        namespace.run(&["ip", "link", "set", "lo", "up", "multicast", "on"]);
        namespace
    }

    /// Runs `command` in the namespace; panics if it fails.
    fn run(&self, command: &[&str]) {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(command)
            .output()
            .expect("ip netns exec runs");
        assert!(
            output.status.success(),
            "`{}` failed in network namespace {}: {}",
            command.join(" "),
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .output();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_leave_the_crate_out() {
        assert_eq!(test_name("cli::discovery", "found"), "discovery::found");
        assert_eq!(test_name("discovery", "found"), "found");
        assert_eq!(test_name("cli::a::b", "found"), "a::b::found");
    }
}
