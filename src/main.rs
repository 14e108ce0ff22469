//! The `mameynode` binary: the node and its client commands. Errors are reported here, at the edge,
//! with `anyhow`; everything below returns typed errors.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
