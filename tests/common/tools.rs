//! Running tools nobody on this project wrote (Python clients, curl, promtool) from tests: a
//! missing tool fails the test under CI and skips it loudly elsewhere.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Returns whether the tool is there. When it is not: under CI (the `CI` environment variable is
/// set) the test fails; otherwise it says loudly that it skips, and the caller returns.
#[must_use]
pub fn require(tool: &str, available: bool, install: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{tool} is not installed, and CI is set so this test may not skip; install it: {install}");
    }
    loud(&format!(
        "SKIPPED: {tool} not installed ({install}); set CI=1 to make this a failure"
    ));
    false
}

/// Writes straight to the process's stderr, past the test harness's output capture, so that a
/// skip is seen even when the test passes.
pub fn loud(message: &str) {
    let bar = "=".repeat(70);
    let _ = writeln!(std::io::stderr(), "\n{bar}\n{message}\n{bar}\n");
}

pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn python_has(modules: &str) -> bool {
    succeeds("python3", &["-c", &format!("import {modules}")])
}

/// Runs a command with a time limit; returns its output (whatever the exit status).
pub fn run_with_limit(cmd: &mut Command, limit: Duration, what: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "{what} did not finish within {limit:?}; stdout {:?}, stderr {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The JSON object a client script printed on stdout; panics with its output if it failed.
pub fn json_output(out: &Output, what: &str) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed with {}:\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("{what} printed no JSON:\nstdout: {stdout}\nstderr: {stderr}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{what} printed bad JSON ({e}): {line}"))
}
