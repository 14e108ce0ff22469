//! Encrypted key files end to end: `keys new --encrypt`, `keys encrypt|decrypt|change-passphrase`,
//! clear errors for a missing or wrong passphrase, and a node whose validator key is encrypted,
//! started with its passphrase in the environment.

mod common;

use std::process::{Command, Output, Stdio};

use common::{Node, BIN};

/// `mameynode ARGS` with `env` set and the passphrase variables otherwise cleared.
fn cli_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .stdin(Stdio::null())
        .env_remove("MAMEY_KEY_PASSPHRASE")
        .env_remove("MAMEY_KEY_PASSPHRASE_FILE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run mameynode")
}

fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = cli_env(args, env);
    assert!(
        out.status.success(),
        "`{}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = cli_env(args, env);
    assert!(!out.status.success(), "`{}` succeeded", args.join(" "));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn encrypted_keys_end_to_end() {
    let root = tempfile::tempdir().expect("temporary directory");
    let path = |name: &str| root.path().join(name).to_str().expect("utf-8").to_string();
    let pass = [("MAMEY_KEY_PASSPHRASE", "correct horse battery")];
    let wrong = [("MAMEY_KEY_PASSPHRASE", "wrong")];

    // A new encrypted key: its address needs the passphrase.
    let k = path("a.key");
    let e = fails(&["keys", "new", "--encrypt", "--out", &k], &[]);
    assert!(e.contains("MAMEY_KEY_PASSPHRASE"), "{e}");
    let address = ok(&["keys", "new", "--encrypt", "--out", &k], &pass);
    let text = std::fs::read_to_string(&k).expect("key file");
    assert!(
        text.contains("\"version\": 2") && !text.contains("secret_key"),
        "{text}"
    );
    assert_eq!(ok(&["keys", "address", &k], &pass), address);
    let e = fails(&["keys", "address", &k], &[]);
    assert!(e.contains("is encrypted"), "{e}");
    let e = fails(&["keys", "address", &k], &wrong);
    assert!(e.contains("wrong passphrase"), "{e}");

    // The passphrase from a file; a new passphrase; back to plaintext and encrypted again.
    let pass_file = path("pass.txt");
    std::fs::write(&pass_file, "correct horse battery\n").expect("write");
    let from_file = [("MAMEY_KEY_PASSPHRASE_FILE", pass_file.as_str())];
    assert_eq!(ok(&["keys", "address", &k], &from_file), address);
    let new_file = path("new.txt");
    std::fs::write(&new_file, "another passphrase\n").expect("write");
    ok(
        &[
            "keys",
            "change-passphrase",
            &k,
            "--new-passphrase-file",
            &new_file,
        ],
        &pass,
    );
    let e = fails(&["keys", "address", &k], &pass);
    assert!(e.contains("wrong passphrase"), "{e}");
    let new_pass = [("MAMEY_KEY_PASSPHRASE", "another passphrase")];
    assert_eq!(ok(&["keys", "decrypt", &k], &new_pass), address);
    assert!(std::fs::read_to_string(&k)
        .expect("key")
        .contains("secret_key"));
    assert_eq!(ok(&["keys", "address", &k], &[]), address);
    assert_eq!(ok(&["keys", "encrypt", &k], &pass), address);
    let e = fails(&["keys", "encrypt", &k], &pass);
    assert!(e.contains("already encrypted"), "{e}");

    // A node whose validator key is encrypted: it starts with the passphrase and produces blocks.
    let data = root.path().join("data");
    let validator = data.join("dev/validator.key");
    ok(
        &[
            "keys",
            "new",
            "--encrypt",
            "--out",
            validator.to_str().expect("utf-8"),
        ],
        &pass,
    );
    let node = Node::options()
        .block_interval_ms(50)
        .env("MAMEY_KEY_PASSPHRASE", "correct horse battery")
        .start(&data);
    node.wait_height(3);
}
