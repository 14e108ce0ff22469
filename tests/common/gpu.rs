//! Opening a GPU adapter in tests. CI has no GPU but runs every GPU test on Mesa's lavapipe, which
//! `scripts/test.sh` installs; so in CI (`CI` set) a missing adapter fails the test. On a developer
//! machine without Vulkan the GPU tests skip, saying so loudly.

use mameynode::sigverify::gpu::{AdapterPolicy, GpuConfig, GpuContext, GpuVerifier};
use mameynode::sigverify::CpuVerifier;

fn no_adapter(test: &str, e: &dyn std::fmt::Display) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: CI must run the GPU tests (scripts/test.sh installs lavapipe): {e}");
    }
    eprintln!(
        "\n==========\nSKIPPED {test}: no GPU adapter ({e}).\n\
         Install Mesa's lavapipe, Mesa 25 or newer (apt-get install mesa-vulkan-drivers libvulkan1;\n\
         on Debian 12 from bookworm-backports), or run scripts/test.sh, to run it.\n==========\n"
    );
}

/// Any adapter (software included), or `None` after a loud skip message outside CI.
pub fn context(test: &str) -> Option<GpuContext> {
    match GpuContext::open(AdapterPolicy::AnyIncludingSoftware) {
        Ok(c) => {
            eprintln!("{test}: GPU adapter {}", c.adapter());
            Some(c)
        }
        Err(e) => {
            no_adapter(test, &e);
            None
        }
    }
}

/// A GPU verifier on any adapter, or `None` after a loud skip message outside CI.
pub fn verifier(test: &str, config: &GpuConfig) -> Option<GpuVerifier> {
    let ctx = context(test)?;
    match GpuVerifier::new(ctx, config, CpuVerifier::default()) {
        Ok(v) => Some(v),
        Err(e) => panic!("{test}: the GPU verifier failed to build: {e}"),
    }
}
