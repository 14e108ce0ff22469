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

/// `mameynode tls self-signed --out DIR` (INTERFACES §13): a certificate for 127.0.0.1 and
/// localhost and its key (owner-only), both paths printed; a second run refuses to overwrite.
#[test]
fn tls_self_signed_writes_a_dev_certificate_once() {
    let root = tempfile::tempdir().expect("temporary directory");
    let dir = root.path().join("tls");
    let dir_s = dir.to_str().expect("utf-8");
    let out = common::cli_ok(&["tls", "self-signed", "--out", dir_s]);
    let printed: Vec<&str> = out.lines().collect();
    assert_eq!(
        printed,
        vec![
            dir.join("cert.pem").to_str().expect("utf-8"),
            dir.join("key.pem").to_str().expect("utf-8")
        ]
    );
    let cert = std::fs::read_to_string(dir.join("cert.pem")).expect("cert.pem");
    let key = std::fs::read_to_string(dir.join("key.pem")).expect("key.pem");
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\n"), "{cert}");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("key.pem"))
            .expect("key.pem")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let e = common::cli_fails(&["tls", "self-signed", "--out", dir_s]);
    assert!(e.contains("exists already"), "{e}");
    assert_eq!(
        std::fs::read_to_string(dir.join("cert.pem")).expect("cert.pem"),
        cert,
        "not overwritten"
    );
}
